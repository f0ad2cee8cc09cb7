import GatehouseCore
import GatehouseLink
import GatehouseSecurity
import NIOCore
import NIOEmbedded
import Testing

@Suite("Link frames and forwarded records")
struct LinkTests {
    func roundTrip(_ frames: [LinkFrame]) throws -> [LinkFrame] {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LinkFrameDecoder()))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(LinkFrameEncoder()))
        for frame in frames { try channel.writeOutbound(frame) }
        var decoded: [LinkFrame] = []
        while let bytes = try channel.readOutbound(as: ByteBuffer.self) {
            try channel.writeInbound(bytes)
            while let frame = try channel.readInbound(as: LinkFrame.self) { decoded.append(frame) }
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

    @Test("records keep their kinds and typed fields; malformed entries are counted, not guessed")
    func records() throws {
        let encoded = LinkMessages.encodeRecords([
            (.request, ["status": .int(200), "model": .string("gpt")]), (.authRefused, ["reason": .string("revoked")]),
        ])
        let decoded = try LinkMessages.decodeRecords(encoded)
        #expect(decoded.malformed == 0)
        #expect(decoded.records.map(\.kind) == ["request", "auth.refused"])
        #expect(decoded.records[0].fields == ["status": .int(200), "model": .string("gpt")])
        let mixed = try LinkMessages.decodeRecords(
            ByteBuffer(string: #"[{"kind":"request","fields":{"nested":{"a":1}}},{"fields":{}},{"kind":"x","fields":{"n":1}}]"#))
        #expect(mixed.malformed == 2)
        #expect(mixed.records.count == 1)
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
