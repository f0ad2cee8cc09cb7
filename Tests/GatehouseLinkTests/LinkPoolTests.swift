import Foundation
import GatehouseLink
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A stand-in keyholder on a Unix socket: accepts any hello, answers metrics requests,
/// and counts the connections it accepted and those still open.
final class FakeKeyholder: Sendable {
    final class Counters: Sendable {
        let accepted = Atomic<Int>(0)
        let open = Atomic<Int>(0)
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let counters: Counters
        var reader = LinkFrameReader()

        init(_ counters: Counters) { self.counters = counters }

        func channelActive(context: ChannelHandlerContext) {
            counters.accepted.add(1, ordering: .relaxed)
            counters.open.add(1, ordering: .relaxed)
        }

        func channelInactive(context: ChannelHandlerContext) {
            counters.open.subtract(1, ordering: .relaxed)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            reader.append(unwrapInboundIn(data))
            while let frame = try? reader.next() {
                switch frame {
                case .hello: context.writeAndFlush(wrapOutboundOut(LinkFrameWriter.encode([.helloAccepted])), promise: nil)
                case .metricsRequest:
                    context.writeAndFlush(wrapOutboundOut(LinkFrameWriter.encode([.metricsReport(ByteBuffer(string: "up 1\n"))])), promise: nil)
                default: context.close(promise: nil)
                }
            }
        }
    }

    let path: String
    let counters = Counters()
    private let channel: any Channel

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("gh-link-\(UUID().uuidString.prefix(8)).sock").path
        let counters = self.counters
        channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(counters)) }
            }
            .bind(unixDomainSocketPath: path).wait()
    }

    var accepted: Int { counters.accepted.load(ordering: .relaxed) }
    var open: Int { counters.open.load(ordering: .relaxed) }

    func close() {
        try? channel.close().wait()
        try? FileManager.default.removeItem(atPath: path)
    }
}

@Suite("The front's pool of link connections")
struct LinkPoolTests {
    /// Polls `condition` every 20 ms for up to `seconds`.
    func eventually(_ seconds: Double, _ condition: () -> Bool) async -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test("a connection in use stays open and is reused; one left idle past the timeout is closed")
    func idleExpiry() async throws {
        let keyholder = try FakeKeyholder()
        defer { keyholder.close() }
        let link = KeyholderLink(socketPath: keyholder.path, secret: Array(repeating: 7, count: 32), idleTimeout: .milliseconds(500))

        // Used every 20 ms for twice the timeout: one connection carries every exchange.
        let end = Date().addingTimeInterval(1.0)
        while Date() < end {
            #expect(try await link.fetchMetrics() == "up 1\n")
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(keyholder.accepted == 1)
        #expect(link.idleConnections == 1)

        // Then left alone: closed on both sides once the timeout has passed.
        #expect(await eventually(10) { link.idleConnections == 0 && keyholder.open == 0 })

        // And the link opens a new one for the next exchange.
        #expect(try await link.fetchMetrics() == "up 1\n")
        #expect(keyholder.accepted == 2)
        #expect(keyholder.open == 1)
    }
}
