/// Reads an OpenAI chat completion request and writes its response and stream chunks.
enum OpenAIChat {
    struct ChatRequest {
        var input: ReplyInput
        var stream: Bool
        var includeUsage: Bool
    }

    static func parse(_ body: JSON) -> Result<ChatRequest, SimulatedError> {
        guard let model = body["model"]?.stringValue, !model.isEmpty else {
            return .failure(.invalidRequest("you must provide a model parameter"))
        }
        guard let messages = body["messages"]?.arrayValue, !messages.isEmpty else {
            return .failure(.invalidRequest("'messages' must be a non-empty array"))
        }
        var input = ReplyInput(model: model)
        var systemParts: [String] = []
        var words = 0
        for message in messages {
            let text = text(of: message["content"])
            words += Script.wordCount(text)
            let role = message["role"]?.stringValue
            if role == "system" || role == "developer" { systemParts.append(text) }
        }
        input.promptWords = words
        input.system = systemParts.isEmpty ? nil : systemParts.joined(separator: "\n")
        if let lastUser = messages.last(where: { $0["role"]?.stringValue == "user" }) {
            input.echo = text(of: lastUser["content"])
            input.images = lastUser["content"]?.arrayValue?.filter { $0["type"]?.stringValue == "image_url" }.count ?? 0
        }
        let trailingToolResults = messages.reversed().prefix { $0["role"]?.stringValue == "tool" }
        if !trailingToolResults.isEmpty {
            input.toolResult = trailingToolResults.reversed().map { text(of: $0["content"]) }.joined(separator: " ")
        }
        input.tools = (body["tools"]?.arrayValue ?? []).compactMap { tool in
            guard let function = tool["function"], let name = function["name"]?.stringValue else { return nil }
            return ToolSpec(name: name, schema: function["parameters"])
        }
        input.toolChoice = toolChoice(body["tool_choice"])
        let format = body["response_format"]?["type"]?.stringValue
        input.wantsJSON = format == "json_object" || format == "json_schema"
        if let stop = body["stop"]?.stringValue {
            input.stopSequences = [stop]
        } else {
            input.stopSequences = body["stop"]?.arrayValue?.compactMap(\.stringValue) ?? []
        }
        input.maxTokens = body["max_completion_tokens"]?.intValue ?? body["max_tokens"]?.intValue
        return .success(
            ChatRequest(
                input: input,
                stream: body["stream"]?.boolValue ?? false,
                includeUsage: body["stream_options"]?["include_usage"]?.boolValue ?? false
            ))
    }

    /// A content string, or its text parts joined with one space.
    static func text(of content: JSON?) -> String {
        if let text = content?.stringValue { return text }
        let parts = content?.arrayValue ?? []
        return parts.compactMap { part in part["type"]?.stringValue == "text" ? part["text"]?.stringValue : nil }
            .joined(separator: " ")
    }

    private static func toolChoice(_ value: JSON?) -> ToolChoice {
        switch value?.stringValue {
        case "none": return .none
        case "required": return .required
        case "auto": return .auto
        default: break
        }
        if let name = value?["function"]?["name"]?.stringValue { return .named([name]) }
        return .auto
    }

    static func finishReason(_ finish: ReplyPlan.Finish) -> String {
        switch finish {
        case .endTurn, .stopSequence: "stop"
        case .length: "length"
        case .toolCalls: "tool_calls"
        }
    }

    static func usage(_ plan: ReplyPlan) -> JSON {
        [
            "prompt_tokens": .int(plan.promptTokens),
            "completion_tokens": .int(plan.completionTokens),
            "total_tokens": .int(plan.promptTokens + plan.completionTokens),
        ]
    }

    static func completion(_ plan: ReplyPlan, model: String, id: String, created: Int) -> JSON {
        var message: [(key: String, value: JSON)] = [
            (key: "role", value: "assistant"),
            (key: "content", value: plan.toolCalls.isEmpty ? .string(plan.text) : .null),
        ]
        if !plan.toolCalls.isEmpty {
            let calls = plan.toolCalls.enumerated().map { index, call -> JSON in
                [
                    "id": .string("call_sim_\(index)"), "type": "function",
                    "function": ["name": .string(call.name), "arguments": .string(call.argumentsText)],
                ]
            }
            message.append((key: "tool_calls", value: .array(calls)))
        }
        message.append((key: "refusal", value: nil))
        let choice: JSON = [
            "index": 0, "message": .object(message), "logprobs": nil,
            "finish_reason": .string(finishReason(plan.finish)),
        ]
        return [
            "id": .string(id), "object": "chat.completion", "created": .int(created), "model": .string(model),
            "choices": [choice], "usage": usage(plan), "system_fingerprint": "fp_sim",
        ]
    }

    static func chunks(_ plan: ReplyPlan, model: String, id: String, created: Int, includeUsage: Bool)
        -> [StreamEvent]
    {
        func chunk(_ choices: JSON, usage: JSON? = nil) -> JSON {
            var members: [(key: String, value: JSON)] = [
                (key: "id", value: .string(id)), (key: "object", value: "chat.completion.chunk"),
                (key: "created", value: .int(created)), (key: "model", value: .string(model)),
                (key: "system_fingerprint", value: "fp_sim"), (key: "choices", value: choices),
            ]
            if includeUsage { members.append((key: "usage", value: usage ?? .null)) }
            return .object(members)
        }
        func delta(_ delta: JSON, finish: String? = nil) -> JSON {
            chunk([["index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish.map(JSON.string) ?? .null]])
        }
        var events = [StreamEvent(delta(["role": "assistant", "content": ""]))]
        for piece in plan.textPieces {
            events.append(StreamEvent(delta(["content": .string(piece)]), carriesContent: true))
        }
        for (index, call) in plan.toolCalls.enumerated() {
            let start: JSON = [
                "index": .int(index), "id": .string("call_sim_\(index)"), "type": "function",
                "function": ["name": .string(call.name), "arguments": ""],
            ]
            events.append(StreamEvent(delta(["tool_calls": [start]]), carriesContent: true))
            for fragment in Script.fragments(of: call.argumentsText) {
                let piece: JSON = ["index": .int(index), "function": ["arguments": .string(fragment)]]
                events.append(StreamEvent(delta(["tool_calls": [piece]]), carriesContent: true))
            }
        }
        events.append(StreamEvent(delta([:], finish: finishReason(plan.finish))))
        if includeUsage {
            events.append(StreamEvent(chunk([], usage: usage(plan))))
        }
        events.append(StreamEvent(rawData: "[DONE]"))
        return events
    }
}
