import NIOCore
import NIOHTTP1

/// One caller's HTTP/1.1 connection, on its event loop, after NIO's HTTP codec and
/// pipelining handler (which hands over one request at a time).
///
/// Each request runs as a task that prefers this connection's event loop
/// (``EventLoopTaskExecutor``): the route, the link exchange and the answer's writes stay
/// on one thread. The body is gathered here, up to the limit, while the route
/// authenticates; past the limit it is discarded (the route answers 413) and the
/// connection stays usable. A caller that goes away cancels its request's task, which
/// cancels the upstream request.
final class FrontConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let respond: @Sendable (FrontRequest) async -> FrontResponse
    private let maxBodyBytes: Int
    private let executor: EventLoopTaskExecutor
    private var context: ChannelHandlerContext?

    private enum Inbound {
        case idle
        case gathering(EventLoopPromise<ByteBuffer>, ByteBuffer)
        /// Past the limit, or answered already: the rest of the body is read and dropped.
        case discarding
    }
    private var inbound = Inbound.idle
    private var task: Task<Void, Never>?
    /// Whether the current answer may leave the connection open for the next request.
    private var keepAlive = true
    private var version = HTTPVersion.http1_1

    init(loop: any EventLoop, maxBodyBytes: Int, respond: @escaping @Sendable (FrontRequest) async -> FrontResponse) {
        self.respond = respond
        self.maxBodyBytes = maxBodyBytes
        self.executor = EventLoopTaskExecutor(loop)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
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
            if case .gathering(let promise, let buffer) = inbound { promise.succeed(buffer) }
            inbound = .idle
        }
    }

    private func start(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let promise = context.eventLoop.makePromise(of: ByteBuffer.self)
        inbound = .gathering(promise, ByteBuffer())
        version = head.version
        keepAlive = head.isKeepAlive
        let path: String
        if let query = head.uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            path = String(head.uri[..<query])
        } else {
            path = head.uri
        }
        let request = FrontRequest(method: head.method, path: path, headers: head.headers, body: .pending(promise.futureResult))
        task = Self.spawn(
            request, respond: respond, executor: executor, handler: NIOLoopBound(self, eventLoop: context.eventLoop),
            loop: context.eventLoop)
    }

    private static func spawn(
        _ request: FrontRequest, respond: @escaping @Sendable (FrontRequest) async -> FrontResponse, executor: EventLoopTaskExecutor,
        handler: NIOLoopBound<FrontConnectionHandler>, loop: any EventLoop
    ) -> Task<Void, Never> {
        Task(executorPreference: executor) {
            let response = await respond(request)
            await deliver(response, handler: handler, loop: loop)
        }
    }

    /// Writes an answer: head, body and end with one flush, or a stream chunk by chunk.
    private static func deliver(_ response: FrontResponse, handler: NIOLoopBound<FrontConnectionHandler>, loop: any EventLoop) async {
        switch response.body {
        case .buffer(let buffer):
            loop.run { handler.value.writeWhole(response.status, response.headers, buffer) }
        case .stream(let body):
            loop.run { handler.value.writeStreamHead(response.status, response.headers) }
            // A failure here means the caller is gone; the route has already logged and recorded it.
            try? await body(FrontStreamWriter(handler: handler, loop: loop))
            loop.run { handler.value.writeEnd() }
        }
    }

    private func head(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, contentLength: Int?) -> HTTPResponseHead {
        var headers = headers
        headers.add(name: "server", value: "gatehouse")
        headers.add(name: "date", value: HTTPDate.now())
        if let contentLength {
            headers.add(name: "content-length", value: String(contentLength))
        } else if version.minor == 0 {
            // HTTP/1.0 has no chunked encoding: a stream ends when the connection closes.
            keepAlive = false
        }
        if version.minor == 0, keepAlive {
            headers.add(name: "connection", value: "keep-alive")
        } else if version.minor >= 1, !keepAlive {
            headers.add(name: "connection", value: "close")
        }
        return HTTPResponseHead(version: version, status: status, headers: headers)
    }

    private func writeWhole(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, _ body: ByteBuffer) {
        guard let context else { return }
        context.write(wrapOutboundOut(.head(head(status, headers, contentLength: body.readableBytes))), promise: nil)
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        writeEnd()
    }

    private func writeStreamHead(_ status: HTTPResponseStatus, _ headers: HTTPHeaders) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(.head(head(status, headers, contentLength: nil))), promise: nil)
    }

    fileprivate func writeChunk(_ buffer: ByteBuffer, promise: EventLoopPromise<Void>) {
        guard let context, context.channel.isActive else {
            promise.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: promise)
    }

    private func writeEnd() {
        task = nil
        // A body still arriving after the answer is read and dropped.
        if case .gathering(let promise, _) = inbound {
            inbound = .discarding
            promise.fail(FrontRequest.BodyTooLarge())
        }
        guard let context else { return }
        let close = !keepAlive
        // The pipelining handler may hand over the next request during this write.
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .gathering(let promise, _) = inbound { promise.fail(ChannelError.ioOnClosedChannel) }
        inbound = .idle
        task?.cancel()
        task = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
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
