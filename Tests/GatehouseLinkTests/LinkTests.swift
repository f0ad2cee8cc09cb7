import GatehouseCore
import GatehouseLink
import GatehouseSecurity
import NIOCore
import Testing

@Suite("Link frames and forwarded records")
struct LinkTests {
    /// Frames through a writer and back through a reader fed `step` bytes per read.
    func roundTrip(_ frames: [LinkFrame], step: Int = .max) throws -> [LinkFrame] {
        var writer = LinkFrameWriter()
        for frame in frames { writer.append(frame) }
        var wire = ByteBuffer()
        for var buffer in writer.take() { wire.writeBuffer(&buffer) }
        #expect(wire == LinkFrameWriter.encode(frames))
        var reader = LinkFrameReader()
        var decoded: [LinkFrame] = []
        while wire.readableBytes > 0 {
            reader.append(wire.readSlice(length: min(step, wire.readableBytes))!)
            while let frame = try reader.next() { decoded.append(frame) }
        }
        return decoded
    }

    @Test("records and metrics frames survive the codec")
    func frames() throws {
        let frames: [LinkFrame] = [
            .hello(secret: [1, 2, 3]), .records(ByteBuffer(string: "[]")), .recordsAccepted(ByteBuffer(string: "{}")),
            .metricsRequest, .metricsReport(ByteBuffer(string: "x 1\n")),
        ]
        #expect(try roundTrip(frames) == frames)
    }

    @Test("an exchange's frames survive any split into reads; a large payload is written as its own buffer")
    func splitReads() throws {
        let large = ByteBuffer(repeating: 0x61, count: LinkFrameWriter.copyLimit + 1)
        let frames: [LinkFrame] = [
            .requestHead(ByteBuffer(string: "head")), .requestBody(large), .requestBody(ByteBuffer(string: "{}")),
            .requestEnd, .responseHead(ByteBuffer(string: "h")), .responseBody(ByteBuffer()), .responseEnd,
            .failure(ByteBuffer(string: "{\"kind\":\"x\"}")),
        ]
        for step in [1, 2, 3, 5, 7, 4096, .max] { #expect(try roundTrip(frames, step: step) == frames) }
        var writer = LinkFrameWriter()
        for frame in frames { writer.append(frame) }
        let buffers = writer.take()
        #expect(buffers.count == 3)
        #expect(buffers[1] == large)
        #expect(writer.take().isEmpty)
    }

    @Test("unknown types, empty frames and oversized lengths are refused")
    func invalidFrames() throws {
        for bytes: [UInt8] in [[0, 0, 0, 1, 0x7F], [0, 0, 0, 0], [0xFF, 0, 0, 0, 0x10]] {
            var reader = LinkFrameReader()
            reader.append(ByteBuffer(bytes: bytes))
            #expect(throws: LinkFrameReader.InvalidFrame.self) { try reader.next() }
        }
        var partial = LinkFrameReader()
        partial.append(ByteBuffer(bytes: [0, 0, 0, 9, 0x11, 1, 2]))
        #expect(try partial.next() == nil)
    }

    @Test("records keep their kinds and typed fields; a malformed payload is refused whole")
    func records() throws {
        let encoded = LinkMessages.encodeRecords([
            (.request, ["status": .int(200), "model": .string("gpt")]), (.authRefused, ["reason": .string("revoked")]),
        ])
        let decoded = try LinkMessages.decodeRecords(encoded)
        #expect(decoded.map(\.kind) == ["request", "auth.refused"])
        #expect(decoded[0].fields == ["status": .int(200), "model": .string("gpt")])
        for cut in [1, 5, encoded.readableBytes - 1] {
            #expect(throws: GatewayError.self) { try LinkMessages.decodeRecords(encoded.getSlice(at: 0, length: cut)!) }
        }
        var trailing = encoded
        trailing.writeInteger(UInt8(0))
        #expect(throws: GatewayError.self) { try LinkMessages.decodeRecords(trailing) }
        #expect(throws: GatewayError.self) { try LinkMessages.decodeRecords(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])) }
    }

    @Test("a forwarded record with more names than a record may hold arrives with one too many, to be refused")
    func recordWithTooManyFields() throws {
        var fields = AuditFields()
        for index in 0..<5_000 { fields["f\(index)"] = .int(index) }
        let decoded = try LinkMessages.decodeRecords(LinkMessages.encodeRecords([(.request, fields)]))
        #expect(decoded.count == 1)
        #expect(decoded[0].fields.count == AuditRecord.maximumFieldCount + 1)
        #expect(throws: AuditError.self) { try AuditRecord.validate(actor: "front", fields: decoded[0].fields) }
    }

    @Test("request and response heads round-trip, and truncated heads are refused")
    func heads() throws {
        let request = EgressRequest(
            provider: "openai", method: "POST", pathSegments: ["chat", "completions"], query: [("alt", "sse")],
            headers: [("content-type", "application/json"), ("anthropic-version", "2023-06-01")], body: nil, isStreaming: true)
        let head = LinkMessages.encodeRequestHead(request)
        let decoded = try LinkMessages.decodeRequestHead(head)
        #expect(decoded.provider == "openai" && decoded.method == "POST" && decoded.isStreaming)
        #expect(decoded.pathSegments == ["chat", "completions"])
        #expect(decoded.query.map(\.name) == ["alt"] && decoded.headers.map(\.value) == ["application/json", "2023-06-01"])
        #expect(throws: GatewayError.self) { try LinkMessages.decodeRequestHead(head.getSlice(at: 0, length: head.readableBytes - 1)!) }
        let response = LinkMessages.encodeResponseHead(status: 429, headers: [("retry-after", "3")])
        let (status, headers) = try LinkMessages.decodeResponseHead(response)
        #expect(status == 429 && headers.map(\.name) == ["retry-after"] && headers.map(\.value) == ["3"])
    }

    @Test("a request's connect limit crosses the link; none stays none")
    func connectLimit() throws {
        var request = EgressRequest(provider: "p", pathSegments: ["x"])
        #expect(try LinkMessages.decodeRequestHead(LinkMessages.encodeRequestHead(request)).timeouts.connect == nil)
        request.timeouts = RouteTimeouts(connect: .milliseconds(2500), firstByte: .seconds(1))
        let decoded = try LinkMessages.decodeRequestHead(LinkMessages.encodeRequestHead(request))
        // Only the connect limit is the keyholder's; the others stay with the front.
        #expect(decoded.timeouts == RouteTimeouts(connect: .milliseconds(2500)))
    }

    @Test("a failure's code is taken from the link only if it is one of the closed set")
    func failureCodes() {
        let known = LinkMessages.decodeFailure(
            ByteBuffer(string: #"{"kind":"upstream_timeout","message":"slow","code":"upstream_timeout"}"#))
        #expect(known.errorCode == .upstreamTimeout && known.status == 504)
        let unknown = LinkMessages.decodeFailure(
            ByteBuffer(string: #"{"kind":"upstream_failure","message":"m","code":"drop table; --"}"#))
        #expect(unknown.code == "upstream_failure")
    }

    @Test("a forwarder without a keyholder keeps the newest records and counts what it dropped")
    func overflow() async {
        let link = KeyholderLink(socketPath: "/nonexistent/gatehouse-test.sock", secret: Array(repeating: 7, count: 32))
        let forwarder = LinkAuditForwarder(link: link, capacity: 3)
        for index in 0..<5 { forwarder.record(.request, fields: ["n": .int(index)]) }
        #expect(forwarder.pending == 3)
        #expect(forwarder.droppedUnreported == 2)
        await forwarder.flush()  // the keyholder is away: nothing is lost by trying
        #expect(forwarder.pending == 3)
        #expect(forwarder.droppedUnreported == 2)
    }
}
