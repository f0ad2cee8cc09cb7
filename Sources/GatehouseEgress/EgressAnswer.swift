import GatehouseCore
import NIOCore
import NIOHTTP1

/// Receives one upstream answer, on the event loop its request was started on: a head,
/// then body chunks, then an end — or a failure at any point instead of what is left.
public protocol EgressAnswerSink: AnyObject {
    func answerHead(status: Int, headers: [(name: String, value: String)])
    /// One chunk of the body; the upstream is not read further until the returned future
    /// (if any) completes.
    func answerBody(_ chunk: ByteBuffer) -> EventLoopFuture<Void>?
    /// The chunks of one upstream read have all been given: send on what is held.
    func answerFlush()
    func answerEnd()
    func answerFailed(_ error: GatewayError)
}

/// A request under way upstream.
public struct EgressCall: Sendable {
    let call: UpstreamCall

    /// Stops the request (closing its upstream connection); the sink hears nothing more of it.
    public func cancel() { call.cancel() }
}

/// Hands the upstream client's events for one request to a sink, enforcing the answer's size
/// cap and recording the request once its head arrives. Runs on one event loop.
final class EgressAnswer: UpstreamResponseSink {
    private let keyholder: Keyholder
    private let provider: String
    private let origin: String
    private let sink: any EgressAnswerSink
    /// The request, for cancelling it when its answer grows too large.
    weak var call: UpstreamCall?
    private var received = 0
    private var sawHead = false

    init(keyholder: Keyholder, provider: String, origin: String, sink: any EgressAnswerSink) {
        self.keyholder = keyholder
        self.provider = provider
        self.origin = origin
        self.sink = sink
    }

    func upstreamHead(_ head: HTTPResponseHead) {
        sawHead = true
        let status = Int(head.status.code)
        keyholder.metrics.requests.add([provider, String(status)])
        keyholder.record(.egressRequest, ["provider": .string(provider), "origin": .string(origin), "status": .int(status)])
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(head.headers.count)
        for header in head.headers { headers.append((header.name.lowercased(), header.value)) }
        sink.answerHead(status: status, headers: headers)
    }

    func upstreamBody(_ buffer: ByteBuffer) -> EventLoopFuture<Void>? {
        received += buffer.readableBytes
        let limit = keyholder.limits.maxResponseBytes
        guard received <= limit else {
            keyholder.refuse("response_too_large", provider: provider, detail: "\(limit) bytes")
            call?.cancel()
            sink.answerFailed(
                GatewayError(.upstreamFailure, "The provider's answer exceeded \(limit) bytes.", code: .upstreamTooLarge))
            return nil
        }
        return sink.answerBody(buffer)
    }

    func upstreamReadComplete() {
        sink.answerFlush()
    }

    func upstreamEnd() {
        sink.answerEnd()
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        if sawHead {
            sink.answerFailed(
                GatewayError(.upstreamFailure, "The connection to the provider was lost mid-stream.", code: .upstreamStreamLost))
        } else {
            sink.answerFailed(keyholder.failure(failure, provider: provider))
        }
    }
}
