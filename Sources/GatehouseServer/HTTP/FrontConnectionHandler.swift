import NIOCore
import NIOHTTP1

/// One caller's HTTP/1.1 connection, on its event loop, after NIO's HTTP codec.
///
/// Each request runs as a task that prefers this connection's event loop
/// (``EventLoopTaskExecutor``): the route, the link exchange and the answer's writes stay
/// on one thread. (A request whose body is large runs on the shared pool instead, so its
/// decoding never stalls the other connections of the loop.)
///
/// Requests are answered one at a time, in order: a request pipelined behind one still
/// being answered waits in a queue, and reading stops while the queue holds more than
/// ``maxQueuedBytes``. Reading is otherwise never paused, so a keep-alive caller costs no
/// `epoll_ctl` per request (NIO's pipelining handler paused and resumed reads for every one).
///
/// A POST body is gathered here, up to the limit, while the route authenticates; past the
/// limit (or when `content-length` already says so) it is discarded, the route answers
/// 413, and the connection stays usable. Other methods' bodies are discarded. A caller
/// that goes away cancels its request's task, which cancels the upstream request.
final class FrontConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Bytes of pipelined requests held before reading stops.
    static let maxQueuedBytes = 1 << 20
    /// Bodies from this size on are handled off the event loop.
    static let largeBodyBytes = 256 << 10
    /// A caller that takes none of a streamed chunk for this long is gone: the connection is
    /// closed, which frees the stream's link and upstream connections (back-pressure holds
    /// them while the caller does not read).
    static let writeStallTimeout = TimeAmount.seconds(60)

    private let respond: @Sendable (FrontRequest) async -> FrontResponse
    private let maxBodyBytes: Int
    private let executor: EventLoopTaskExecutor
    private let connections: OpenConnections
    /// Set while the connection is open; every write path checks it.
    private var context: ChannelHandlerContext?

    private enum Inbound {
        case idle
        case gathering(EventLoopPromise<ByteBuffer>, ByteBuffer)
        /// Past the limit, not wanted, or answered already: the rest of the body is read and dropped.
        case discarding
    }
    private var inbound = Inbound.idle
    /// The current request has been read to its end.
    private var requestEnded = true
    /// Parts of requests pipelined behind the one being answered.
    private var queued = CircularBuffer<HTTPServerRequestPart>()
    private var queuedBytes = 0
    /// A read was held back because the queue is full.
    private var readHeld = false
    /// Close after the current answer (graceful shutdown).
    private var quiescing = false
    /// The connection is closing: nothing more is read or started.
    private var closing = false
    /// The current request's task, from its head until its answer's end.
    private var task: Task<Void, Never>?
    /// An answer is being written (from the request's head until the answer's end).
    private var responding: Bool { task != nil }
    /// Whether the current answer may leave the connection open for the next request.
    private var keepAlive = true
    private var version = HTTPVersion.http1_1

    init(
        loop: any EventLoop, maxBodyBytes: Int, connections: OpenConnections,
        respond: @escaping @Sendable (FrontRequest) async -> FrontResponse
    ) {
        self.respond = respond
        self.maxBodyBytes = maxBodyBytes
        self.connections = connections
        self.executor = EventLoopTaskExecutor(loop)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let part = unwrapInboundIn(data)
        if !queued.isEmpty || (responding && requestEnded) {
            queued.append(part)
            queuedBytes += Self.queuedCost(part)
            return
        }
        process(part, context: context)
    }

    func read(context: ChannelHandlerContext) {
        if queuedBytes > Self.maxQueuedBytes {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Hands queued requests over once the answer before them is complete.
    private func drainQueue(context: ChannelHandlerContext) {
        while !closing, !(responding && requestEnded), let part = queued.popFirst() {
            queuedBytes -= Self.queuedCost(part)
            process(part, context: context)
        }
        if readHeld, queuedBytes <= Self.maxQueuedBytes {
            readHeld = false
            context.read()
        }
    }

    /// What a queued part counts against ``maxQueuedBytes``: its body bytes, and a little for itself.
    private static func queuedCost(_ part: HTTPServerRequestPart) -> Int {
        if case .body(let buffer) = part { return buffer.readableBytes + 64 }
        return 64
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        quiescing = true
        keepAlive = false
        if !responding, requestEnded { close(context) }
    }

    private func process(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            requestEnded = false
            start(head, context: context)
        case .body(let part):
            guard case .gathering(let promise, var buffer) = inbound else { return }
            inbound = .idle
            if buffer.readableBytes + part.readableBytes > maxBodyBytes {
                inbound = .discarding
                promise.fail(FrontRequest.BodyTooLarge())
            } else {
                if buffer.readableBytes == 0 { buffer = part } else { buffer.writeImmutableBuffer(part) }
                inbound = .gathering(promise, buffer)
            }
        case .end:
            requestEnded = true
            if case .gathering(let promise, let buffer) = inbound { promise.succeed(buffer) }
            inbound = .idle
            if quiescing, !responding { close(context) }
        }
    }

    private func start(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        version = head.version
        keepAlive = head.isKeepAlive && !quiescing
        let path: String
        if let query = head.uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            path = String(head.uri[..<query])
        } else {
            path = head.uri
        }
        let declared = head.headers.first(name: "content-length").flatMap { Int($0) }
        let body: FrontRequest.Body
        if head.method == .POST {
            let promise = context.eventLoop.makePromise(of: ByteBuffer.self)
            if let declared, declared > maxBodyBytes {
                inbound = .discarding
                promise.fail(FrontRequest.BodyTooLarge())
            } else {
                inbound = .gathering(promise, ByteBuffer())
            }
            body = .pending(promise.futureResult)
        } else {
            inbound = .discarding
            body = .complete(ByteBuffer())
        }
        var request = FrontRequest(method: head.method, path: path, headers: head.headers, body: body)
        if let mark = head.uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            request.query = String(head.uri[head.uri.index(after: mark)...])
        }
        // Chunked uploads have no declared length: treated as large.
        let large = head.method == .POST && (declared ?? Int.max) >= Self.largeBodyBytes
        connections.taskStarted()
        task = Self.spawn(
            request, respond: respond, executor: large ? nil : executor, connections: connections,
            handler: NIOLoopBound(self, eventLoop: context.eventLoop), loop: context.eventLoop)
    }

    private static func spawn(
        _ request: FrontRequest, respond: @escaping @Sendable (FrontRequest) async -> FrontResponse,
        executor: EventLoopTaskExecutor?, connections: OpenConnections,
        handler: NIOLoopBound<FrontConnectionHandler>, loop: any EventLoop
    ) -> Task<Void, Never> {
        Task(executorPreference: executor ?? globalConcurrentExecutor) {
            let response = await respond(request)
            await deliver(response, handler: handler, loop: loop)
            connections.taskEnded()
        }
    }

    /// Writes an answer: head, body and end with one flush, or a stream chunk by chunk.
    private static func deliver(_ response: FrontResponse, handler: NIOLoopBound<FrontConnectionHandler>, loop: any EventLoop) async {
        switch response.body {
        case .buffer(let buffer):
            loop.run { handler.value.writeWhole(response.status, response.headers, buffer) }
            response.afterWrite?()
        case .stream(let body):
            loop.run { handler.value.writeStreamHead(response.status, response.headers) }
            // A failure here means the caller is gone; the route has already logged and recorded it.
            try? await body(FrontStreamWriter(handler: handler, loop: loop))
            loop.run { handler.value.writeEnd() }
        }
    }

    private func head(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, contentLength: Int?) -> HTTPResponseHead {
        var fields = HTTPHeaders()
        fields.reserveCapacity(headers.count + 4)
        // Values can carry text from callers (dropped parameter names) or providers
        // (retry-after): control characters become spaces rather than breaking the answer.
        for (name, value) in headers { fields.add(name: name, value: Self.sanitized(value)) }
        fields.add(name: "server", value: "gatehouse")
        fields.add(name: "date", value: HTTPDate.now())
        if let contentLength {
            fields.add(name: "content-length", value: String(contentLength))
        } else if version.minor == 0 {
            // HTTP/1.0 has no chunked encoding: a stream ends when the connection closes.
            keepAlive = false
        }
        if version.minor == 0, keepAlive {
            fields.add(name: "connection", value: "keep-alive")
        } else if version.minor >= 1, !keepAlive {
            fields.add(name: "connection", value: "close")
        }
        return HTTPResponseHead(version: version, status: status, headers: fields)
    }

    static func sanitized(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return value }
        return String(decoding: value.utf8.map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }

    private func writeWhole(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, _ body: ByteBuffer) {
        guard let context else { return }
        context.write(wrapOutboundOut(.head(head(status, headers, contentLength: body.readableBytes))), promise: nil)
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        writeEnd()
    }

    /// Goes out with the first chunk when that is already here (one write, and the caller wakes
    /// once); otherwise at the end of this turn of the event loop, so the head is never held back.
    private func writeStreamHead(_ status: HTTPResponseStatus, _ headers: HTTPHeaders) {
        guard let context else { return }
        context.write(wrapOutboundOut(.head(head(status, headers, contentLength: nil))), promise: nil)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute { handler.value.context?.flush() }
    }

    fileprivate func writeChunk(_ buffer: ByteBuffer, promise: EventLoopPromise<Void>) {
        guard let context else {
            promise.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: promise)
        if !context.channel.isWritable {
            let channel = context.channel
            let stall = context.eventLoop.scheduleTask(in: Self.writeStallTimeout) { channel.close(promise: nil) }
            promise.futureResult.whenComplete { _ in stall.cancel() }
        }
    }

    private func writeEnd() {
        task = nil
        // A body still arriving after the answer is read and dropped.
        if case .gathering(let promise, _) = inbound {
            inbound = .discarding
            promise.fail(FrontRequest.BodyTooLarge())
        }
        guard let context else { return }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive || (quiescing && requestEnded) {
            closing = true
            queued.removeAll()
            queuedBytes = 0
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
            return
        }
        drainQueue(context: context)
    }

    private func close(_ context: ChannelHandlerContext) {
        closing = true
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closing = true
        // Handlers stay in the pipeline for one more loop turn: nothing may be written now.
        self.context = nil
        if case .gathering(let promise, _) = inbound { promise.fail(ChannelError.ioOnClosedChannel) }
        inbound = .idle
        queued.removeAll()
        task?.cancel()
        task = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close(context)
    }
}

/// Writes a streamed answer's chunks to the connection; each write waits until its chunk
/// is written to the socket.
struct FrontStreamWriter: FrontBodyWriter {
    let handler: NIOLoopBound<FrontConnectionHandler>
    let loop: any EventLoop

    func write(_ buffer: ByteBuffer) async throws {
        let promise = loop.makePromise(of: Void.self)
        let handler = self.handler
        loop.run { handler.value.writeChunk(buffer, promise: promise) }
        try await promise.futureResult.get()
    }
}
