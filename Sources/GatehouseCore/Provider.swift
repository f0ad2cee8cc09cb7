import NIOCore

/// The wire formats the gateway speaks, on either side.
public enum WireDialect: String, Sendable {
    case openAI = "openai"
    case anthropic
    case gemini
}

/// The kinds of provider an operator can configure.
public enum ProviderKind: String, Sendable, CaseIterable {
    case openAI = "openai"
    case openAICompatible = "openai-compatible"
    case anthropic
    case gemini

    public var dialect: WireDialect {
        switch self {
        case .openAI, .openAICompatible: return .openAI
        case .anthropic: return .anthropic
        case .gemini: return .gemini
        }
    }

    /// The public API base URL used when the configuration names none.
    public var defaultBaseURL: String? {
        switch self {
        case .openAI: return "https://api.openai.com/v1"
        case .anthropic: return "https://api.anthropic.com"
        case .gemini: return "https://generativelanguage.googleapis.com/v1beta"
        case .openAICompatible: return nil
        }
    }
}

/// A public model name bound to one provider's model: one of the deployments a model routes to.
public struct Deployment: Sendable, Equatable {
    /// The name callers use.
    public var publicName: String
    /// The deployment's name, unique within its model (shown to operators; never a URL).
    public var name: String
    /// The configured provider's name.
    public var provider: String
    public var kind: ProviderKind
    /// The provider's own model name.
    public var upstreamModel: String
    /// `max_tokens` sent to providers that require one when the caller gave none.
    public var defaultMaxTokens: Int

    public init(
        publicName: String, name: String? = nil, provider: String, kind: ProviderKind, upstreamModel: String,
        defaultMaxTokens: Int = 4096
    ) {
        self.publicName = publicName
        self.name = name ?? provider
        self.provider = provider
        self.kind = kind
        self.upstreamModel = upstreamModel
        self.defaultMaxTokens = defaultMaxTokens
    }
}

/// An encoded provider request plus the names of request fields the provider
/// cannot take and that were therefore dropped (reported to the caller).
public struct PreparedRequest: Sendable {
    public var egress: EgressRequest
    public var droppedFields: [String]

    public init(egress: EgressRequest, droppedFields: [String] = []) {
        self.egress = egress
        self.droppedFields = droppedFields
    }
}

/// Turns a provider's stream of server-sent events into gateway stream events.
/// A pure state machine: no I/O.
public protocol ProviderStreamDecoder: Sendable {
    /// Decodes one event. Throws `GatewayError` for a malformed or error event.
    mutating func decode(_ event: SSEEvent) throws -> [StreamEvent]
    /// Called when the provider's stream ends; returns trailing events.
    /// Throws when the stream ended before the provider said it was complete.
    mutating func finish() throws -> [StreamEvent]
    /// For a stream passed to the caller unchanged: the usage an event reports, with the
    /// same checks as ``decode(_:)`` (malformed and error events throw; ``finish()`` still
    /// knows whether the stream completed). A decoder may skip building the events of
    /// content deltas, which carry nothing else the gateway needs.
    mutating func observe(_ event: SSEEvent) throws -> Usage?
}

extension ProviderStreamDecoder {
    public mutating func observe(_ event: SSEEvent) throws -> Usage? {
        var usage: Usage?
        for case .usage(let value) in try decode(event) { usage = value }
        return usage
    }
}

/// A provider adapter's chat capability: pure translation between the internal
/// types and one provider's wire format. It never sees a key and never does I/O.
public protocol ChatProvider: Sendable {
    var dialect: WireDialect { get }
    func makeChatRequest(_ request: ChatRequest, deployment: Deployment) throws -> PreparedRequest
    func decodeChatResponse(_ body: ByteBuffer, deployment: Deployment) throws -> ChatResponse
    func makeStreamDecoder(deployment: Deployment) -> any ProviderStreamDecoder
    /// Maps a non-2xx upstream answer to a gateway error. Never forwards the body unsanitised.
    func mapError(status: Int, retryAfter: String?, body: ByteBuffer) -> GatewayError
}

/// The request path for a same-dialect pass-through (bytes forwarded, model rewritten).
public protocol PassThroughProvider: ChatProvider {
    func passThroughChatRequest(body: ByteBuffer, deployment: Deployment, stream: Bool, headers: [(name: String, value: String)]) -> EgressRequest
    /// Token counts from a complete native response body.
    func usage(inResponse body: ByteBuffer) -> Usage?
}

/// An embeddings request, in the gateway's vocabulary.
public struct EmbeddingRequest: Sendable, Equatable {
    public var model: String
    public var inputs: [String]
    public var dimensions: Int?
    /// `float` or `base64`, as the caller asked.
    public var encodingFormat: String

    public init(model: String, inputs: [String], dimensions: Int? = nil, encodingFormat: String = "float") {
        self.model = model
        self.inputs = inputs
        self.dimensions = dimensions
        self.encodingFormat = encodingFormat
    }
}

public struct EmbeddingResponse: Sendable, Equatable {
    public var model: String
    public var vectors: [[Float]]
    public var promptTokens: Int

    public init(model: String, vectors: [[Float]], promptTokens: Int) {
        self.model = model
        self.vectors = vectors
        self.promptTokens = promptTokens
    }
}

/// A provider adapter's embeddings capability.
public protocol EmbeddingProvider: Sendable {
    func makeEmbeddingRequest(_ request: EmbeddingRequest, deployment: Deployment) throws -> PreparedRequest
    func decodeEmbeddingResponse(_ body: ByteBuffer, deployment: Deployment) throws -> EmbeddingResponse
}

/// Shared upstream-status mapping: what a caller sees for each class of upstream failure.
public enum UpstreamErrorMapping {
    /// A provider's "the prompt is too long for this model" (the router's context-window fallbacks answer it).
    public static func contextWindowExceeded(provider: String) -> GatewayError {
        GatewayError(
            .invalidRequest, "The prompt is too long for the model's context window (\(provider) provider).",
            code: .contextWindowExceeded, param: "messages")
    }

    public static func map(status: Int, retryAfter: String?, upstreamMessage: String?, provider: String) -> GatewayError {
        let detail = upstreamMessage.map { ": " + SecretRedactor.redact($0) } ?? "."
        switch status {
        case 429:
            return GatewayError(.rateLimited, "The \(provider) provider is rate limiting requests\(detail)", code: .upstreamRateLimited, retryAfter: retryAfter)
        case 400, 413, 422:
            return GatewayError(.invalidRequest, "The \(provider) provider rejected the request\(detail)", code: .upstreamRejected)
        case 401, 403:
            // Upstream auth failures often echo part of the key: never pass their text on.
            return GatewayError(.upstreamFailure, "The \(provider) provider refused the gateway's credentials.", code: .upstreamAuthFailed)
        case 404:
            return GatewayError(.upstreamFailure, "The \(provider) provider does not know the configured model.", code: .upstreamNotFound)
        case 408, 504:
            return GatewayError(.upstreamTimeout, "The \(provider) provider timed out.", code: .upstreamTimeout)
        case 503, 529:
            return GatewayError(.upstreamUnavailable, "The \(provider) provider is unavailable\(detail)", code: .upstreamUnavailable, retryAfter: retryAfter)
        default:
            return GatewayError(.upstreamFailure, "The \(provider) provider failed (status \(status))\(detail)", code: .upstreamError)
        }
    }
}
