import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The front's HTTP/1.1 listener: SwiftNIO's HTTP codec and a ``FrontConnectionHandler``
/// per connection, on the shared event loops (the link to the keyholder uses the same
/// loops, so a request never changes thread).
///
/// On graceful shutdown it stops accepting, lets every request in flight finish (idle
/// connections close at once, busy ones after their answer), and after
/// ``drainTimeout`` closes what is left.
public struct FrontServer: Service {
    public enum Address: Sendable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    let address: Address
    let maxBodyBytes: Int
    let respond: @Sendable (FrontRequest) async -> FrontResponse
    let onListening: @Sendable (Int) async -> Void
    let logger: Logger
    let drainTimeout: TimeAmount

    public init(
        address: Address, maxBodyBytes: Int, logger: Logger, drainTimeout: TimeAmount = .seconds(30),
        onListening: @escaping @Sendable (Int) async -> Void = { _ in },
        respond: @escaping @Sendable (FrontRequest) async -> FrontResponse
    ) {
        self.address = address
        self.maxBodyBytes = maxBodyBytes
        self.respond = respond
        self.onListening = onListening
        self.logger = logger
        self.drainTimeout = drainTimeout
    }

    public func run() async throws {
        let connections = OpenConnections()
        let maxBodyBytes = self.maxBodyBytes
        let respond = self.respond
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Pipelining is handled by the connection handler, without pausing reads per request.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withPipeliningAssistance: false, withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        FrontConnectionHandler(
                            loop: channel.eventLoop, maxBodyBytes: maxBodyBytes, connections: connections, respond: respond))
                    connections.add(channel)
                }
            }
        let listener: any Channel
        switch address {
        case .tcp(let host, let port): listener = try await bootstrap.bind(host: host, port: port).get()
        case .unix(let path): listener = try await bootstrap.bind(unixDomainSocketPath: path).get()
        }
        await onListening(listener.localAddress?.port ?? 0)
        try? await gracefulShutdown()
        try? await listener.close()
        // Cancelled rather than asked to stop: nothing is waited for.
        await connections.drain(timeout: Task.isCancelled ? .zero : drainTimeout)
    }
}

/// The connections a server has accepted and not yet closed, and the requests still running.
final class OpenConnections: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var draining = false
        var drained: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())
    /// Request tasks that have not finished (a closed connection's task may still be recording).
    private let tasks = Atomic<Int>(0)

    func taskStarted() { tasks.add(1, ordering: .relaxed) }
    func taskEnded() { tasks.subtract(1, ordering: .relaxed) }

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let draining = state.withLock { state in
            state.channels[id] = channel
            return state.draining
        }
        if draining { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        channel.closeFuture.whenComplete { [self] _ in
            let done = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.channels[id] = nil
                guard state.channels.isEmpty, let drained = state.drained else { return nil }
                state.drained = nil
                return drained
            }
            done?.resume()
        }
    }

    /// Asks every connection to close after its current answer; waits for all to close and
    /// every request task to finish, closing whatever is left after `timeout`.
    func drain(timeout: TimeAmount) async {
        let started = NIODeadline.now()
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let deadline = loop.scheduleTask(in: timeout) { [self] in
            for channel in state.withLock({ Array($0.channels.values) }) { channel.close(promise: nil) }
        }
        await withCheckedContinuation { (drained: CheckedContinuation<Void, Never>) in
            let channels = state.withLock { state -> [any Channel]? in
                state.draining = true
                guard !state.channels.isEmpty else { return nil }
                state.drained = drained
                return Array(state.channels.values)
            }
            guard let channels else { return drained.resume() }
            for channel in channels { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        }
        deadline.cancel()
        // The tasks of closed connections were cancelled; they finish within moments.
        while tasks.load(ordering: .relaxed) > 0, !Task.isCancelled, NIODeadline.now() - started < timeout + .seconds(2) {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
