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
/// upstream request. A connection left idle for ``idleTimeout`` is closed, so that the
/// connections a burst opened (on both sides of the link) do not outlive it.
public final class KeyholderLink: EgressTransport, Sendable {
    let socketPath: String
    let secret: [UInt8]
    /// The most idle connections kept per event loop.
    let maxIdle: Int
    /// How long a connection may wait for an exchange before it is closed.
    let idleTimeout: TimeAmount
    /// The most bytes of a non-streamed answer the front gathers.
    let maxAnswerBytes: Int

    /// Open connections waiting for an exchange, on one event loop: the most recently used
    /// last (it is taken first), so the oldest wait at the front and expire first.
    private struct Waiting {
        var connections: [(connection: LinkConnection, since: NIODeadline)] = []
        /// An expiry check is scheduled on the loop.
        var checking = false
    }

    /// Idle connections, by event loop.
    private let idle = Mutex<[ObjectIdentifier: Waiting]>([:])

    public init(
        socketPath: String, secret: [UInt8], maxIdle: Int = 256, idleTimeout: TimeAmount = .seconds(60),
        maxAnswerBytes: Int = 64 << 20
    ) {
        self.maxAnswerBytes = maxAnswerBytes
        self.socketPath = socketPath
        self.secret = secret
        self.maxIdle = maxIdle
        self.idleTimeout = idleTimeout
    }

    /// Largest request body sent in one frame.
    public static let chunkSize = 1 << 20

    static let unavailable = GatewayError(
        .upstreamUnavailable, "The gateway's egress is not available; try again shortly.", code: .keyholderUnavailable)

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
            if let loop { return idle[loop]?.connections.popLast()?.connection }
            guard let key = idle.first(where: { !$0.value.connections.isEmpty })?.key else { return nil }
            return idle[key]?.connections.popLast()?.connection
        }) {
            if connection.isUsable { return connection }
        }
        let (channel, handler) = try await connect()
        return try await LinkConnection.open(channel: channel, handler: handler, secret: secret) { [weak self] connection in
            self?.release(connection)
        }
    }

    /// Takes a connection back after a clean exchange (on its event loop); closes it if
    /// enough are idle on its loop.
    func release(_ connection: LinkConnection) {
        let loop = connection.channel.eventLoop
        let now = NIODeadline.now()
        let (kept, check) = idle.withLock { idle in
            var waiting = idle.removeValue(forKey: ObjectIdentifier(loop)) ?? Waiting()
            defer { idle[ObjectIdentifier(loop)] = waiting }
            if waiting.connections.count >= maxIdle { waiting.connections.removeAll { !$0.connection.isUsable } }
            guard waiting.connections.count < maxIdle else { return (false, false) }
            waiting.connections.append((connection, now))
            let check = !waiting.checking
            waiting.checking = true
            return (true, check)
        }
        if !kept { connection.close() }
        if check { scheduleExpiry(on: loop, at: now + idleTimeout) }
    }

    /// Closes the loop's connections idle since `idleTimeout` or longer at `deadline`, and
    /// checks again when the oldest of the others will be. One check per loop is pending
    /// at a time, and none once no connection waits there.
    private func scheduleExpiry(on loop: any EventLoop, at deadline: NIODeadline) {
        loop.scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            let key = ObjectIdentifier(loop)
            let limit = NIODeadline.now() - idleTimeout
            let (expired, next) = idle.withLock { idle -> ([LinkConnection], NIODeadline?) in
                // Taken out and put back, so that removing from its array does not copy it.
                guard var waiting = idle.removeValue(forKey: key) else { return ([], nil) }
                defer { idle[key] = waiting }
                let count = waiting.connections.prefix { $0.since <= limit }.count
                let expired = waiting.connections.prefix(count).map(\.connection)
                waiting.connections.removeFirst(count)
                guard let oldest = waiting.connections.first else {
                    waiting.checking = false
                    return (expired, nil)
                }
                return (expired, oldest.since + idleTimeout)
            }
            for connection in expired { connection.close() }
            if let next { scheduleExpiry(on: loop, at: next) }
        }
    }

    /// Connections waiting for an exchange (for tests).
    public var idleConnections: Int { idle.withLock { $0.values.reduce(0) { $0 + $1.connections.count } } }

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

    /// Asks the ledger (in the keyholder) one question: leases, returns, usage reports.
    public func askLedger(_ question: JSONValue) async throws -> JSONValue {
        guard case .ledgerReply(let payload) = try await ask(.ledgerRequest(ByteBuffer(string: question.compactText())))
        else { throw Self.unavailable }
        return try JSONValue.decode(payload)
    }

    public func send(_ request: EgressRequest) async throws -> EgressResponse {
        try await acquire().send(request, maxBufferedBytes: maxAnswerBytes)
    }
}
