import GatehouseCore
import NIOCore

/// Adapter for the Google AI Gemini API (`generateContent`, `streamGenerateContent?alt=sse`).
public struct GeminiProvider: ChatProvider, EmbeddingProvider {
    public let dialect = WireDialect.gemini

    public init() {}

    public func makeChatRequest(_ request: ChatRequest, deployment: Deployment) throws -> PreparedRequest {
        let (body, dropped) = try GeminiRequestMapping.encode(request, deployment: deployment)
        let method = request.stream ? "streamGenerateContent" : "generateContent"
        return PreparedRequest(
            egress: EgressRequest(
                provider: deployment.provider, pathSegments: ["models", "\(deployment.upstreamModel):\(method)"],
                query: request.stream ? [("alt", "sse")] : [], headers: [("content-type", "application/json")],
                body: body.encodedBuffer(), isStreaming: request.stream),
            droppedFields: dropped)
    }

    public func decodeChatResponse(_ body: ByteBuffer, deployment: Deployment) throws -> ChatResponse {
        let value: JSONValue
        do { value = try JSONValue.decode(body) } catch { throw OpenAIProvider.malformed }
        return try GeminiResponseMapping.decode(value, deployment: deployment)
    }

    public func makeStreamDecoder(deployment: Deployment) -> any ProviderStreamDecoder {
        GeminiStreamDecoder(deployment: deployment)
    }

    public func mapError(status: Int, retryAfter: String?, body: ByteBuffer) -> GatewayError {
        let message = (try? JSONValue.decode(body))?["error"]?["message"]?.stringValue
        if status == 400, let lowered = message?.lowercased(),
            lowered.contains("exceeds the maximum number of tokens") || lowered.contains("input token count")
        {
            return UpstreamErrorMapping.contextWindowExceeded(provider: "Gemini")
        }
        return UpstreamErrorMapping.map(status: status, retryAfter: retryAfter, upstreamMessage: message, provider: "Gemini")
    }

    public func makeEmbeddingRequest(_ request: EmbeddingRequest, deployment: Deployment) throws -> PreparedRequest {
        let requests: [JSONValue] = request.inputs.map { input in
            var item = JSONObjectBuilder()
            item.set("model", "models/\(deployment.upstreamModel)")
            item["content"] = .object(["parts": .array([.object(["text": .string(input)])])])
            item.set("outputDimensionality", request.dimensions)
            return item.value
        }
        return PreparedRequest(
            egress: EgressRequest(
                provider: deployment.provider, pathSegments: ["models", "\(deployment.upstreamModel):batchEmbedContents"],
                headers: [("content-type", "application/json")],
                body: JSONValue.object(["requests": .array(requests)]).encodedBuffer()))
    }

    public func decodeEmbeddingResponse(_ body: ByteBuffer, deployment: Deployment) throws -> EmbeddingResponse {
        guard let value = try? JSONValue.decode(body), let embeddings = value["embeddings"]?.arrayValue else {
            throw OpenAIProvider.malformed
        }
        let vectors = embeddings.map { item in (item["values"]?.arrayValue ?? []).map { Float($0.doubleValue ?? 0) } }
        return EmbeddingResponse(model: deployment.upstreamModel, vectors: vectors, promptTokens: 0)
    }
}
