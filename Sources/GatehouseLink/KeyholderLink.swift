import GatehouseCore
import GatehouseSecurity
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The front's only road out: sends egress requests to the keyholder process over a
/// Unix socket, authenticated by a per-boot secret. It holds no provider key and
/// cannot name a host — only a configured provider and a path.
public final class KeyholderLink: EgressTransport, Sendable {
    let socketPath: String
    let secret: [UInt8]

    public init(socketPath: String, secret: [UInt8]) {
        self.socketPath = socketPath
        self.secret = secret
    }

    /// Largest request body sent in one frame.
    static let chunkSize = 1 << 20

    static let unavailable = GatewayError(
        .upstreamUnavailable, "The gateway's egress is not available; try again shortly.", code: "keyholder_unavailable")

    func connect() async throws -> NIOAsyncChannel<LinkFrame, LinkFrame> {
        do {
            let address = try SocketAddress(unixDomainSocketPath: socketPath)
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .connect(to: address) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LinkFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(LinkFrameEncoder()))
                        return try NIOAsyncChannel<LinkFrame, LinkFrame>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw Self.unavailable
        }
    }

    /// Checks that the keyholder answers and accepts this link's secret.
    public func probe() async -> Bool {
        guard let channel = try? await connect() else { return false }
        let secret = self.secret
        return (try? await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.hello(secret: secret))
            var iterator = inbound.makeAsyncIterator()
            return try await iterator.next() == .helloAccepted
        }) ?? false
    }

    /// Sends one frame after the hello and returns the keyholder's single answer frame.
    func ask(_ frame: LinkFrame) async throws -> LinkFrame {
        let channel = try await connect()
        let secret = self.secret
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.hello(secret: secret))
            try await outbound.write(frame)
            var iterator = inbound.makeAsyncIterator()
            guard try await iterator.next() == .helloAccepted, let answer = try await iterator.next() else {
                throw Self.unavailable
            }
            return answer
        }
    }

    /// Hands audit records the front witnessed to the keyholder, which appends them to the
    /// log. Returns how many it accepted (it refuses kinds a front may not write).
    public func sendRecords(_ records: [(kind: AuditKind, fields: [String: AuditValue])]) async throws -> Int {
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
        let channel = try await connect()
        let secret = self.secret
        let (body, bodyContinuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let exchange = Exchange()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (head: CheckedContinuation<EgressResponse, any Error>) in
                exchange.head = head
                // One task owns the connection for the whole exchange; the caller's body
                // iteration ends it early (cancellation closes the socket, and the keyholder
                // then cancels the upstream request).
                let task = Task {
                    do {
                        try await channel.executeThenClose { inbound, outbound in
                            try await outbound.write(.hello(secret: secret))
                            try await outbound.write(.requestHead(LinkMessages.encodeRequestHead(request)))
                            if var payload = request.body {
                                while payload.readableBytes > 0, let slice = payload.readSlice(length: min(Self.chunkSize, payload.readableBytes)) {
                                    try await outbound.write(.requestBody(slice))
                                }
                            }
                            try await outbound.write(.requestEnd)
                            var iterator = inbound.makeAsyncIterator()
                            guard try await iterator.next() == .helloAccepted else { throw Self.unavailable }
                            switch try await iterator.next() {
                            case .responseHead(let payload):
                                let (status, headers) = try LinkMessages.decodeResponseHead(payload)
                                exchange.deliver(.success(EgressResponse(status: status, headers: headers, body: ByteStream(LinkBody(stream: body, exchange: exchange)))))
                            case .failure(let payload):
                                throw LinkMessages.decodeFailure(payload)
                            default:
                                throw Self.unavailable
                            }
                            while let frame = try await iterator.next() {
                                switch frame {
                                case .responseBody(let chunk): bodyContinuation.yield(chunk)
                                case .responseEnd:
                                    bodyContinuation.finish()
                                    return
                                case .failure(let payload):
                                    bodyContinuation.finish(throwing: LinkMessages.decodeFailure(payload))
                                    return
                                default:
                                    throw Self.unavailable
                                }
                            }
                            throw GatewayError(
                                .upstreamFailure, "The connection to the provider was lost mid-stream.",
                                code: "upstream_stream_lost")
                        }
                    } catch {
                        let failure = (error as? GatewayError) ?? Self.unavailable
                        if !exchange.deliver(.failure(failure)) { bodyContinuation.finish(throwing: failure) }
                    }
                }
                exchange.task = task
                bodyContinuation.onTermination = { termination in
                    if case .cancelled = termination { task.cancel() }
                }
            }
        } onCancel: {
            exchange.cancel()
        }
    }
}

/// The response body as the gateway reads it. When the reader drops its iterator (the
/// caller went away, or the gateway stopped reading), the exchange is cancelled, which
/// closes the socket; the keyholder then cancels the upstream request.
private struct LinkBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let stream: AsyncThrowingStream<ByteBuffer, any Error>
    let exchange: Exchange

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator
        let guardian: CancelOnRelease

        mutating func next() async throws -> ByteBuffer? {
            let chunk = try await inner.next()
            if chunk == nil { guardian.disarm() }
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(inner: stream.makeAsyncIterator(), guardian: CancelOnRelease(exchange))
    }
}

/// Cancels an exchange when released before the body was read to its end.
private final class CancelOnRelease: @unchecked Sendable {
    let exchange: Exchange
    private var armed = true

    init(_ exchange: Exchange) { self.exchange = exchange }

    func disarm() { armed = false }

    deinit {
        if armed { exchange.cancel() }
    }
}

/// The state shared between `send` and the task that owns the connection.
private final class Exchange: @unchecked Sendable {
    private let lock = NIOLock()
    private var _head: CheckedContinuation<EgressResponse, any Error>?
    private var _task: Task<Void, Never>?
    private var cancelled = false

    var head: CheckedContinuation<EgressResponse, any Error>? {
        get { lock.withLock { _head } }
        set { lock.withLock { _head = newValue } }
    }

    var task: Task<Void, Never>? {
        get { lock.withLock { _task } }
        set {
            let cancelNow = lock.withLock {
                _task = newValue
                return cancelled
            }
            if cancelNow { newValue?.cancel() }
        }
    }

    /// Resumes the head continuation once; returns false if it was already resumed.
    @discardableResult
    func deliver(_ result: Result<EgressResponse, GatewayError>) -> Bool {
        let continuation = lock.withLock {
            defer { _head = nil }
            return _head
        }
        guard let continuation else { return false }
        continuation.resume(with: result.mapError { $0 as any Error })
        return true
    }

    func cancel() {
        let task = lock.withLock {
            cancelled = true
            return _task
        }
        task?.cancel()
    }
}
