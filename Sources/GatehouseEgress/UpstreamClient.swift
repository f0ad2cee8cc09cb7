import GatehouseCore
import GatehouseSecurity
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Where one client's connections go: a provider's origin, and the address actually dialled
/// when the host name is pinned to a checked address (TLS still verifies the name).
struct UpstreamTarget: Hashable, Sendable, CustomStringConvertible {
    var scheme: String
    var host: String
    var port: Int
    /// The checked address to dial instead of resolving `host`.
    var pinnedAddress: String?

    var isTLS: Bool { scheme == "https" }

    /// The value of the `Host` header: the name, and the port unless it is the scheme's default.
    var hostHeader: String {
        // Byte search: `contains(":")` on a String resolves to Foundation's substring search here.
        let name = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        return port == (isTLS ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// For logs and `egress.connect` records: scheme, the address dialled, and the TLS name when pinned.
    var description: String {
        guard let pinnedAddress else { return "\(scheme)://\(hostHeaderWithPort(host))" }
        return "\(scheme)://\(hostHeaderWithPort(pinnedAddress))" + (isTLS ? " SNI: \(host)" : "")
    }

    private func hostHeaderWithPort(_ name: String) -> String {
        (name.utf8.contains(UInt8(ascii: ":")) ? "[\(name)]" : name) + ":\(port)"
    }
}

/// Why an upstream request failed, before or during its answer.
enum UpstreamFailure: Error, Sendable {
    case connectTimeout
    case connectFailed
    case deadlineExceeded
    case connectionLost
    case shutDown
}

/// Receives one upstream answer on the event loop the request was started on.
protocol UpstreamResponseSink: AnyObject {
    func upstreamHead(_ head: HTTPResponseHead)
    /// One chunk of the body; the connection is not read further until the returned future (if any) completes.
    func upstreamBody(_ buffer: ByteBuffer) -> EventLoopFuture<Void>?
    /// The chunks of one read from the socket have all been handed over.
    func upstreamReadComplete()
    func upstreamEnd()
    func upstreamFailed(_ failure: UpstreamFailure)
}

/// The keyholder's HTTP/1.1 client: keep-alive connections to one upstream target, pooled per
/// event loop, so a request and its answer stay on the loop of the link connection that asked
/// for them and cross no thread. A request is written with one flush (head, body and end);
/// the answer is handed on as it is read, with back-pressure. It never follows redirects and
/// never decompresses; HTTPS verifies the certificate chain and the host name.
///
/// Threat assumptions: the upstream is configured by the operator, but its answers are
/// untrusted (size caps and parsing are the caller's and NIO's); the front never reaches this
/// type except through ``Keyholder``'s checks.
final class UpstreamClient: Sendable {
    struct Events: Sendable {
        /// A connection opened (`opened`), failed to open (`failed`), failed its TLS handshake or
        /// certificate verification (`tls_failed`), or closed (`closed`), with its target.
        var connection: @Sendable (_ event: String, _ target: String) -> Void
    }

    let target: UpstreamTarget
    private let tls: NIOSSLContext?
    private let connectTimeout: TimeAmount
    fileprivate let idleTimeout: TimeAmount
    private let events: Events
    private let pools: [ObjectIdentifier: NIOLoopBoundBox<LoopPool>]

    init(
        target: UpstreamTarget, tls: NIOSSLContext?, connectTimeout: TimeAmount, idleTimeout: TimeAmount = .seconds(60),
        maxConnections: Int, events: Events, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.target = target
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.events = events
        let loops = Array(group.makeIterator())
        let perLoop = max(1, (maxConnections + loops.count - 1) / max(1, loops.count))
        var pools: [ObjectIdentifier: NIOLoopBoundBox<LoopPool>] = [:]
        for loop in loops {
            pools[ObjectIdentifier(loop)] = .makeBoxSendingValue(LoopPool(loop: loop, maxConnections: perLoop), eventLoop: loop)
        }
        self.pools = pools
    }

    /// The TLS context for provider connections: full certificate and host name verification
    /// against the system's trust roots, plus `extraTrustRoots` (a PEM file) if given.
    static func makeTLSContext(extraTrustRoots: String? = nil) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        configuration.minimumTLSVersion = .tlsv12
        if let extraTrustRoots { configuration.additionalTrustRoots = [.file(extraTrustRoots)] }
        return try NIOSSLContext(configuration: configuration)
    }

    /// Sends a request on `loop` (the caller must be on it); the answer goes to `sink` on that loop.
    /// `connectTimeout`, when given, replaces the client's own for a connection opened for this request.
    func execute(
        head: HTTPRequestHead, body: ByteBuffer?, on loop: any EventLoop, deadline: NIODeadline,
        connectTimeout: TimeAmount? = nil, sink: any UpstreamResponseSink
    ) -> UpstreamCall {
        let call = UpstreamCall(head: head, body: body, sink: sink, loop: loop)
        call.connectTimeout = connectTimeout
        guard let pool = pools[ObjectIdentifier(loop)] else {
            // Not one of the group's loops (never in the keyholder): fail rather than cross threads.
            loop.execute { call.fail(.shutDown) }
            return call
        }
        call.deadline = loop.scheduleTask(deadline: deadline) { [weak call] in call?.fail(.deadlineExceeded) }
        pool.value.submit(call, client: self)
        return call
    }

    /// Closes idle connections and refuses new requests; requests in flight finish or fail.
    func shutdown() async {
        for pool in pools.values {
            try? await pool.eventLoop.submit { pool.value.shutdown() }.get()
        }
    }

    // MARK: Connecting (on the pool's loop)

    fileprivate func connect(on loop: any EventLoop, timeout: TimeAmount?) -> EventLoopFuture<any Channel> {
        let tls = self.tls
        let serverName = target.host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout ?? connectTimeout)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        // The name is verified even when the address was pinned; an IP literal has no SNI.
                        let name = (try? SocketAddress(ipAddress: serverName, port: 0)) == nil ? serverName : nil
                        try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: name))
                    }
                    try sync.addHTTPClientHandlers(leftOverBytesStrategy: .fireError)
                }
            }
        if let pinned = target.pinnedAddress {
            // Only the checked address: never a fresh lookup that could answer differently.
            guard let address = try? SocketAddress(ipAddress: pinned, port: target.port) else {
                return loop.makeFailedFuture(UpstreamFailure.connectFailed)
            }
            return bootstrap.connect(to: address)
        }
        return bootstrap.connect(host: target.host, port: target.port)
    }

    fileprivate func report(_ event: String) {
        events.connection(event, target.description)
    }

}

/// One request through the client: waiting for a connection, then on one.
final class UpstreamCall: @unchecked Sendable {
    // @unchecked: every mutable field is touched on `loop` only.
    let head: HTTPRequestHead
    let body: ByteBuffer?
    let loop: any EventLoop
    private(set) var sink: (any UpstreamResponseSink)?
    fileprivate var connection: UpstreamConnection?
    fileprivate var deadline: Scheduled<Void>?
    /// Set once the request was retried on a new connection (at most once).
    fileprivate var retried = false
    /// The request's own connect limit (the model's), if it has one.
    fileprivate var connectTimeout: TimeAmount?

    fileprivate init(head: HTTPRequestHead, body: ByteBuffer?, sink: any UpstreamResponseSink, loop: any EventLoop) {
        self.head = head
        self.body = body
        self.sink = sink
        self.loop = loop
    }

    var isFinished: Bool { sink == nil }

    /// Stops the request: its connection (if it has one) is closed, its sink hears nothing more.
    func cancel() {
        guard loop.inEventLoop else { return loop.execute { self.cancel() } }
        guard let connection = finish() else { return }
        connection.abort()
    }

    /// Ends the request with `failure` (the sink hears it), closing its connection if it has one.
    fileprivate func fail(_ failure: UpstreamFailure) {
        let sink = self.sink
        let connection = finish()
        sink?.upstreamFailed(failure)
        connection?.abort()
    }

    /// Marks the request finished; returns the connection it held.
    @discardableResult
    fileprivate func finish() -> UpstreamConnection? {
        sink = nil
        deadline?.cancel()
        deadline = nil
        defer { connection = nil }
        return connection
    }
}

/// The connections of one client on one event loop. Touched on that loop only.
private final class LoopPool {
    let loop: any EventLoop
    let maxConnections: Int
    private var idle: [UpstreamConnection] = []
    private var open = 0
    private var waiting: [UpstreamCall] = []
    private var isShutDown = false

    init(loop: any EventLoop, maxConnections: Int) {
        self.loop = loop
        self.maxConnections = maxConnections
    }

    /// Runs `call` on an idle connection (unless `fresh`), a new one, or the next one free.
    func submit(_ call: UpstreamCall, client: UpstreamClient, fresh: Bool = false) {
        guard !isShutDown else { return call.fail(.shutDown) }
        while !fresh, let connection = idle.popLast() {
            if connection.isUsable {
                connection.run(call)
                return
            }
        }
        guard open < maxConnections else {
            // Calls that ended while waiting (cancelled, past their deadline) leave the queue here.
            if waiting.count >= 16 { waiting.removeAll { $0.isFinished } }
            waiting.append(call)
            return
        }
        startConnection(for: call, client: client)
    }

    private func startConnection(for call: UpstreamCall, client: UpstreamClient) {
        open += 1
        client.connect(on: loop, timeout: call.connectTimeout).whenComplete { [self] result in
            switch result {
            case .success(let channel):
                client.report("opened")
                let connection = UpstreamConnection(channel: channel, pool: self, client: client)
                channel.closeFuture.whenComplete { _ in self.closed(connection, client: client) }
                do {
                    try channel.pipeline.syncOperations.addHandler(connection.handler)
                } catch {
                    channel.close(promise: nil)
                    return call.fail(.connectFailed)
                }
                if call.isFinished {
                    release(connection, reusable: true, client: client)
                } else {
                    connection.run(call)
                }
            case .failure(let error):
                open -= 1
                client.report("failed")
                if case ChannelError.connectTimeout = error { call.fail(.connectTimeout) } else { call.fail(.connectFailed) }
                if let next = nextWaiting() { startConnection(for: next, client: client) }
            }
        }
    }

    private func nextWaiting() -> UpstreamCall? {
        while !waiting.isEmpty {
            let call = waiting.removeFirst()
            if !call.isFinished { return call }
        }
        return nil
    }

    /// A connection finished a request: the next waiting request takes it, or it waits idle.
    func release(_ connection: UpstreamConnection, reusable: Bool, client: UpstreamClient) {
        guard reusable, !isShutDown, connection.isUsable else {
            connection.abort()
            return
        }
        if let next = nextWaiting() {
            connection.run(next)
            return
        }
        idle.append(connection)
        connection.park(for: client.idleTimeout)
    }

    private func closed(_ connection: UpstreamConnection, client: UpstreamClient) {
        open -= 1
        connection.cancelIdleTimer()
        idle.removeAll { $0 === connection }
        client.report("closed")
        if !isShutDown, open < maxConnections, let next = nextWaiting() { startConnection(for: next, client: client) }
    }

    func shutdown() {
        isShutDown = true
        for call in waiting { call.fail(.shutDown) }
        waiting = []
        for connection in idle { connection.abort() }
        idle = []
    }
}

/// One keep-alive connection, serving one request at a time. Touched on its loop only.
private final class UpstreamConnection {
    let channel: any Channel
    let handler: UpstreamHandler
    private let pool: LoopPool
    private let client: UpstreamClient
    private var idleTimer: Scheduled<Void>?

    init(channel: any Channel, pool: LoopPool, client: UpstreamClient) {
        self.channel = channel
        self.pool = pool
        self.client = client
        self.handler = UpstreamHandler()
        handler.connection = self
    }

    var isUsable: Bool { channel.isActive && !handler.isBusy }

    /// Requests this connection carried before the current one.
    private var served = 0

    func run(_ call: UpstreamCall) {
        idleTimer?.cancel()
        idleTimer = nil
        call.connection = self
        handler.start(call, reused: served > 0)
        served += 1
    }

    /// Sends `call` again on another connection (this one closed under it before any answer).
    func retry(_ call: UpstreamCall) {
        call.connection = nil
        pool.submit(call, client: client, fresh: true)
    }

    func park(for timeout: TimeAmount) {
        idleTimer = channel.eventLoop.scheduleTask(in: timeout) { [weak self] in self?.abort() }
    }

    /// The answer ended; `reusable` if the connection may carry another request. Handed back
    /// in a later turn of the loop, so that any bytes the upstream sent after the answer (in
    /// the same read) reach a handler with no request, which closes the connection, rather
    /// than being taken for the next request's answer.
    func done(reusable: Bool) {
        channel.eventLoop.execute { [self] in pool.release(self, reusable: reusable, client: client) }
    }

    func cancelIdleTimer() {
        idleTimer?.cancel()
        idleTimer = nil
    }

    func report(_ event: String) {
        client.report(event)
    }

    func abort() {
        idleTimer?.cancel()
        idleTimer = nil
        handler.detach()
        channel.close(promise: nil)
    }
}

/// Writes a request and reads its answer on one connection.
private final class UpstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    weak var connection: UpstreamConnection?
    private var context: ChannelHandlerContext?
    private var call: UpstreamCall?
    private var sawHead = false
    private var keepAlive = true
    /// A 1xx head was read: its end is not the answer's end.
    private var informational = false
    /// Whether the connection carried a request before this one.
    private var reused = false
    /// Body chunks of the current answer handed to the sink and not yet taken; reading
    /// waits while there are any.
    private var untaken = 0
    /// A read was held back until the chunks are taken.
    private var readHeld = false
    /// Counts answers, so that a chunk of an earlier answer taken late releases nothing.
    private var answer = 0

    var isBusy: Bool { call != nil }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func start(_ call: UpstreamCall, reused: Bool) {
        self.reused = reused
        guard let context, context.channel.isActive else { return failOrRetry(call, .connectionLost) }
        self.call = call
        endAnswer()
        sawHead = false
        keepAlive = true
        informational = false
        context.write(wrapOutboundOut(.head(call.head)), promise: nil)
        if let body = call.body, body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// The request was cancelled or failed: forget it (the connection is being closed).
    func detach() { call = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard let call else {
            // Bytes nobody asked for: the connection cannot be trusted for another request.
            if case .end = part { return }
            context.close(promise: nil)
            return
        }
        switch part {
        case .head(let head):
            if head.status.code >= 100 && head.status.code < 200 && head.status != .switchingProtocols {
                informational = true
                return
            }
            sawHead = true
            keepAlive = head.isKeepAlive
            call.sink?.upstreamHead(head)
        case .body(let buffer):
            guard let pending = call.sink?.upstreamBody(buffer) else { return }
            // Back-pressure: read no more from the socket until the chunk was taken.
            untaken += 1
            let current = answer
            pending.whenComplete { [self] _ in
                guard answer == current else { return }
                untaken -= 1
                if untaken == 0 { releaseRead() }
            }
        case .end:
            if informational {
                informational = false
                return
            }
            // The hold belongs to this answer: the connection goes back to the pool readable.
            endAnswer()
            self.call = nil
            let sink = call.sink
            call.finish()
            sink?.upstreamEnd()
            connection?.done(reusable: keepAlive)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        call?.sink?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    /// Forgets the current answer's untaken chunks and resumes reading if it was held.
    private func endAnswer() {
        answer &+= 1
        untaken = 0
        releaseRead()
    }

    private func releaseRead() {
        guard readHeld else { return }
        readHeld = false
        context?.read()
    }

    func read(context: ChannelHandlerContext) {
        if untaken > 0 {
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let call {
            self.call = nil
            failOrRetry(call, .connectionLost)
        }
        context.fireChannelInactive()
    }

    /// A kept-alive connection the server closed just as a request went out (its idle timeout
    /// may be shorter than ours) has not answered anything: the request is sent once more on a
    /// new connection, as the providers' own SDKs do on a connection error. Anything else fails.
    private func failOrRetry(_ call: UpstreamCall, _ failure: UpstreamFailure) {
        guard reused, !sawHead, !call.retried, !call.isFinished, let connection else { return call.fail(failure) }
        call.retried = true
        connection.retry(call)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            // A certificate that does not verify (or a failed handshake) is worth a record of its own.
            connection?.report("tls_failed")
        }
        if let call {
            self.call = nil
            if sawHead { call.fail(.connectionLost) } else { failOrRetry(call, .connectFailed) }
        }
        context.close(promise: nil)
    }
}
