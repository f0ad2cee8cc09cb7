import GatehouseCore
import NIOCore

/// Adapter for OpenAI and every OpenAI-compatible server (vLLM, Ollama, Groq, …).
public struct OpenAIProvider: PassThroughProvider, EmbeddingProvider {
    public let dialect = WireDialect.openAI

    public init() {}

    public func makeChatRequest(_ request: ChatRequest, deployment: Deployment) throws -> PreparedRequest {
        let body = OpenAIRequestMapping.encode(request, model: deployment.upstreamModel)
        // Unknown fields and `top_k` came from another dialect (same-dialect requests pass through): none apply here.
        return PreparedRequest(
            egress: EgressRequest(
                provider: deployment.provider, pathSegments: ["chat", "completions"],
                headers: [("content-type", "application/json")], body: body.encodedBuffer(), isStreaming: request.stream),
            droppedFields: (request.extra.keys.sorted() + (request.topK != nil ? ["top_k"] : [])).sorted())
    }

    public func passThroughChatRequest(
        body: ByteBuffer, deployment: Deployment, stream: Bool, headers: [(name: String, value: String)]
    ) -> EgressRequest {
        EgressRequest(
            provider: deployment.provider, pathSegments: ["chat", "completions"],
            headers: [("content-type", "application/json")], body: body, isStreaming: stream)
    }

    public func decodeChatResponse(_ body: ByteBuffer, deployment: Deployment) throws -> ChatResponse {
        let value: JSONValue
        do { value = try JSONValue.decode(body) } catch { throw Self.malformed }
        return try OpenAIResponseMapping.decode(value, deployment: deployment)
    }

    /// The usage of a complete answer; decodes only its top-level `usage` member.
    public func usage(inResponse body: ByteBuffer) -> Usage? {
        guard let members = try? JSONTopLevel(scanning: body) else { return nil }
        return OpenAIResponseMapping.decodeUsage(members.value(of: "usage", in: body))
    }

    public func makeStreamDecoder(deployment: Deployment) -> any ProviderStreamDecoder {
        OpenAIStreamDecoder(deployment: deployment)
    }

    public func mapError(status: Int, retryAfter: String?, body: ByteBuffer) -> GatewayError {
        let error = (try? JSONValue.decode(body))?["error"]
        if status == 400, error?["code"]?.stringValue == "context_length_exceeded" {
            return UpstreamErrorMapping.contextWindowExceeded(provider: "OpenAI-compatible")
        }
        let message = error?["message"]?.stringValue
        return UpstreamErrorMapping.map(status: status, retryAfter: retryAfter, upstreamMessage: message, provider: "OpenAI-compatible")
    }

    public func makeEmbeddingRequest(_ request: EmbeddingRequest, deployment: Deployment) throws -> PreparedRequest {
        var body = JSONObjectBuilder()
        body.set("model", deployment.upstreamModel)
        body["input"] = .array(request.inputs.map(JSONValue.string))
        body.set("dimensions", request.dimensions)
        body.set("encoding_format", "float")
        return PreparedRequest(
            egress: EgressRequest(
                provider: deployment.provider, pathSegments: ["embeddings"], headers: [("content-type", "application/json")],
                body: body.value.encodedBuffer()))
    }

    public func decodeEmbeddingResponse(_ body: ByteBuffer, deployment: Deployment) throws -> EmbeddingResponse {
        guard let value = try? JSONValue.decode(body), let data = value["data"]?.arrayValue else { throw Self.malformed }
        let vectors = data.map { item in (item["embedding"]?.arrayValue ?? []).map { Float($0.doubleValue ?? 0) } }
        return EmbeddingResponse(
            model: value["model"]?.stringValue ?? deployment.upstreamModel, vectors: vectors,
            promptTokens: value["usage"]?["prompt_tokens"]?.intValue ?? 0)
    }

    static let malformed = GatewayError(.upstreamFailure, "The provider returned a malformed response.", code: .upstreamMalformed)
}
