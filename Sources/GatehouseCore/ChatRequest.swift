/// The gateway's internal chat request: what every ingress dialect decodes into and
/// every provider adapter encodes from. It models the union of what the supported
/// wire formats can express; anything else travels in `extra` with its dialect.
public struct ChatRequest: Sendable, Equatable {
    public var model: String
    public var messages: [Message]
    public var tools: [ToolDefinition]
    public var toolChoice: ToolChoice?
    public var parallelToolCalls: Bool?
    public var responseFormat: ResponseFormat?
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var stop: [String]
    public var maxTokens: Int?
    public var seed: Int?
    public var user: String?
    public var stream: Bool
    public var includeUsage: Bool
    /// Request fields the ingress dialect carried that the internal type does not model,
    /// kept verbatim. Providers of another dialect drop them and report their names.
    public var extra: [String: JSONValue]

    public init(
        model: String, messages: [Message], tools: [ToolDefinition] = [], toolChoice: ToolChoice? = nil,
        parallelToolCalls: Bool? = nil, responseFormat: ResponseFormat? = nil, temperature: Double? = nil,
        topP: Double? = nil, topK: Int? = nil, stop: [String] = [], maxTokens: Int? = nil, seed: Int? = nil,
        user: String? = nil, stream: Bool = false, includeUsage: Bool = false, extra: [String: JSONValue] = [:]
    ) {
        self.model = model
        self.messages = messages
        self.tools = tools
        self.toolChoice = toolChoice
        self.parallelToolCalls = parallelToolCalls
        self.responseFormat = responseFormat
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.stop = stop
        self.maxTokens = maxTokens
        self.seed = seed
        self.user = user
        self.stream = stream
        self.includeUsage = includeUsage
        self.extra = extra
    }

    /// The system prompt: the text of every system message, in order.
    public var systemText: String? {
        let parts = messages.filter { $0.role == .system }.map(\.text)
        return parts.isEmpty ? nil : parts.joined(separator: "\n")
    }
}

public enum Role: String, Sendable, Equatable {
    case system, user, assistant, tool
}

public struct Message: Sendable, Equatable {
    public var role: Role
    public var content: [ContentPart]
    /// Calls the assistant made (assistant messages only).
    public var toolCalls: [ToolCall]
    /// The call this message answers (tool messages only).
    public var toolCallID: String?
    /// A tool result that reports a failure (Anthropic `is_error`).
    public var isError: Bool

    public init(
        role: Role, content: [ContentPart], toolCalls: [ToolCall] = [], toolCallID: String? = nil,
        isError: Bool = false
    ) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
        self.isError = isError
    }

    /// The text parts joined without separators.
    public var text: String {
        content.compactMap { part in
            if case .text(let text) = part { return text }
            return nil
        }.joined()
    }
}

public enum ContentPart: Sendable, Equatable {
    case text(String)
    case image(ImageSource)
}

public enum ImageSource: Sendable, Equatable {
    /// A remote image by URL, with OpenAI's optional `detail` hint.
    case url(String, detail: String?)
    /// Inline image bytes, base64-encoded.
    case base64(mediaType: String, data: String)

    /// Parses an OpenAI `image_url.url`, which is either a URL or a `data:` URL.
    public static func fromOpenAIURL(_ url: String, detail: String?) -> ImageSource {
        if url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") {
            let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
            if header.hasSuffix(";base64") {
                let mediaType = String(header.dropLast(7))
                return .base64(mediaType: mediaType.isEmpty ? "image/png" : mediaType, data: String(url[url.index(after: comma)...]))
            }
        }
        return .url(url, detail: detail)
    }

    /// The OpenAI `image_url.url` form (`data:` URL for inline bytes).
    public var openAIURL: String {
        switch self {
        case .url(let url, _): return url
        case .base64(let mediaType, let data): return "data:\(mediaType);base64,\(data)"
        }
    }
}

public struct ToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The arguments as JSON text, exactly as the model produced them.
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

public struct ToolDefinition: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// JSON Schema of the arguments.
    public var parameters: JSONValue?
    public var strict: Bool?

    public init(name: String, description: String? = nil, parameters: JSONValue? = nil, strict: Bool? = nil) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.strict = strict
    }
}

public enum ToolChoice: Sendable, Equatable {
    case auto
    case none
    /// The model must call some tool.
    case required
    /// The model must call this tool.
    case tool(String)
}

public enum ResponseFormat: Sendable, Equatable {
    case text
    case jsonObject
    case jsonSchema(name: String, schema: JSONValue?, strict: Bool?)
}
