import GatehouseCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

/// One open, authenticated connection to the keyholder, carrying one exchange at a time.
///
/// A worker task owns the channel for its whole life (hello first, then one job after
/// another). A job that ends cleanly — the keyholder's answer read to its last frame —
/// hands the connection back to the pool. A job that is abandoned (the caller cancelled
/// or dropped the answer's body) cancels the worker, which closes the connection: that
/// close is what tells the keyholder to cancel the upstream request, and a connection in
/// an unknown state is never reused.
final class LinkConnection: Sendable {
    enum Job: Sendable {
        case send(EgressRequest, Exchange)
        case ask(LinkFrame, CheckedContinuation<LinkFrame, any Error>)
    }

    struct State {
        var closed = false
        var worker: Task<Void, Never>?
        /// The exchange being served, so that only its own cancellation can close the connection.
        var current: ObjectIdentifier?
    }

    private let jobs: AsyncStream<Job>.Continuation
    private let state = Mutex(State())

    private init(jobs: AsyncStream<Job>.Continuation) {
        self.jobs = jobs
    }

    var isUsable: Bool { !state.withLock { $0.closed } }

    /// Starts the worker on `channel`, sends the hello, and returns once the keyholder accepted it.
    static func open(
        channel: NIOAsyncChannel<LinkFrame, LinkFrame>, secret: [UInt8],
        release: @escaping @Sendable (LinkConnection) -> Void
    ) async throws -> LinkConnection {
        let (stream, continuation) = AsyncStream<Job>.makeStream()
        let connection = LinkConnection(jobs: continuation)
        try await withCheckedThrowingContinuation { (ready: CheckedContinuation<Void, any Error>) in
            let worker = Task {
                await connection.work(channel: channel, secret: secret, jobs: stream, ready: ready, release: release)
            }
            connection.state.withLock { $0.worker = worker }
        }
        // A keyholder that goes away (restart, shutdown) closes the socket: stop offering it.
        channel.channel.closeFuture.whenComplete { _ in connection.close() }
        return connection
    }

    /// Closes the connection (idle, or abandoning its exchange).
    func close() {
        let worker = state.withLock { state in
            state.closed = true
            return state.worker
        }
        jobs.finish()
        worker?.cancel()
    }

    /// Closes the connection if `exchange` is still the one it serves.
    func abandon(_ exchange: Exchange) {
        let serving = state.withLock { $0.current == ObjectIdentifier(exchange) }
        if serving { close() }
    }

    func send(_ request: EgressRequest) async throws -> EgressResponse {
        let exchange = Exchange(connection: self)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (head: CheckedContinuation<EgressResponse, any Error>) in
                exchange.head = head
                state.withLock { $0.current = ObjectIdentifier(exchange) }
                if case .terminated = jobs.yield(.send(request, exchange)) {
                    exchange.fail(KeyholderLink.unavailable)
                }
            }
        } onCancel: {
            exchange.cancel()
        }
    }

    func ask(_ frame: LinkFrame) async throws -> LinkFrame {
        try await withCheckedThrowingContinuation { (answer: CheckedContinuation<LinkFrame, any Error>) in
            if case .terminated = jobs.yield(.ask(frame, answer)) {
                answer.resume(throwing: KeyholderLink.unavailable)
            }
        }
    }

    private func work(
        channel: NIOAsyncChannel<LinkFrame, LinkFrame>, secret: [UInt8], jobs: AsyncStream<Job>,
        ready: CheckedContinuation<Void, any Error>, release: @Sendable (LinkConnection) -> Void
    ) async {
        var greeted = false
        var pending: Job?
        do {
            try await channel.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                try await outbound.write(.hello(secret: secret))
                guard try await iterator.next() == .helloAccepted else { throw KeyholderLink.unavailable }
                greeted = true
                ready.resume()
                for await job in jobs {
                    pending = job
                    switch job {
                    case .ask(let frame, let answer):
                        try await outbound.write(frame)
                        guard let reply = try await iterator.next() else { throw KeyholderLink.unavailable }
                        pending = nil
                        answer.resume(returning: reply)
                    case .send(let request, let exchange):
                        try await Self.exchange(request, exchange, inbound: &iterator, outbound: outbound)
                        pending = nil
                        state.withLock { $0.current = nil }
                    }
                    release(self)
                }
            }
        } catch {
            if !greeted { ready.resume(throwing: KeyholderLink.unavailable) }
            let failure = (error as? GatewayError) ?? KeyholderLink.unavailable
            switch pending {
            case .ask(_, let answer): answer.resume(throwing: failure)
            case .send(_, let exchange): exchange.fail(failure)
            case nil: break
            }
        }
        state.withLock { $0.closed = true }
        self.jobs.finish()
        // A job queued after the worker stopped reading is failed by `yield` returning `.terminated`.
    }

    /// One request and its answer. Throws (closing the connection) on anything but a clean end.
    private static func exchange(
        _ request: EgressRequest, _ exchange: Exchange,
        inbound iterator: inout NIOAsyncChannelInboundStream<LinkFrame>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<LinkFrame>
    ) async throws {
        try await outbound.write(.requestHead(LinkMessages.encodeRequestHead(request)))
        if var payload = request.body {
            while payload.readableBytes > 0,
                let slice = payload.readSlice(length: min(KeyholderLink.chunkSize, payload.readableBytes))
            {
                try await outbound.write(.requestBody(slice))
            }
        }
        try await outbound.write(.requestEnd)
        switch try await iterator.next() {
        case .responseHead(let payload):
            let (status, headers) = try LinkMessages.decodeResponseHead(payload)
            exchange.deliverHead(status: status, headers: headers)
        case .failure(let payload):
            // A refusal or upstream failure before any answer: the exchange is complete.
            exchange.fail(LinkMessages.decodeFailure(payload))
            return
        default:
            throw KeyholderLink.unavailable
        }
        while let frame = try await iterator.next() {
            switch frame {
            case .responseBody(let chunk): exchange.body.yield(chunk)
            case .responseEnd:
                exchange.finishBody(throwing: nil)
                return
            case .failure(let payload):
                exchange.finishBody(throwing: LinkMessages.decodeFailure(payload))
                return
            default:
                throw KeyholderLink.unavailable
            }
        }
        throw GatewayError(.upstreamFailure, "The connection to the provider was lost mid-stream.", code: "upstream_stream_lost")
    }
}

/// One request's state, shared by the caller (`send`, the body it reads) and the worker.
final class Exchange: @unchecked Sendable {
    private let lock = NIOLock()
    private var _head: CheckedContinuation<EgressResponse, any Error>?
    private var finished = false
    let body: AsyncThrowingStream<ByteBuffer, any Error>.Continuation
    let stream: AsyncThrowingStream<ByteBuffer, any Error>
    weak var connection: LinkConnection?

    init(connection: LinkConnection) {
        self.connection = connection
        (stream, body) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
    }

    var head: CheckedContinuation<EgressResponse, any Error>? {
        get { lock.withLock { _head } }
        set { lock.withLock { _head = newValue } }
    }

    private func takeHead() -> CheckedContinuation<EgressResponse, any Error>? {
        lock.withLock {
            defer { _head = nil }
            return _head
        }
    }

    func deliverHead(status: Int, headers: [(name: String, value: String)]) {
        takeHead()?.resume(
            returning: EgressResponse(status: status, headers: headers, body: ByteStream(LinkBody(stream: stream, exchange: self))))
    }

    func finishBody(throwing error: (any Error)?) {
        lock.withLock { finished = true }
        body.finish(throwing: error)
    }

    /// Fails whichever part the caller is waiting for: the head, or else the body.
    func fail(_ error: GatewayError) {
        lock.withLock { finished = true }
        if let head = takeHead() {
            head.resume(throwing: error)
        } else {
            body.finish(throwing: error)
        }
    }

    /// The caller gave up: close the connection if the answer is still coming.
    func cancel() {
        let done = lock.withLock { finished }
        guard !done else { return }
        connection?.abandon(self)
    }
}

/// The response body as the gateway reads it. When the reader drops its iterator before
/// the end (the caller went away, or the gateway stopped reading), the exchange is
/// cancelled, which closes the connection; the keyholder then cancels the upstream request.
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
