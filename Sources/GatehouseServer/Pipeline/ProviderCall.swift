import Foundation
import GatehouseCore
import GatehousePolicy
import GatehouseProviders
import NIOCore

extension Gateway {
    /// What one successful attempt produced: a whole answer, or a stream whose first piece
    /// has arrived (nothing has reached the caller yet in either case).
    enum UpstreamAnswer {
        case whole(WholeAnswer, droppedFields: [String])
        case stream(StreamRelay, first: ByteBuffer, droppedFields: [String])
    }

    /// A complete answer before it is encoded for the caller.
    enum WholeAnswer {
        /// The provider's own bytes (same dialect), validated as a complete JSON document.
        case native(ByteBuffer, usage: Usage?)
        case chat(ChatResponse)
        case embeddings(EmbeddingResponse, format: String)

        var usage: Usage? {
            switch self {
            case .native(_, let usage): return usage
            case .chat(let response): return response.usage
            case .embeddings(let response, _): return Usage(promptTokens: response.promptTokens, completionTokens: 0)
            }
        }
    }

    /// A provider's non-2xx answer, mapped, with how long it asked not to be called again.
    struct UpstreamRefusal: Error {
        let error: GatewayError
        let retryAfter: Duration?
    }

    /// The one place that calls a provider: one attempt of `call` at `deployment`, passed
    /// through when the provider speaks the caller's dialect, translated otherwise.
    func attempt(
        _ call: inout Call, deployment: Deployment, timeouts: RouteTimeouts, exchange: inout Exchange
    ) async throws -> UpstreamAnswer {
        let provider = ProviderRegistry.chatProvider(for: deployment.kind)
        switch call.operation {
        case .chat:
            // A stream whose text the output guardrails read is relayed as events, not bytes.
            let readsStream = call.stream && call.guardrails?.guardsOutput == true
            if provider.dialect == call.dialect.wire, !readsStream,
                let passThrough = provider as? any PassThroughProvider
            {
                exchange.mode = "pass-through"
                return try await passThroughChat(
                    call, deployment: deployment, provider: passThrough, timeouts: timeouts)
            }
            exchange.mode = "translate"
            let chat = try call.decodedChat()
            let prepared = try provider.makeChatRequest(chat, deployment: deployment)
            let upstream = try await send(prepared.egress, provider: provider, timeouts: timeouts)
            guard call.stream else {
                let body = try await readUpstreamBody(upstream)
                return .whole(
                    .chat(try provider.decodeChatResponse(body, deployment: deployment)),
                    droppedFields: prepared.droppedFields)
            }
            let encoder: any IngressStreamEncoder
            switch call.dialect {
            case .openAI:
                encoder = OpenAIDialect.makeStreamEncoder(
                    model: deployment.publicName, includeUsage: chat.includeUsage,
                    created: Int(Date().timeIntervalSince1970))
            case .anthropic:
                encoder = AnthropicDialect.makeStreamEncoder(model: deployment.publicName)
            }
            let relay = StreamRelay(
                mapping: .translate(encoder), decoder: provider.makeStreamDecoder(deployment: deployment),
                errorEncoder: encoder, body: upstream.body,
                textGuard: call.guardrails.map {
                    StreamTextGuard(
                        rules: $0.outputRules, vault: $0.vault, json: $0.json,
                        holdsAll: !$0.policy.webhooks(.output).isEmpty)
                },
                policyName: call.guardrails?.policy.name ?? "",
                finalCheck: call.guardrails.flatMap { streamWebhookCheck($0, model: deployment.publicName) })
            return try await start(relay, droppedFields: prepared.droppedFields)
        case .embeddings:
            if deployment.kind.dialect == .openAI {
                exchange.mode = "pass-through"
                let outbound = call.members.replacing(
                    "model", with: JSONValue.string(deployment.upstreamModel).compactText(), in: call.body)
                let request = EgressRequest(
                    provider: deployment.provider, pathSegments: ["embeddings"],
                    headers: [("content-type", "application/json")],
                    body: outbound)
                let answer = try await readUpstreamBody(try await send(request, provider: provider, timeouts: timeouts))
                guard let members = try? JSONTopLevel(scanning: answer) else { throw Self.malformedAnswer }
                let tokens = members.value(of: "usage", in: answer)?["prompt_tokens"]?.intValue
                return .whole(
                    .native(answer, usage: tokens.map { Usage(promptTokens: $0, completionTokens: 0) }),
                    droppedFields: [])
            }
            exchange.mode = "translate"
            guard let embedder = ProviderRegistry.embeddingProvider(for: deployment.kind) else {
                throw GatewayError(
                    .invalidRequest,
                    "The model '\(deployment.publicName)' is served by a \(deployment.kind.rawValue) provider, which has no embeddings API.",
                    code: .unsupportedOperation, param: "model")
            }
            let request = try call.decodedEmbedding()
            let prepared = try embedder.makeEmbeddingRequest(request, deployment: deployment)
            let answer = try await readUpstreamBody(
                try await send(prepared.egress, provider: provider, timeouts: timeouts))
            let embeddings = try embedder.decodeEmbeddingResponse(answer, deployment: deployment)
            return .whole(
                .embeddings(embeddings, format: request.encodingFormat), droppedFields: prepared.droppedFields)
        }
    }

    /// Same dialect: the caller's bytes go upstream unchanged except for the model name (and,
    /// for OpenAI streams, a request for the usage the gateway accounts with, whose extra chunk
    /// is then hidden from the caller).
    private func passThroughChat(
        _ call: Call, deployment: Deployment, provider: any PassThroughProvider, timeouts: RouteTimeouts
    ) async throws -> UpstreamAnswer {
        var replacements = [(key: "model", json: JSONValue.string(deployment.upstreamModel).compactText())]
        var hideUsageChunk = false
        let streamOptions = call.stream ? call.members.value(of: "stream_options", in: call.body) : nil
        if call.stream, call.dialect == .openAI, streamOptions?["include_usage"]?.boolValue != true {
            hideUsageChunk = true
            var options = streamOptions?.objectValue ?? [:]
            options["include_usage"] = .bool(true)
            replacements.append(("stream_options", JSONValue.object(options).compactText()))
        }
        // One copy of the body with every rewrite, without scanning it again.
        let outbound = call.members.replacing(replacements, in: call.body)
        let request = provider.passThroughChatRequest(
            body: outbound, deployment: deployment, stream: call.stream, headers: call.forwardedHeaders)
        let upstream = try await send(request, provider: provider, timeouts: timeouts)
        guard call.stream else {
            let answer = try await readUpstreamBody(upstream)
            // Forwarded as received, but only if it is a complete JSON document: a truncated
            // answer must not reach the caller as a 200. (Validated, not decoded.)
            guard (try? JSONTopLevel.validate(answer)) != nil else { throw Self.malformedAnswer }
            return .whole(.native(answer, usage: provider.usage(inResponse: answer)), droppedFields: [])
        }
        let errorEncoder: any IngressStreamEncoder =
            call.dialect == .openAI
            ? OpenAIDialect.makeStreamEncoder(model: deployment.publicName, includeUsage: false, created: 0)
            : AnthropicDialect.makeStreamEncoder(model: deployment.publicName)
        let relay = StreamRelay(
            mapping: .passThrough(hideUsageChunk: hideUsageChunk),
            decoder: provider.makeStreamDecoder(deployment: deployment),
            errorEncoder: errorEncoder, body: upstream.body)
        return try await start(relay, droppedFields: [])
    }

    /// Reads a stream's first piece: a stream that fails before it is still the attempt's failure.
    private func start(_ relay: StreamRelay, droppedFields: [String]) async throws -> UpstreamAnswer {
        var relay = relay
        let first: ByteBuffer
        do {
            first = try await relay.next() ?? ByteBuffer()
            if first.readableBytes == 0, relay.hasPendingFailure { _ = try await relay.next() }
        } catch {
            throw Self.streamFailure(error) ?? error
        }
        return .stream(relay, first: first, droppedFields: droppedFields)
    }

    static let malformedAnswer = GatewayError(
        .upstreamFailure, "The provider returned a malformed response.", code: .upstreamMalformed)

    /// Sends one request with the attempt's limits; a non-2xx answer is read (bounded), mapped and thrown.
    private func send(_ request: EgressRequest, provider: any ChatProvider, timeouts: RouteTimeouts) async throws
        -> EgressResponse
    {
        var request = request
        request.timeouts = timeouts
        let upstream = try await egress.send(request)
        guard (200..<300).contains(upstream.status) else {
            let body = (try? await upstream.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            let error = provider.mapError(
                status: upstream.status, retryAfter: upstream.header("retry-after"), body: body)
            throw UpstreamRefusal(error: error, retryAfter: RetryAfter.parse(upstream.headers))
        }
        return upstream
    }

    /// Reads a complete upstream answer within the size cap. A connection lost mid-body
    /// is the provider's failure (502), not the gateway's.
    func readUpstreamBody(_ response: EgressResponse) async throws -> ByteBuffer {
        do {
            return try await response.body.collect(upTo: limits.maxUpstreamBodyBytes)
        } catch let error as GatewayError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw GatewayError(
                .upstreamFailure, "The connection to the provider was lost before its answer was complete.",
                code: .upstreamIncomplete)
        }
    }
}
