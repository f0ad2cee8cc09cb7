import GatehouseCore
import NIOCore
import Testing

@Suite("SSE parser")
struct SSEParserTests {
    func parse(_ chunks: [String]) throws -> [SSEParser.Parsed] {
        var parser = SSEParser()
        var events: [SSEParser.Parsed] = []
        for chunk in chunks { events += try parser.feed(ByteBuffer(string: chunk)) }
        return events + parser.finish()
    }

    @Test("yields events split across arbitrary chunk boundaries")
    func splitChunks() throws {
        let stream = "event: message_start\ndata: {\"a\":1}\n\ndata: two\n\n"
        for cut in 1..<stream.count {
            let index = stream.index(stream.startIndex, offsetBy: cut)
            let events = try parse([String(stream[..<index]), String(stream[index...])])
            #expect(events.map(\.event) == [SSEEvent(event: "message_start", data: "{\"a\":1}"), SSEEvent(data: "two")])
        }
    }

    @Test("handles CRLF line ends, comments and multi-line data")
    func crlfAndComments() throws {
        let events = try parse([": keep-alive\r\n\r\ndata: a\r\ndata: b\r\n\r\n"])
        #expect(events.map(\.event) == [SSEEvent(data: "a\nb")])
    }

    @Test("keeps the raw bytes of each event for pass-through")
    func rawBytes() throws {
        let text = "event: ping\ndata: {}\n\n"
        let events = try parse([text])
        #expect(events.first.map { String(decoding: $0.raw, as: UTF8.self) } == text)
    }

    @Test("flushes a final event with no trailing blank line")
    func finalEvent() throws {
        #expect(try parse(["data: [DONE]"]).map(\.event.data) == ["[DONE]"])
    }

    @Test("refuses an oversized event")
    func oversized() {
        var parser = SSEParser(maxEventBytes: 16)
        #expect(throws: SSEParser.EventTooLarge.self) {
            _ = try parser.feed(ByteBuffer(string: "data: " + String(repeating: "x", count: 64)))
        }
    }
}
