import Foundation
import GatehouseCore
import GatehousePolicy
import GatehouseProviders
import NIOCore
import NIOHTTP1

extension Gateway {
    /// Stage 6: the answer in the caller's dialect, with the route's headers. A whole answer
    /// is accounted for once written; a stream relays the rest of the provider's events.
    func respond(_ routed: Routed, call: Call, exchange: Exchange) -> FrontResponse {
        var exchange = exchange
        let deployment = routed.deployment
        var headers: HTTPHeaders = [
            "x-request-id": exchange.id, "x-gatehouse-deployment": deployment.publicName + "/" + deployment.name,
            "x-gatehouse-attempts": String(exchange.attempts.count),
        ]
        for header in exchange.admission?.headers ?? [] { headers.add(name: header.name, value: header.value) }
        switch routed.answer {
        case .whole(let whole, let dropped):
            if !dropped.isEmpty {
                headers.add(name: "x-gatehouse-dropped-params", value: dropped.joined(separator: ","))
            }
            headers.add(name: "content-type", value: "application/json")
            exchange.usage = whole.usage
            if let usage = whole.usage {
                headers.add(
                    name: "x-gatehouse-cost-usd", value: accounting.cost(of: usage, deployment: deployment).description)
            }
            let body = encode(whole, deployment: deployment, dialect: call.dialect)
            exchange.answer = body
            var response = FrontResponse(status: .ok, headers: headers, body: .buffer(body))
            response.afterWrite = { [self, exchange] in finish(exchange, status: 200) }
            return response
        case .stream(let relay, let first, let dropped):
            if !dropped.isEmpty {
                headers.add(name: "x-gatehouse-dropped-params", value: dropped.joined(separator: ","))
            }
            headers.add(name: "content-type", value: "text/event-stream")
            headers.add(name: "cache-control", value: "no-cache")
            let body: FrontResponse.Body = .stream { [self, exchange] writer in
                try await relayStream(relay, first: first, to: writer, exchange: exchange)
            }
            return FrontResponse(status: .ok, headers: headers, body: body)
        }
    }

    /// A whole answer's bytes for the caller.
    func encode(_ whole: WholeAnswer, deployment: Deployment, dialect: IngressDialect) -> ByteBuffer {
        switch whole {
        case .native(let body, _):
            return body
        case .chat(var response):
            switch dialect {
            case .openAI:
                if response.created == 0 { response.created = Int(Date().timeIntervalSince1970) }
                return OpenAIDialect.encodeChatResponse(response, model: deployment.publicName)
            case .anthropic:
                return AnthropicDialect.encodeChatResponse(response, model: deployment.publicName)
            }
        case .embeddings(let response, let format):
            return OpenAIDialect.encodeEmbeddingResponse(response, model: deployment.publicName, format: format)
        }
    }

    /// Writes a committed stream to the caller: its first piece, then the rest as it comes.
    /// A failure after that ends the stream with an error event in the caller's dialect (never
    /// another model's answer spliced in).
    func relayStream(_ relay: StreamRelay, first: ByteBuffer, to writer: any FrontBodyWriter, exchange: Exchange)
        async throws
    {
        var exchange = exchange
        var relay = relay
        do {
            try await Self.emit(first, to: writer, exchange: &exchange)
            while let out = try await relay.next() {
                try await Self.emit(out, to: writer, exchange: &exchange)
            }
            exchange.usage = relay.usage
            if !relay.verdict.isEmpty {
                exchange.guardrails = (exchange.guardrails ?? GuardrailVerdict()).merged(with: relay.verdict)
            }
            finish(exchange, status: 200)
        } catch {
            exchange.usage = relay.usage
            if !relay.verdict.isEmpty {
                exchange.guardrails = (exchange.guardrails ?? GuardrailVerdict()).merged(with: relay.verdict)
            }
            guard let failure = Self.streamFailure(error) else {
                finish(
                    exchange, status: 499,
                    error: GatewayError(.invalidRequest, "client went away", code: .clientDisconnected))
                throw error
            }
            try await Self.emit(
                ByteBuffer(string: relay.errorEncoder.encodeError(failure)), to: writer, exchange: &exchange)
            finish(exchange, status: 200, error: failure)
        }
    }

    /// Thrown when writing to the caller fails: the caller has gone, so the upstream is abandoned.
    struct CallerDisconnected: Error {}

    /// Sends bytes to the caller, then adds them to the answer's digest (and, after the first
    /// chunk, digests the prompt): hashing waits until the bytes are on their way.
    static func emit(_ buffer: ByteBuffer, to writer: any FrontBodyWriter, exchange: inout Exchange) async throws {
        guard buffer.readableBytes > 0 else { return }
        do {
            try await writer.write(buffer)
        } catch {
            throw CallerDisconnected()
        }
        exchange.sent(buffer)
        exchange.digestPrompt()
    }

    /// The error to report in-stream for a failure, or `nil` when the caller is gone
    /// (or the task was cancelled) and nothing more can be written.
    static func streamFailure(_ error: any Error) -> GatewayError? {
        switch error {
        case is CallerDisconnected, is CancellationError: return nil
        case let error as GatewayError: return error
        case let refusal as UpstreamRefusal: return refusal.error
        case is SSEParser.EventTooLarge:
            return GatewayError(
                .upstreamFailure, "The provider sent an oversized stream event.", code: .upstreamMalformed)
        default:
            return GatewayError(
                .upstreamFailure, "The connection to the provider was lost mid-stream.", code: .upstreamStreamLost)
        }
    }
}
