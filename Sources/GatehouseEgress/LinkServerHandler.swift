import GatehouseCore
import GatehouseLink
import Logging
import NIOCore
import Synchronization

/// The keyholder's end of one link connection, on its event loop.
///
/// A connection is served only once its peer's user id is allowed (`SO_PEERCRED`) and it
/// presented the per-boot secret; it then carries any number of exchanges, one at a time.
/// A request is forwarded once its last frame arrived; its answer is written as it comes,
/// one flush per chunk for a stream, and as head, body and end with a single flush
/// otherwise. If the front closes the connection mid-answer, the upstream request is
/// cancelled. Any frame out of turn closes the connection.
final class LinkServerHandler: ChannelInboundHandler, EgressAnswerSink {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case checkingPeer
        case awaitingHello
        case idle
        case readingBody(EgressRequest)
        /// A request is upstream; `gather` holds back a non-streamed answer until its end.
        case forwarding(gather: Bool)
        /// A question (records) is being answered off the event loop.
        case answering
        case closed
    }

    private let server: KeyholderServer
    private let open: OpenConnections
    private var state = State.checkingPeer
    private var reader = LinkFrameReader()
    /// Frames that arrived before the peer check finished, replayed after it.
    private var early: [LinkFrame] = []
    private var context: ChannelHandlerContext?
    private var call: EgressCall?
    /// The head and body of a non-streamed answer, written once it is complete.
    private var gatheredHead: ByteBuffer?
    private var gatheredBody = ByteBuffer()
    /// The body of the request being read (kept out of `state` so it grows in place).
    private var requestBody = ByteBuffer()
    /// Stream chunks written and not yet flushed.
    private var unflushed = false

    init(server: KeyholderServer, open: OpenConnections) {
        self.server = server
        self.open = open
    }

    private var keyholder: Keyholder { server.keyholder }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        open.add(context.channel)
        KeyholderServer.peerUID(context.channel) { [self] uid in
            guard let uid, server.allowedUIDs.contains(uid) else {
                let peer = uid.map(String.init) ?? "unknown"
                server.logger.warning(
                    "keyholder refused a connection from another user", metadata: ["gatehouse.egress.peer_uid": .string(peer)])
                keyholder.record(.egressRefused, ["reason": .string("link_peer_refused"), "peer_uid": .string(peer)])
                keyholder.metrics.linkConnections.add(["peer_refused"])
                closeNow()
                return
            }
            guard case .checkingPeer = state else { return }
            state = .awaitingHello
            let waiting = early
            early = []
            for frame in waiting { receive(frame) }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reader.append(unwrapInboundIn(data))
        do {
            // Stops once a frame closed the connection (out of turn, refused).
            while context.channel.isActive, let frame = try reader.next() { receive(frame) }
        } catch {
            server.logger.debug("keyholder link sent an invalid frame")
            closeNow()
        }
    }

    private func receive(_ frame: LinkFrame) {
        switch (state, frame) {
        case (.checkingPeer, _):
            early.append(frame)
        case (.awaitingHello, .hello(let presented)):
            guard KeyholderServer.constantTimeEqual(presented, server.secret) else { return refuseSecret() }
            keyholder.metrics.linkConnections.add(["accepted"])
            state = .idle
            write(.helloAccepted, flush: true)
        case (.awaitingHello, _):
            refuseSecret()
        case (.idle, .requestHead(let head)):
            guard let request = try? LinkMessages.decodeRequestHead(head) else { return closeNow() }
            requestBody = ByteBuffer()
            state = .readingBody(request)
        case (.readingBody, .requestBody(var chunk)):
            guard requestBody.readableBytes + chunk.readableBytes <= server.maxRequestBytes else { return closeNow() }
            if requestBody.readableBytes == 0 { requestBody = chunk } else { requestBody.writeBuffer(&chunk) }
        case (.readingBody(var request), .requestEnd):
            if requestBody.readableBytes > 0 { request.body = requestBody }
            requestBody = ByteBuffer()
            forward(request)
        case (.idle, .records(let payload)):
            answerRecords(payload)
        case (.idle, .metricsRequest):
            write(.metricsReport(ByteBuffer(string: keyholder.metrics.render())), flush: true)
        case (.idle, .ledgerRequest(let payload)):
            answerLedger(payload)
        default:
            closeNow()
        }
    }

    private func refuseSecret() {
        server.logger.warning("keyholder refused a connection without the link secret")
        keyholder.record(.egressRefused, ["reason": .string("link_secret_refused")])
        keyholder.metrics.linkConnections.add(["secret_refused"])
        closeNow()
    }

    private func forward(_ request: EgressRequest) {
        guard let context else { return }
        // Set before starting: the client may report a failure before `start` returns.
        state = .forwarding(gather: !request.isStreaming)
        gatheredHead = nil
        gatheredBody = ByteBuffer()
        do {
            let started = try keyholder.start(request, on: context.eventLoop, sink: self)
            if case .forwarding = state { call = started }
        } catch {
            answerFailed(error)
        }
    }

    /// Appends the front's records off the event loop (a batch can hold hundreds), then answers.
    private func answerRecords(_ payload: ByteBuffer) {
        answerOffLoop { server in .recordsAccepted(server.acceptRecords(payload)) }
    }

    /// Answers a ledger question off the event loop (the ledger runs on its own thread).
    private func answerLedger(_ payload: ByteBuffer) {
        answerOffLoop { server in
            let reply: JSONValue
            if let ledger = server.ledger, let question = try? JSONValue.decode(payload) {
                reply = await ledger.answer(question)
            } else {
                reply = .object(["error": .string(server.ledger == nil ? "unavailable" : "invalid")])
            }
            return .ledgerReply(ByteBuffer(string: reply.compactText()))
        }
    }

    /// Works out an answer off the event loop, then writes it (unless the connection went meanwhile).
    private func answerOffLoop(_ work: @escaping @Sendable (KeyholderServer) async -> LinkFrame) {
        guard let context else { return }
        state = .answering
        let server = self.server
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        Task {
            let frame = await work(server)
            loop.execute {
                guard case .answering = handler.value.state else { return }
                handler.value.state = .idle
                handler.value.write(frame, flush: true)
            }
        }
    }

    // MARK: The upstream answer (on this event loop)

    func answerHead(status: Int, headers: [(name: String, value: String)]) {
        guard case .forwarding(let gather) = state else { return }
        let head = LinkMessages.encodeResponseHead(status: status, headers: headers)
        if gather {
            gatheredHead = head
        } else {
            // Flushed with the stream's first chunks when they came in the same upstream read
            // (``answerFlush()`` runs at the end of every read), so the front wakes once for both.
            write(.responseHead(head), flush: false)
            unflushed = true
        }
    }

    func answerBody(_ chunk: ByteBuffer) -> EventLoopFuture<Void>? {
        guard let context, case .forwarding(let gather) = state else { return nil }
        if gather {
            var chunk = chunk
            if gatheredBody.readableBytes == 0 { gatheredBody = chunk } else { gatheredBody.writeBuffer(&chunk) }
            return nil
        }
        // Never held back: the chunks of one upstream read are flushed together at its end
        // (``answerFlush()``); the upstream is read again once they are written.
        unflushed = true
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeLinkFrame(.responseBody(chunk), flush: false, promise: written)
        return written.futureResult
    }

    func answerFlush() {
        guard unflushed, let context else { return }
        unflushed = false
        context.flush()
    }

    func answerEnd() {
        guard case .forwarding = state else { return }
        state = .idle
        unflushed = false
        call = nil
        var frames = gatheredFrames()
        frames.append(.responseEnd)
        context?.writeLinkFrames(&frames, flush: true)
    }

    func answerFailed(_ error: GatewayError) {
        guard case .forwarding = state else { return }
        state = .idle
        unflushed = false
        call = nil
        var frames = gatheredFrames()
        frames.append(.failure(LinkMessages.encodeFailure(error)))
        context?.writeLinkFrames(&frames, flush: true)
    }

    /// What was held back of a non-streamed answer, encoded to be written with its end: the
    /// head, and the body in frames of at most ``KeyholderLink/chunkSize`` (the reader refuses
    /// larger frames). Empty for a stream.
    private func gatheredFrames() -> LinkFrameWriter {
        defer {
            gatheredHead = nil
            gatheredBody = ByteBuffer()
        }
        guard let head = gatheredHead else { return LinkFrameWriter(capacity: 64) }
        var frames = LinkFrameWriter(capacity: LinkFrameWriter.capacity(head: head, bodySize: gatheredBody.readableBytes))
        frames.append(.responseHead(head))
        while gatheredBody.readableBytes > 0,
            let slice = gatheredBody.readSlice(length: min(KeyholderLink.chunkSize, gatheredBody.readableBytes))
        {
            frames.append(.responseBody(slice))
        }
        return frames
    }

    private func write(_ frame: LinkFrame, flush: Bool) {
        context?.writeLinkFrame(frame, flush: flush)
    }

    // MARK: Closing

    private func closeNow() {
        state = .closed
        context?.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        // The front closing the connection is how it cancels: stop the request in flight.
        call?.cancel()
        call = nil
        open.remove(context.channel)
        server.logger.debug("keyholder link closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        server.logger.debug("keyholder link failed", metadata: ["gatehouse.egress.error": .string("\(type(of: error))")])
        closeNow()
    }
}

/// The keyholder's open link connections, closed together when it stops.
final class OpenConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        channels.withLock { $0[ObjectIdentifier(channel)] = channel }
    }

    func remove(_ channel: any Channel) {
        _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    func closeAll() {
        for channel in channels.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }
}
