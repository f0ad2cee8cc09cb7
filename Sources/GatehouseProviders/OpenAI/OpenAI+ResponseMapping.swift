import GatehouseCore

/// OpenAI Chat Completions response ⇄ internal response.
enum OpenAIResponseMapping {
    static func finishReason(_ value: String?) -> FinishReason {
        switch value {
        case "stop", nil: return .stop
        case "length": return .length
        case "tool_calls", "function_call": return .toolCalls
        case "content_filter": return .contentFilter
        case let other?: return .other(other)
        }
    }

    static func decodeUsage(_ value: JSONValue?) -> Usage? {
        guard let value, let object = value.objectValue else { return nil }
        return Usage(
            promptTokens: object["prompt_tokens"]?.intValue ?? 0, completionTokens: object["completion_tokens"]?.intValue ?? 0,
            cachedPromptTokens: max(0, object["prompt_tokens_details"]?["cached_tokens"]?.intValue ?? 0))
    }

    static func encodeUsage(_ usage: Usage) -> JSONValue {
        var object: [String: JSONValue] = [
            "prompt_tokens": .int(Int64(usage.promptTokens)), "completion_tokens": .int(Int64(usage.completionTokens)),
            "total_tokens": .int(Int64(usage.totalTokens)),
        ]
        if usage.cachedPromptTokens > 0 {
            object["prompt_tokens_details"] = .object(["cached_tokens": .int(Int64(usage.cachedPromptTokens))])
        }
        return .object(object)
    }

    // MARK: Provider: OpenAI wire → internal

    static func decode(_ body: JSONValue, deployment: Deployment) throws -> ChatResponse {
        let root = try JSONObjectReader(body, path: "")
        guard let choices = try root.array("choices"), let first = choices.first else {
            throw GatewayError(.upstreamFailure, "The provider's response has no choices.", code: .upstreamMalformed)
        }
        let choice = try JSONObjectReader(first, path: "choices[0]")
        let message = try choice.object("message")
        var toolCalls: [ToolCall] = []
        for call in try message?.array("tool_calls") ?? [] {
            let reader = try JSONObjectReader(call, path: "tool_call")
            let function = try reader.object("function")
            toolCalls.append(
                ToolCall(
                    id: try reader.string("id") ?? "call_\(toolCalls.count)", name: try function?.string("name") ?? "",
                    arguments: try function?.string("arguments") ?? "{}"))
        }
        return ChatResponse(
            id: try root.string("id") ?? "chatcmpl-gatehouse", model: try root.string("model") ?? deployment.upstreamModel,
            created: try root.int("created") ?? 0, text: try message?.string("content"), toolCalls: toolCalls,
            finishReason: finishReason(try choice.string("finish_reason")), usage: decodeUsage(root["usage"]))
    }

    // MARK: Ingress: internal → OpenAI wire

    static func encode(_ response: ChatResponse, model: String) -> JSONValue {
        var message = JSONObjectBuilder()
        message.set("role", "assistant")
        message["content"] = response.text.map(JSONValue.string) ?? .null
        message["refusal"] = .null
        if !response.toolCalls.isEmpty {
            message["tool_calls"] = .array(
                response.toolCalls.map { call in
                    .object([
                        "id": .string(call.id), "type": .string("function"),
                        "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)]),
                    ])
                })
        }
        var body = JSONObjectBuilder()
        body.set("id", response.id)
        body.set("object", "chat.completion")
        body.set("created", response.created)
        body.set("model", model)
        body["choices"] = .array([
            .object([
                "index": .int(0), "message": message.value, "finish_reason": .string(response.finishReason.openAIValue),
                "logprobs": .null,
            ])
        ])
        if let usage = response.usage { body["usage"] = encodeUsage(usage) }
        return body.value
    }
}
