import GatehouseCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

/// One open, authenticated connection to the keyholder, carrying one exchange at a time.
///
/// The connection's state lives in a channel handler on its event loop
/// (``LinkClientHandler``): a caller's request is written as all its frames with one
/// flush, and the answer's frames are handed to the caller from the event loop, with no
/// task in between. An exchange that ends cleanly — the answer read to its last frame —
/// hands the connection back to the pool. One that is abandoned (the caller was cancelled
/// or dropped the answer's body) closes the connection: that close is what tells the
/// keyholder to cancel the upstream request, and a connection in an unknown state is
/// never reused.
final class LinkConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<LinkClientHandler>

    private init(channel: any Channel, handler: NIOLoopBound<LinkClientHandler>) {
        self.channel = channel
        self.handler = handler
    }

    var isUsable: Bool { channel.isActive }

    /// Takes over a connected channel, sends the hello, and returns once the keyholder accepted it.
    /// `release` runs (on the event loop) after each clean exchange.
    static func open(
        channel: any Channel, handler: NIOLoopBound<LinkClientHandler>, secret: [UInt8],
        release: @escaping @Sendable (LinkConnection) -> Void
    ) async throws -> LinkConnection {
        let connection = LinkConnection(channel: channel, handler: handler)
        let reply = try? await withTaskCancellationHandler {
            try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<LinkFrame> in
                handler.value.adopt(connection, release: release)
                return handler.value.ask(.hello(secret: secret), releasing: false)
            }.get()
        } onCancel: {
            channel.close(promise: nil)
        }
        guard reply == .helloAccepted else {
            connection.close()
            throw KeyholderLink.unavailable
        }
        return connection
    }

    /// Resumes reading after the stream's reader caught up (see ``LinkClientHandler/read(context:)``).
    func resumeReading() {
        let handler = self.handler
        channel.eventLoop.run { handler.value.resumeReading() }
    }

    /// Closes the connection (idle, or abandoning its exchange).
    func close() {
        channel.close(promise: nil)
    }

    /// Closes the connection if it still serves `exchange` (decided on the loop: an exchange
    /// that just ended may have handed the connection to the next one, which is left alone).
    func abandon(_ exchange: Exchange) {
        let handler = self.handler
        let channel = self.channel
        channel.eventLoop.execute {
            if handler.value.serves(exchange) { channel.close(promise: nil) }
        }
    }

    /// Sends a request and returns its answer's head. A non-streamed answer arrives whole
    /// (its body read to the end before this returns); a stream's body follows chunk by chunk.
    func send(_ request: EgressRequest, maxBufferedBytes: Int) async throws -> EgressResponse {
        let exchange = Exchange(
            connection: self, buffered: !request.isStreaming, limit: maxBufferedBytes, timeouts: request.timeouts)
        // Head, body and end in one buffer (a large body follows its header as a buffer of its own).
        let head = LinkMessages.encodeRequestHead(request)
        var writer = LinkFrameWriter(capacity: LinkFrameWriter.capacity(head: head, bodySize: request.body?.readableBytes ?? 0))
        writer.append(.requestHead(head))
        if var payload = request.body {
            while payload.readableBytes > 0,
                let slice = payload.readSlice(length: min(KeyholderLink.chunkSize, payload.readableBytes))
            {
                writer.append(.requestBody(slice))
            }
        }
        writer.append(.requestEnd)
        let outbound = writer
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (head: CheckedContinuation<EgressResponse, any Error>) in
                exchange.head = head
                let handler = self.handler
                channel.eventLoop.run { handler.value.start(exchange, frames: outbound) }
            }
        } onCancel: {
            exchange.cancel()
        }
    }

    /// Sends one frame and returns the keyholder's single answer frame.
    func ask(_ frame: LinkFrame) async throws -> LinkFrame {
        let handler = self.handler
        do {
            return try await withTaskCancellationHandler {
                try await channel.eventLoop.flatSubmit { handler.value.ask(frame, releasing: true) }.get()
            } onCancel: {
                close()
            }
        } catch let error as GatewayError {
            throw error
        } catch {
            throw KeyholderLink.unavailable
        }
    }
}

/// The front's end of one link connection, on its event loop: writes requests, routes
/// the keyholder's frames to the exchange waiting for them.
final class LinkClientHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Waiting {
        case nothing
        /// The hello or a question (records, metrics): the next frame is the reply.
        case reply(EventLoopPromise<LinkFrame>, releasing: Bool)
        /// A request was sent: a response head or a failure comes next.
        case head(Exchange)
        /// A non-streamed answer, gathered until its end.
        case gathering(Exchange, status: Int, headers: [(name: String, value: String)])
        /// A stream: each chunk goes to the caller as it arrives.
        case streaming(Exchange)
    }

    private var waiting = Waiting.nothing
    private var reader = LinkFrameReader()
    /// A read was held back: the stream's reader has not taken enough of what arrived.
    private var readHeld = false
    /// Stream chunks of the current read, handed to the reader together when the read ends.
    private var streamed = ByteBuffer()
    /// The body of the answer being gathered (kept out of `waiting` so it grows in place).
    private var gathered = ByteBuffer()
    private var context: ChannelHandlerContext?
    /// The connection this handler serves; held while the channel is open, dropped when it closes.
    private var connection: LinkConnection?
    private var release: (@Sendable (LinkConnection) -> Void)?
    /// The current exchange's armed time limits.
    private var firstByteTimer: Scheduled<Void>?
    private var totalTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    /// When the current stream last delivered a chunk (for its idle limit).
    private var lastChunk: NIODeadline?

    init() {}

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func adopt(_ connection: LinkConnection, release: @escaping @Sendable (LinkConnection) -> Void) {
        // A channel already closed keeps no reference (nothing would break the cycle later).
        guard context?.channel.isActive == true else { return }
        self.connection = connection
        self.release = release
    }

    /// Whether `exchange` is the one this connection is serving.
    func serves(_ exchange: Exchange) -> Bool {
        switch waiting {
        case .head(let current), .gathering(let current, _, _), .streaming(let current): return current === exchange
        case .nothing, .reply: return false
        }
    }

    /// The longest the keyholder may take to answer the hello or a question (records, metrics).
    static let replyTimeout = TimeAmount.seconds(10)

    func ask(_ frame: LinkFrame, releasing: Bool) -> EventLoopFuture<LinkFrame> {
        guard let context, context.channel.isActive, case .nothing = waiting else {
            return (context?.eventLoop ?? MultiThreadedEventLoopGroup.singleton.any()).makeFailedFuture(KeyholderLink.unavailable)
        }
        let promise = context.eventLoop.makePromise(of: LinkFrame.self)
        waiting = .reply(promise, releasing: releasing)
        context.writeLinkFrame(frame, flush: true)
        // A keyholder that accepted the connection but does not answer (stopped, stuck) must not hold the caller.
        let timeout = context.eventLoop.scheduleTask(in: Self.replyTimeout) { [weak self] in
            guard let self, case .reply(let pending, _) = self.waiting, pending.futureResult === promise.futureResult else { return }
            self.failWaiting(KeyholderLink.unavailable)
            self.context?.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in timeout.cancel() }
        return promise.futureResult
    }

    func start(_ exchange: Exchange, frames: LinkFrameWriter) {
        guard let context, context.channel.isActive, case .nothing = waiting else {
            exchange.fail(KeyholderLink.unavailable)
            return
        }
        waiting = .head(exchange)
        arm(exchange, context: context)
        var frames = frames
        context.writeLinkFrames(&frames, flush: true)
    }

    // MARK: Time limits

    /// Arms the exchange's first-byte and total limits (its idle limit starts with the first chunk).
    private func arm(_ exchange: Exchange, context: ChannelHandlerContext) {
        lastChunk = nil
        let limits = exchange.timeouts
        guard limits.firstByte != nil || limits.total != nil || limits.idle != nil else { return }
        let loop = context.eventLoop
        if let total = limits.total {
            totalTimer = loop.scheduleTask(in: .nanoseconds(total.nanosecondsClamped)) { [weak self] in
                self?.expire(exchange, Self.timeout("answer in full", total))
            }
        }
        if let firstByte = limits.firstByte {
            firstByteTimer = loop.scheduleTask(in: .nanoseconds(firstByte.nanosecondsClamped)) { [weak self] in
                guard let self, self.lastChunk == nil, self.awaitsFirstByte(exchange) else { return }
                self.expire(exchange, Self.timeout("start answering", firstByte))
            }
        }
    }

    /// A stream chunk arrived: the first one ends the first-byte limit and starts the idle one.
    private func chunkArrived(_ exchange: Exchange) {
        let first = lastChunk == nil
        lastChunk = .now()
        guard first else { return }
        firstByteTimer?.cancel()
        firstByteTimer = nil
        if let idle = exchange.timeouts.idle, let context { scheduleIdleCheck(exchange, idle: idle, loop: context.eventLoop) }
    }

    /// Checks, one idle period after the last chunk, that another came; re-arms itself if so
    /// (one pending check per stream, not one per chunk).
    private func scheduleIdleCheck(_ exchange: Exchange, idle: Duration, loop: any EventLoop) {
        let period = TimeAmount.nanoseconds(idle.nanosecondsClamped)
        idleTimer = loop.scheduleTask(deadline: (lastChunk ?? .now()) + period) { [weak self] in
            guard let self, self.serves(exchange), let last = self.lastChunk else { return }
            if NIODeadline.now() >= last + period {
                self.expire(exchange, Self.timeout("send the next part of its stream", idle))
            } else {
                self.scheduleIdleCheck(exchange, idle: idle, loop: loop)
            }
        }
    }

    private func awaitsFirstByte(_ exchange: Exchange) -> Bool {
        switch waiting {
        case .head(let current), .streaming(let current): return current === exchange
        case .gathering, .nothing, .reply: return false
        }
    }

    static func timeout(_ what: String, _ limit: Duration) -> GatewayError {
        GatewayError(
            .upstreamTimeout, "The provider did not \(what) within \(limit.wholeMilliseconds) ms.", code: .upstreamTimeout)
    }

    /// A limit passed: the exchange fails with `error` and the connection closes, which tells
    /// the keyholder to cancel the upstream request (and frees both connections).
    private func expire(_ exchange: Exchange, _ error: GatewayError) {
        guard serves(exchange), let context else { return }
        if case .streaming = waiting { handOver(to: exchange) }
        waiting = .nothing
        gathered = ByteBuffer()
        disarm()
        exchange.fail(error)
        context.close(promise: nil)
    }

    /// The exchange ended: its limits are cancelled.
    private func disarm() {
        firstByteTimer?.cancel()
        totalTimer?.cancel()
        idleTimer?.cancel()
        (firstByteTimer, totalTimer, idleTimer) = (nil, nil, nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reader.append(unwrapInboundIn(data))
        do {
            // Stops once a frame closed the connection (a violation, an oversized answer).
            while context.channel.isActive, let frame = try reader.next() { receive(frame, context: context) }
        } catch {
            violation(context)
        }
    }

    private func receive(_ frame: LinkFrame, context: ChannelHandlerContext) {
        switch (waiting, frame) {
        case (.reply(let promise, let releasing), _):
            waiting = .nothing
            promise.succeed(frame)
            if releasing { idle() }
        case (.head(let exchange), .responseHead(let payload)):
            guard let (status, headers) = try? LinkMessages.decodeResponseHead(payload) else { return violation(context) }
            if exchange.buffered {
                gathered = ByteBuffer()
                waiting = .gathering(exchange, status: status, headers: headers)
                firstByteTimer?.cancel()
                firstByteTimer = nil
            } else {
                waiting = .streaming(exchange)
                exchange.deliverHead(status: status, headers: headers)
            }
        case (.head(let exchange), .failure(let payload)):
            // A refusal or upstream failure before any answer: the exchange is complete.
            waiting = .nothing
            disarm()
            exchange.fail(LinkMessages.decodeFailure(payload))
            idle()
        case (.gathering(let exchange, _, _), .responseBody(var chunk)):
            guard gathered.readableBytes + chunk.readableBytes <= exchange.limit else {
                waiting = .nothing
                disarm()
                gathered = ByteBuffer()
                exchange.fail(
                    GatewayError(
                        .upstreamFailure, "The upstream response exceeded \(exchange.limit) bytes.", code: .upstreamTooLarge))
                context.close(promise: nil)
                return
            }
            if gathered.readableBytes == 0 { gathered = chunk } else { gathered.writeBuffer(&chunk) }
        case (.gathering(let exchange, let status, let headers), .responseEnd):
            waiting = .nothing
            disarm()
            let body = gathered
            gathered = ByteBuffer()
            exchange.deliverWhole(status: status, headers: headers, body: body)
            idle()
        case (.gathering(let exchange, _, _), .failure(let payload)), (.streaming(let exchange), .failure(let payload)):
            gathered = ByteBuffer()
            waiting = .nothing
            disarm()
            handOver(to: exchange)
            exchange.fail(LinkMessages.decodeFailure(payload))
            idle()
        case (.streaming(let exchange), .responseBody(var chunk)):
            if streamed.readableBytes == 0 { streamed = chunk } else { streamed.writeBuffer(&chunk) }
            if exchange.hasTimeouts { chunkArrived(exchange) }
        case (.streaming(let exchange), .responseEnd):
            waiting = .nothing
            disarm()
            handOver(to: exchange)
            exchange.finishBody(throwing: nil)
            idle()
        default:
            violation(context)
        }
    }

    /// The stream chunks of one read reach the reader together, as soon as the read is
    /// decoded: fewer wake-ups and writes to the caller, nothing held past the read.
    func channelReadComplete(context: ChannelHandlerContext) {
        if case .streaming(let exchange) = waiting { handOver(to: exchange) }
        context.fireChannelReadComplete()
    }

    private func handOver(to exchange: Exchange) {
        guard streamed.readableBytes > 0 else { return }
        let chunk = streamed
        streamed = ByteBuffer()
        exchange.arrived(chunk)
    }

    /// Reads stop while a stream's reader is behind by more than ``Exchange/highWater``
    /// bytes: the keyholder's writes then wait, and it stops reading from the provider, so a
    /// slow caller holds at most about that much in the front.
    func read(context: ChannelHandlerContext) {
        if case .streaming(let exchange) = waiting, exchange.shouldHoldReads() {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// The stream's reader caught up: reading resumes if it was held.
    func resumeReading() {
        guard readHeld, let context else { return }
        readHeld = false
        context.read()
    }

    /// An exchange ended cleanly: the connection can serve the next one.
    private func idle() {
        if let connection, let release { release(connection) }
    }

    private func violation(_ context: ChannelHandlerContext) {
        failWaiting(KeyholderLink.unavailable)
        context.close(promise: nil)
    }

    private func failWaiting(_ error: GatewayError) {
        let pending = waiting
        waiting = .nothing
        disarm()
        switch pending {
        case .nothing: break
        case .reply(let promise, _): promise.fail(error)
        case .head(let exchange), .gathering(let exchange, _, _):
            gathered = ByteBuffer()
            exchange.fail(error)
        case .streaming(let exchange):
            // What arrived before the failure still reaches the reader, ahead of the error.
            handOver(to: exchange)
            exchange.fail(
                GatewayError(.upstreamFailure, "The connection to the provider was lost mid-stream.", code: .upstreamStreamLost))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        readHeld = false
        failWaiting(KeyholderLink.unavailable)
        connection = nil
        release = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failWaiting(KeyholderLink.unavailable)
        context.close(promise: nil)
    }
}

/// One request's state, shared by the caller (`send`, the body it reads) and the event loop.
final class Exchange: @unchecked Sendable {
    private let lock = NIOLock()
    private var _head: CheckedContinuation<EgressResponse, any Error>?
    private var finished = false
    /// A stream's body as it arrives (none for a gathered answer, which arrives whole).
    let body: AsyncThrowingStream<ByteBuffer, any Error>.Continuation?
    let stream: AsyncThrowingStream<ByteBuffer, any Error>?
    let connection: LinkConnection
    /// Whether the answer is gathered whole before the caller sees it (not a stream).
    let buffered: Bool
    /// The most bytes of a gathered answer.
    let limit: Int
    /// The attempt's time limits, enforced by the connection's handler.
    let timeouts: RouteTimeouts
    let hasTimeouts: Bool
    /// Stream bytes delivered to the reader's buffer and not yet taken.
    private let unread = Atomic<Int>(0)
    /// Set when the connection held a read back for this exchange.
    private let holding = Atomic<Bool>(false)
    /// Reading from the keyholder stops above this many unread stream bytes, and resumes
    /// once the reader is down to ``lowWater``.
    static let highWater = 256 << 10
    static let lowWater = 64 << 10

    init(connection: LinkConnection, buffered: Bool, limit: Int, timeouts: RouteTimeouts = RouteTimeouts()) {
        self.connection = connection
        self.buffered = buffered
        self.limit = limit
        self.timeouts = timeouts
        self.hasTimeouts = timeouts.firstByte != nil || timeouts.idle != nil || timeouts.total != nil
        guard !buffered else {
            (stream, body) = (nil, nil)
            return
        }
        let (stream, body) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        (self.stream, self.body) = (stream, body)
        // The reading task was cancelled (its iterator then ends early, without an error): cancel upstream too.
        body.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.cancel() }
        }
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
        guard let stream else { return fail(KeyholderLink.unavailable) }
        takeHead()?.resume(
            returning: EgressResponse(status: status, headers: headers, body: ByteStream(LinkBody(stream: stream, exchange: self))))
    }

    /// A gathered answer: the exchange is complete before the caller sees it.
    func deliverWhole(status: Int, headers: [(name: String, value: String)], body whole: ByteBuffer) {
        lock.withLock { finished = true }
        body?.finish()
        takeHead()?.resume(returning: EgressResponse(status: status, headers: headers, body: .single(whole)))
    }

    /// A stream chunk from the keyholder (on the event loop).
    func arrived(_ chunk: ByteBuffer) {
        unread.add(chunk.readableBytes, ordering: .sequentiallyConsistent)
        body?.yield(chunk)
    }

    /// Whether the connection should stop reading (on the event loop, when it would read).
    func shouldHoldReads() -> Bool {
        // Sequentially consistent: the flag's store and the re-load here, and the reader's
        // subtraction and exchange in ``taken(_:)``, must not pass each other (a lost wake-up).
        guard unread.load(ordering: .sequentiallyConsistent) > Self.highWater else { return false }
        holding.store(true, ordering: .sequentiallyConsistent)
        // The reader may have caught up between the check and the flag: look again.
        if unread.load(ordering: .sequentiallyConsistent) <= Self.lowWater,
            holding.exchange(false, ordering: .sequentiallyConsistent)
        {
            return false
        }
        return true
    }

    /// The reader took a chunk; resumes the connection's reading once it has caught up.
    func taken(_ chunk: ByteBuffer) {
        let left = unread.subtract(chunk.readableBytes, ordering: .sequentiallyConsistent).newValue
        if left <= Self.lowWater, holding.exchange(false, ordering: .sequentiallyConsistent) { connection.resumeReading() }
    }

    func finishBody(throwing error: (any Error)?) {
        lock.withLock { finished = true }
        body?.finish(throwing: error)
    }

    /// Fails whichever part the caller is waiting for: the head, or else the body.
    func fail(_ error: GatewayError) {
        lock.withLock { finished = true }
        if let head = takeHead() {
            head.resume(throwing: error)
        } else {
            body?.finish(throwing: error)
        }
    }

    /// The caller gave up: close the connection if the answer is still coming. (A finished
    /// exchange's connection may already serve another exchange, and is left alone.)
    func cancel() {
        let done = lock.withLock { finished }
        guard !done else { return }
        connection.abandon(self)
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
            if let chunk {
                guardian.exchange.taken(chunk)
            } else if !Task.isCancelled {
                // The end of the answer, not the end a cancelled reader sees.
                guardian.disarm()
            }
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
