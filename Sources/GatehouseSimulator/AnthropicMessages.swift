/// Reads an Anthropic Messages request and writes its response and stream events.
enum AnthropicMessages {
    struct MessagesRequest {
        var input: ReplyInput
        var stream: Bool
    }

    static func parse(_ body: JSON) -> Result<MessagesRequest, SimulatedError> {
        guard let model = body["model"]?.stringValue, !model.isEmpty else {
            return .failure(.invalidRequest("model: Field required"))
        }
        guard let maxTokens = body["max_tokens"]?.intValue else {
            return .failure(.invalidRequest("max_tokens: Field required"))
        }
        guard let messages = body["messages"]?.arrayValue, !messages.isEmpty else {
            return .failure(.invalidRequest("messages: at least one message is required"))
        }
        var input = ReplyInput(model: model)
        input.maxTokens = maxTokens
        let system = body["system"].map(text(of:))
        input.system = system
        var words = Script.wordCount(system ?? "")
        for message in messages {
            words += Script.wordCount(text(of: message["content"]))
            words += toolResults(in: message).map(Script.wordCount).reduce(0, +)
        }
        input.promptWords = words
        if let lastUser = messages.last(where: { $0["role"]?.stringValue == "user" }) {
            input.echo = text(of: lastUser["content"])
            input.images = lastUser["content"]?.arrayValue?.filter { $0["type"]?.stringValue == "image" }.count ?? 0
        }
        if let last = messages.last, last["role"]?.stringValue == "user" {
            let results = toolResults(in: last)
            if !results.isEmpty { input.toolResult = results.joined(separator: " ") }
        }
        input.tools = (body["tools"]?.arrayValue ?? []).compactMap { tool in
            tool["name"]?.stringValue.map { ToolSpec(name: $0, schema: tool["input_schema"]) }
        }
        input.toolChoice = toolChoice(body["tool_choice"])
        input.stopSequences = body["stop_sequences"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return .success(MessagesRequest(input: input, stream: body["stream"]?.boolValue ?? false))
    }

    /// A content string, or its `text` blocks joined with one space.
    static func text(of content: JSON) -> String {
        if let text = content.stringValue { return text }
        let blocks = content.arrayValue ?? []
        return blocks.compactMap { block in block["type"]?.stringValue == "text" ? block["text"]?.stringValue : nil }
            .joined(separator: " ")
    }

    private static func text(of content: JSON?) -> String {
        content.map { text(of: $0) } ?? ""
    }

    /// The text of each `tool_result` block in a message.
    private static func toolResults(in message: JSON) -> [String] {
        let blocks = message["content"]?.arrayValue ?? []
        return blocks.filter { $0["type"]?.stringValue == "tool_result" }.map { text(of: $0["content"]) }
    }

    private static func toolChoice(_ value: JSON?) -> ToolChoice {
        switch value?["type"]?.stringValue {
        case "none": .none
        case "any": .required
        case "tool": value?["name"]?.stringValue.map { .named([$0]) } ?? .required
        default: .auto
        }
    }

    static func stopReason(_ finish: ReplyPlan.Finish) -> (reason: String, sequence: JSON) {
        switch finish {
        case .endTurn: ("end_turn", nil)
        case .length: ("max_tokens", nil)
        case .stopSequence(let sequence): ("stop_sequence", .string(sequence))
        case .toolCalls: ("tool_use", nil)
        }
    }

    private static func toolUseBlock(_ call: ReplyPlan.ToolCall, index: Int, input: JSON) -> JSON {
        ["type": "tool_use", "id": .string("toolu_sim_\(index)"), "name": .string(call.name), "input": input]
    }

    static func message(_ plan: ReplyPlan, model: String, id: String) -> JSON {
        let content: [JSON] =
            plan.toolCalls.isEmpty
            ? [["type": "text", "text": .string(plan.text)]]
            : plan.toolCalls.enumerated().map { toolUseBlock($1, index: $0, input: $1.arguments) }
        let stop = stopReason(plan.finish)
        return [
            "id": .string(id), "type": "message", "role": "assistant", "model": .string(model),
            "content": .array(content), "stop_reason": .string(stop.reason), "stop_sequence": stop.sequence,
            "usage": ["input_tokens": .int(plan.promptTokens), "output_tokens": .int(plan.completionTokens)],
        ]
    }

    static func events(_ plan: ReplyPlan, model: String, id: String) -> [StreamEvent] {
        func event(_ name: String, _ data: JSON, content: Bool = false) -> StreamEvent {
            StreamEvent(name: name, data, carriesContent: content)
        }
        let start: JSON = [
            "id": .string(id), "type": "message", "role": "assistant", "model": .string(model), "content": [],
            "stop_reason": nil, "stop_sequence": nil,
            "usage": ["input_tokens": .int(plan.promptTokens), "output_tokens": 1],
        ]
        var events = [
            event("message_start", ["type": "message_start", "message": start]),
            event("ping", ["type": "ping"]),
        ]
        if plan.toolCalls.isEmpty {
            events.append(
                event(
                    "content_block_start",
                    ["type": "content_block_start", "index": 0, "content_block": ["type": "text", "text": ""]]))
            for piece in plan.textPieces {
                let delta: JSON = ["type": "text_delta", "text": .string(piece)]
                events.append(
                    event(
                        "content_block_delta", ["type": "content_block_delta", "index": 0, "delta": delta],
                        content: true))
            }
            events.append(event("content_block_stop", ["type": "content_block_stop", "index": 0]))
        }
        for (index, call) in plan.toolCalls.enumerated() {
            let block = toolUseBlock(call, index: index, input: .object([]))
            events.append(
                event(
                    "content_block_start",
                    ["type": "content_block_start", "index": .int(index), "content_block": block],
                    content: true))
            for fragment in Script.fragments(of: call.argumentsText) {
                let delta: JSON = ["type": "input_json_delta", "partial_json": .string(fragment)]
                events.append(
                    event(
                        "content_block_delta", ["type": "content_block_delta", "index": .int(index), "delta": delta],
                        content: true))
            }
            events.append(event("content_block_stop", ["type": "content_block_stop", "index": .int(index)]))
        }
        let stop = stopReason(plan.finish)
        events.append(
            event(
                "message_delta",
                [
                    "type": "message_delta",
                    "delta": ["stop_reason": .string(stop.reason), "stop_sequence": stop.sequence],
                    "usage": ["output_tokens": .int(plan.completionTokens)],
                ]))
        events.append(event("message_stop", ["type": "message_stop"]))
        return events
    }
}
