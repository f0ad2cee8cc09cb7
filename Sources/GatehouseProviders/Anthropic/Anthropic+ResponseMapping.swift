import GatehouseCore

/// Anthropic Messages response ⇄ internal response.
enum AnthropicResponseMapping {
    static func finishReason(_ value: String?, stopSequence: String?) -> FinishReason {
        switch value {
        case "end_turn", nil: return .stop
        case "max_tokens": return .length
        case "stop_sequence": return .stopSequence(stopSequence)
        case "tool_use": return .toolCalls
        case "refusal": return .contentFilter
        case let other?: return .other(other)
        }
    }

    static func decodeUsage(_ value: JSONValue?) -> Usage? {
        guard let object = value?.objectValue else { return nil }
        let written = max(0, object["cache_creation_input_tokens"]?.intValue ?? 0)
        let read = max(0, object["cache_read_input_tokens"]?.intValue ?? 0)
        let input = max(0, object["input_tokens"]?.intValue ?? 0) + written + read
        return Usage(
            promptTokens: input, completionTokens: object["output_tokens"]?.intValue ?? 0, cachedPromptTokens: read,
            cacheWriteTokens: written)
    }

    static func encodeUsage(_ usage: Usage?) -> JSONValue {
        let usage = usage ?? Usage(promptTokens: 0, completionTokens: 0)
        var object: [String: JSONValue] = [
            "input_tokens": .int(Int64(max(0, usage.promptTokens - usage.cachedPromptTokens - usage.cacheWriteTokens))),
            "output_tokens": .int(Int64(usage.completionTokens)),
        ]
        if usage.cachedPromptTokens > 0 { object["cache_read_input_tokens"] = .int(Int64(usage.cachedPromptTokens)) }
        if usage.cacheWriteTokens > 0 { object["cache_creation_input_tokens"] = .int(Int64(usage.cacheWriteTokens)) }
        return .object(object)
    }

    // MARK: Provider: Anthropic wire → internal

    static func decode(_ body: JSONValue, deployment: Deployment) throws -> ChatResponse {
        let root = try JSONObjectReader(body, path: "")
        var text: String?
        var toolCalls: [ToolCall] = []
        for block in try root.array("content") ?? [] {
            switch block["type"]?.stringValue {
            case "text": text = (text ?? "") + (block["text"]?.stringValue ?? "")
            case "tool_use":
                toolCalls.append(
                    ToolCall(
                        id: block["id"]?.stringValue ?? "toolu_\(toolCalls.count)", name: block["name"]?.stringValue ?? "",
                        arguments: (block["input"] ?? .object([:])).compactText()))
            default: continue
            }
        }
        return ChatResponse(
            id: try root.string("id") ?? "msg_gatehouse", model: try root.string("model") ?? deployment.upstreamModel,
            created: 0, text: text, toolCalls: toolCalls,
            finishReason: finishReason(try root.string("stop_reason"), stopSequence: try root.string("stop_sequence")),
            usage: decodeUsage(root["usage"]))
    }

    // MARK: Ingress: internal → Anthropic wire

    static func encode(_ response: ChatResponse, model: String) -> JSONValue {
        var content: [JSONValue] = []
        if let text = response.text, !text.isEmpty || response.toolCalls.isEmpty {
            content.append(.object(["type": .string("text"), "text": .string(text)]))
        }
        for call in response.toolCalls {
            let input = JSONValue.parse(call.arguments).flatMap { $0.objectValue != nil ? $0 : nil } ?? .object([:])
            content.append(.object(["type": .string("tool_use"), "id": .string(call.id), "name": .string(call.name), "input": input]))
        }
        var stopSequence: JSONValue = .null
        if case .stopSequence(let sequence?) = response.finishReason { stopSequence = .string(sequence) }
        return .object([
            "id": .string(messageID(response.id)), "type": .string("message"), "role": .string("assistant"),
            "model": .string(model), "content": .array(content),
            "stop_reason": .string(response.finishReason.anthropicValue), "stop_sequence": stopSequence,
            "usage": encodeUsage(response.usage),
        ])
    }

    static func messageID(_ id: String) -> String { id.hasPrefix("msg_") ? id : "msg_" + id }
}
