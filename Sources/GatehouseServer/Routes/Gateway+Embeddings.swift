import GatehouseCore
import GatehouseProviders
import NIOCore
import NIOHTTP1

extension Gateway {
    /// `POST /v1/embeddings` (OpenAI dialect): passed through to OpenAI-compatible
    /// providers, translated for Gemini, refused for providers without embeddings.
    func embeddings(_ request: FrontRequest) async -> FrontResponse {
        var exchange = Exchange(id: Self.makeRequestID(), dialect: .openAI, started: .now)
        do {
            let principal = try authenticate(request, exchange: &exchange)
            let body = try await readBody(request)
            exchange.received(body)
            let members = try Self.scanBody(body)
            try refuseRoutingOverrides(request, members: members)
            let model = try Self.model(in: members, body: body)
            exchange.model = model
            let deployment = try authorize(model: model, principal: principal, exchange: exchange)
            exchange.deployment = deployment
            let chatProvider = ProviderRegistry.chatProvider(for: deployment.kind)
            if deployment.kind.dialect == .openAI {
                exchange.mode = "pass-through"
                let outbound = members.replacing("model", with: JSONValue.string(deployment.upstreamModel).compactText(), in: body)
                let upstream = try await egress.send(
                    EgressRequest(
                        provider: deployment.provider, pathSegments: ["embeddings"], headers: [("content-type", "application/json")],
                        body: outbound))
                guard (200..<300).contains(upstream.status) else { throw await upstreamError(upstream, provider: chatProvider) }
                let answer = try await readUpstreamBody(upstream)
                if let tokens = (try? JSONTopLevel(scanning: answer))?.value(of: "usage", in: answer)?["prompt_tokens"]?.intValue {
                    exchange.usage = Usage(promptTokens: tokens, completionTokens: 0)
                }
                exchange.sent(answer)
                finish(exchange, status: 200)
                return .json(.ok, answer, requestID: exchange.id)
            }
            guard let embedder = ProviderRegistry.embeddingProvider(for: deployment.kind) else {
                throw GatewayError(
                    .invalidRequest, "The model '\(model)' is served by a \(deployment.kind.rawValue) provider, which has no embeddings API.",
                    code: "unsupported_operation", param: "model")
            }
            let embeddingRequest = try OpenAIDialect.decodeEmbeddingRequest(body)
            let prepared = try embedder.makeEmbeddingRequest(embeddingRequest, deployment: deployment)
            let upstream = try await egress.send(prepared.egress)
            guard (200..<300).contains(upstream.status) else { throw await upstreamError(upstream, provider: chatProvider) }
            let answer = try await readUpstreamBody(upstream)
            let embeddings = try embedder.decodeEmbeddingResponse(answer, deployment: deployment)
            exchange.usage = Usage(promptTokens: embeddings.promptTokens, completionTokens: 0)
            let encoded = OpenAIDialect.encodeEmbeddingResponse(embeddings, model: deployment.publicName, format: embeddingRequest.encodingFormat)
            exchange.sent(encoded)
            finish(exchange, status: 200)
            return .json(.ok, encoded, requestID: exchange.id)
        } catch {
            return failure(error, exchange: exchange)
        }
    }
}
