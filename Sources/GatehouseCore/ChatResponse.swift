/// The gateway's internal, complete (non-streaming) chat response.
public struct ChatResponse: Sendable, Equatable {
    public var id: String
    public var model: String
    public var created: Int
    public var text: String?
    public var toolCalls: [ToolCall]
    public var finishReason: FinishReason
    public var usage: Usage?

    public init(
        id: String, model: String, created: Int, text: String?, toolCalls: [ToolCall] = [],
        finishReason: FinishReason, usage: Usage?
    ) {
        self.id = id
        self.model = model
        self.created = created
        self.text = text
        self.toolCalls = toolCalls
        self.finishReason = finishReason
        self.usage = usage
    }
}

/// Why generation stopped, in the gateway's vocabulary.
public enum FinishReason: Sendable, Equatable {
    case stop
    /// A caller-supplied stop sequence matched (Anthropic reports which one).
    case stopSequence(String?)
    case length
    case toolCalls
    case contentFilter
    /// A provider-specific reason with no equivalent; kept for logs.
    case other(String)

    public var openAIValue: String {
        switch self {
        case .stop, .stopSequence, .other: return "stop"
        case .length: return "length"
        case .toolCalls: return "tool_calls"
        case .contentFilter: return "content_filter"
        }
    }

    public var anthropicValue: String {
        switch self {
        case .stop, .other, .contentFilter: return "end_turn"
        case .stopSequence: return "stop_sequence"
        case .length: return "max_tokens"
        case .toolCalls: return "tool_use"
        }
    }
}

/// Token counts reported by a provider.
///
/// `promptTokens` counts every input token, those read from and written to a prompt cache
/// included (OpenAI's and Gemini's convention; Anthropic reports the three apart and is added up).
public struct Usage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// Input tokens read from the provider's prompt cache (part of `promptTokens`).
    public var cachedPromptTokens: Int
    /// Input tokens written to the provider's prompt cache (part of `promptTokens`; Anthropic only).
    public var cacheWriteTokens: Int

    public init(promptTokens: Int, completionTokens: Int, cachedPromptTokens: Int = 0, cacheWriteTokens: Int = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedPromptTokens = cachedPromptTokens
        self.cacheWriteTokens = cacheWriteTokens
    }

    public var totalTokens: Int { promptTokens + completionTokens }
}

/// One event of a response stream, in the gateway's vocabulary. Provider stream
/// decoders produce these; ingress stream encoders consume them.
public enum StreamEvent: Sendable, Equatable {
    /// The response begins.
    case start(id: String, model: String)
    case textDelta(String)
    /// A tool call begins; `index` counts tool calls from 0 within the response.
    case toolCallStart(index: Int, id: String, name: String)
    case toolCallArguments(index: Int, fragment: String)
    case finish(FinishReason)
    case usage(Usage)
}
