import GatehouseCore

/// The texts of a request that the input guardrails read: every message's text, the system
/// prompt, tool results, and embeddings' inputs, in either dialect.
enum PromptTexts {
    /// `body` with `transform` applied to each prompt text (in order).
    static func map(
        _ body: JSONValue, operation: Gateway.Call.Operation, dialect: IngressDialect, _ transform: (String) -> String
    ) -> JSONValue {
        guard case .object(var object) = body else { return body }
        switch operation {
        case .embeddings:
            if let input = object["input"] { object["input"] = strings(input, transform) }
        case .chat:
            if dialect == .anthropic, let system = object["system"] { object["system"] = content(system, transform) }
            if case .array(var messages)? = object["messages"] {
                for index in messages.indices {
                    guard case .object(var message) = messages[index], let value = message["content"] else { continue }
                    message["content"] = content(value, transform)
                    messages[index] = .object(message)
                }
                object["messages"] = .array(messages)
            }
        }
        return .object(object)
    }

    /// Every prompt text, for reading only.
    static func collect(_ body: JSONValue, operation: Gateway.Call.Operation, dialect: IngressDialect) -> [String] {
        var texts: [String] = []
        _ = map(body, operation: operation, dialect: dialect) { text in
            texts.append(text)
            return text
        }
        return texts
    }

    /// A string, or an array of strings (embeddings' `input`).
    private static func strings(_ value: JSONValue, _ transform: (String) -> String) -> JSONValue {
        switch value {
        case .string(let text): return .string(transform(text))
        case .array(let items):
            return .array(items.map { item in item.stringValue.map { .string(transform($0)) } ?? item })
        default: return value
        }
    }

    /// Message content: a string, or blocks/parts whose `text` is read (OpenAI text parts,
    /// Anthropic text blocks) and Anthropic tool results' own content.
    private static func content(_ value: JSONValue, _ transform: (String) -> String) -> JSONValue {
        switch value {
        case .string(let text):
            return .string(transform(text))
        case .array(let blocks):
            return .array(
                blocks.map { block in
                    guard case .object(var fields) = block else { return block }
                    if case .string(let text)? = fields["text"] { fields["text"] = .string(transform(text)) }
                    if fields["type"]?.stringValue == "tool_result", let inner = fields["content"] {
                        fields["content"] = content(inner, transform)
                    }
                    return .object(fields)
                })
        default:
            return value
        }
    }
}
