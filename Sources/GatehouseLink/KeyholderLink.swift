import GatehouseCore
import GatehouseSecurity
import NIOCore
import NIOPosix
import Synchronization

/// The front's only road out: sends egress requests to the keyholder process over a
/// Unix socket, authenticated by a per-boot secret. It holds no provider key and
/// cannot name a host — only a configured provider and a path.
///
/// Connections are kept open and reused, one exchange at a time each (see
/// ``LinkConnection``): the hello and its secret check happen once per connection, not
/// once per request. A connection whose exchange was abandoned (the caller went away)
/// is closed rather than reused — closing is how the keyholder learns to cancel the
/// upstream request.
public final class KeyholderLink: EgressTransport, Sendable {
    let socketPath: String
    let secret: [UInt8]
    /// The most idle connections kept per event loop.
    let maxIdle: Int
    /// The most bytes of a non-streamed answer the front gathers.
    let maxAnswerBytes: Int

    /// Open connections waiting for an exchange, by event loop.
    private let idle = Mutex<[ObjectIdentifier: [LinkConnection]]>([:])

    public init(socketPath: String, secret: [UInt8], maxIdle: Int = 256, maxAnswerBytes: Int = 64 << 20) {
        self.maxAnswerBytes = maxAnswerBytes
        self.socketPath = socketPath
        self.secret = secret
        self.maxIdle = maxIdle
    }

    /// Largest request body sent in one frame.
    public static let chunkSize = 1 << 20

    static let unavailable = GatewayError(
        .upstreamUnavailable, "The gateway's egress is not available; try again shortly.", code: "keyholder_unavailable")

    /// A connected channel with its link handler, or a refusal as ``unavailable``.
    func connect() async throws -> (any Channel, NIOLoopBound<LinkClientHandler>) {
        do {
            let address = try SocketAddress(unixDomainSocketPath: socketPath)
            // On the caller's event loop when it runs on one (a request's task does): its
            // exchanges then never change thread.
            let group: any EventLoopGroup = MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton
            return try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .connect(to: address) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = LinkClientHandler()
                        try channel.pipeline.syncOperations.addHandler(handler)
                        return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                    }
                }
        } catch {
            throw Self.unavailable
        }
    }

    /// An idle open connection, or a new one (connected and past the hello). A caller on an
    /// event loop gets a connection on that loop, or a new one there.
    func acquire() async throws -> LinkConnection {
        let loop = MultiThreadedEventLoopGroup.currentEventLoop.map { ObjectIdentifier($0) }
        while let connection = idle.withLock({ idle -> LinkConnection? in
            if let loop { return idle[loop]?.popLast() }
            guard let key = idle.first(where: { !$0.value.isEmpty })?.key else { return nil }
            return idle[key]?.popLast()
        }) {
            if connection.isUsable { return connection }
        }
        let (channel, handler) = try await connect()
        return try await LinkConnection.open(channel: channel, handler: handler, secret: secret) { [weak self] connection in
            self?.release(connection)
        }
    }

    /// Takes a connection back after a clean exchange; closes it if enough are idle on its loop.
    func release(_ connection: LinkConnection) {
        let loop = ObjectIdentifier(connection.channel.eventLoop)
        let kept = idle.withLock { idle in
            var waiting = idle.removeValue(forKey: loop) ?? []
            defer { idle[loop] = waiting }
            if waiting.count >= maxIdle { waiting.removeAll { !$0.isUsable } }
            guard waiting.count < maxIdle else { return false }
            waiting.append(connection)
            return true
        }
        if !kept { connection.close() }
    }

    /// Connections waiting for an exchange (for tests).
    public var idleConnections: Int { idle.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Checks that the keyholder answers and accepts this link's secret (on a connection of its own).
    public func probe() async -> Bool {
        guard let (channel, handler) = try? await connect(),
            let connection = try? await LinkConnection.open(channel: channel, handler: handler, secret: secret, release: { _ in })
        else { return false }
        connection.close()
        return true
    }

    /// Sends one frame and returns the keyholder's single answer frame.
    func ask(_ frame: LinkFrame) async throws -> LinkFrame {
        try await acquire().ask(frame)
    }

    /// Hands audit records the front witnessed to the keyholder, which appends them to the
    /// log. Returns how many it accepted (it refuses kinds a front may not write).
    public func sendRecords(_ records: [(kind: AuditKind, fields: AuditFields)]) async throws -> Int {
        guard case .recordsAccepted(let payload) = try await ask(.records(LinkMessages.encodeRecords(records))) else {
            throw Self.unavailable
        }
        return (try? JSONValue.decode(payload))?["accepted"]?.intValue ?? 0
    }

    /// The keyholder's counters, in the Prometheus text format.
    public func fetchMetrics() async throws -> String {
        guard case .metricsReport(let payload) = try await ask(.metricsRequest) else { throw Self.unavailable }
        return String(buffer: payload)
    }

    public func send(_ request: EgressRequest) async throws -> EgressResponse {
        try await acquire().send(request, maxBufferedBytes: maxAnswerBytes)
    }
}
