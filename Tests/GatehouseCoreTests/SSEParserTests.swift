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

    /// Found by the fuzz target Fuzz/sse against the WHATWG algorithm.
    @Test("an empty event type is the default type, and a byte-order mark before the first line is dropped")
    func whatwgDefaults() throws {
        let events = try parse(["event: \ndata: a\n\nevent:\ndata: b\n\n"])
        #expect(events.map(\.event) == [SSEEvent(data: "a"), SSEEvent(data: "b")])
        let stream = "\u{FEFF}data: first\n\n"
        for cut in 1..<stream.utf8.count {
            let bytes = Array(stream.utf8)
            var parser = SSEParser()
            var parsed = try parser.feed(ByteBuffer(bytes: bytes[..<cut]))
            parsed += try parser.feed(ByteBuffer(bytes: bytes[cut...]))
            #expect((parsed + parser.finish()).map(\.event) == [SSEEvent(data: "first")])
        }
    }

    @Test("keeps the raw bytes of each event for pass-through")
    func rawBytes() throws {
        let text = "event: ping\ndata: {}\n\n"
        let events = try parse([text])
        #expect(events.first.map { String(decoding: $0.raw, as: UTF8.self) } == text)
    }

    /// Raw bytes too for LF line ends. (A CR that ends a chunk ends its line at once, so an event's raw bytes
    /// may then lack the LF of its CRLF, which opens the next event's instead: nothing is held back.)
    @Test("any chunking gives the same events and, with LF line ends, the same raw bytes")
    func chunkingInvariance() throws {
        let streams = [
            "event: a\ndata: {\"x\":\"é ✓\"}\n\n: comment\ndata:nospace\ndata:  two spaces\n\nid: 7\nretry: 5\ndata: z\n\n",
            "event: a\r\ndata: 1\r\n\r\ndata: 2\r\ndata: 3\r\n\r\n",
            "data: cr only\rdata: more\r\rdata\n\n",
        ]
        for stream in streams {
            let bytes = Array(stream.utf8)
            let whole = try parse([stream])
            var generator = SystemRandomNumberGenerator()
            for round in 0..<200 {
                var chunks: [[UInt8]] = []
                var index = 0
                while index < bytes.count {
                    let size = round == 0 ? 1 : Int.random(in: 1...max(1, bytes.count / 3), using: &generator)
                    chunks.append(Array(bytes[index..<min(bytes.count, index + size)]))
                    index += size
                }
                var parser = SSEParser()
                var events: [SSEParser.Parsed] = []
                for chunk in chunks { events += try parser.feed(ByteBuffer(bytes: chunk)) }
                events += parser.finish()
                #expect(events.map(\.event) == whole.map(\.event))
                if !stream.contains("\r") {
                    #expect(events.flatMap(\.raw) == whole.flatMap(\.raw))
                }
            }
            #expect(!whole.isEmpty)
        }
        #expect(try parse([streams[0]]).map(\.event) == [
            SSEEvent(event: "a", data: "{\"x\":\"é ✓\"}"), SSEEvent(data: "nospace\n two spaces"), SSEEvent(data: "z"),
        ])
        #expect(try parse([streams[2]]).map(\.event.data) == ["cr only\nmore", ""])
        #expect(try parse([streams[1]]).flatMap(\.raw) == Array(streams[1].utf8))
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
