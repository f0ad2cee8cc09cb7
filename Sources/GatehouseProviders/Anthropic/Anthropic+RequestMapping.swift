import GatehouseCore

/// Anthropic Messages request ⇄ internal request.
enum AnthropicRequestMapping {
    static let modelled: Set<String> = [
        "model", "messages", "system", "max_tokens", "tools", "tool_choice", "temperature", "top_p", "top_k",
        "stop_sequences", "stream", "metadata",
    ]

    // MARK: Ingress: Anthropic wire → internal

    static func decode(_ body: JSONValue) throws -> ChatRequest {
        let root = try JSONObjectReader(body, path: "")
        let model = try root.requiredString("model")
        guard let maxTokens = try root.int("max_tokens") else { throw GatewayError.missingField("max_tokens") }
        guard maxTokens >= 1 else { throw GatewayError.invalidField("max_tokens", "must be at least 1") }
        guard let rawMessages = try root.array("messages"), !rawMessages.isEmpty else {
            throw GatewayError.missingField("messages")
        }
        var messages: [Message] = []
        switch root["system"] {
        case .string(let text): messages.append(Message(role: .system, content: [.text(text)]))
        case .array(let blocks):
            var parts: [ContentPart] = []
            for (index, block) in blocks.enumerated() {
                let reader = try JSONObjectReader(block, path: "system[\(index)]")
                parts.append(.text(try reader.requiredString("text")))
            }
            messages.append(Message(role: .system, content: parts))
        case nil: break
        default: throw GatewayError.invalidField("system", "expected a string or an array of text blocks")
        }
        for (index, raw) in rawMessages.enumerated() {
            messages.append(contentsOf: try decodeMessage(raw, path: "messages[\(index)]"))
        }
        var request = ChatRequest(model: model, messages: messages, maxTokens: maxTokens)
        if let tools = try root.array("tools") {
            for (index, raw) in tools.enumerated() {
                let tool = try JSONObjectReader(raw, path: "tools[\(index)]")
                if let type = try tool.string("type"), type != "custom" {
                    throw GatewayError(
                        .invalidRequest, "Server tool '\(type)' is not supported through the gateway.",
                        code: .unsupportedParameter, param: "tools[\(index)].type")
                }
                request.tools.append(
                    ToolDefinition(
                        name: try tool.requiredString("name"), description: try tool.string("description"),
                        parameters: tool["input_schema"]))
            }
        }
        if let choice = try root.object("tool_choice") {
            switch try choice.requiredString("type") {
            case "auto": request.toolChoice = .auto
            case "any": request.toolChoice = .required
            case "none": request.toolChoice = ToolChoice.none
            case "tool": request.toolChoice = .tool(try choice.requiredString("name"))
            case let other: throw GatewayError.invalidField("tool_choice.type", "unknown type '\(other)'")
            }
            if try choice.bool("disable_parallel_tool_use") == true { request.parallelToolCalls = false }
        }
        request.temperature = try root.double("temperature")
        request.topP = try root.double("top_p")
        request.topK = try root.int("top_k")
        if let stops = try root.array("stop_sequences") {
            request.stop = try stops.map { value in
                guard let stop = value.stringValue else { throw GatewayError.invalidField("stop_sequences", "expected strings") }
                return stop
            }
        }
        request.stream = try root.bool("stream") ?? false
        request.includeUsage = true
        request.user = try root.object("metadata")?.string("user_id")
        for key in root.unknownKeys(known: modelled) {
            request.extra[key] = root.object[key]
        }
        return request
    }

    /// One Anthropic message can become several internal ones: each `tool_result`
    /// block becomes a tool message, and the remaining blocks a user message after them.
    static func decodeMessage(_ raw: JSONValue, path: String) throws -> [Message] {
        let message = try JSONObjectReader(raw, path: path)
        let roleName = try message.requiredString("role")
        guard roleName == "user" || roleName == "assistant" else {
            throw GatewayError.invalidField("\(path).role", "expected 'user' or 'assistant'")
        }
        let role: Role = roleName == "user" ? .user : .assistant
        if case .string(let text) = message["content"] { return [Message(role: role, content: [.text(text)])] }
        guard let blocks = try message.array("content") else { throw GatewayError.missingField("\(path).content") }
        var content: [ContentPart] = []
        var toolCalls: [ToolCall] = []
        var toolResults: [Message] = []
        for (index, rawBlock) in blocks.enumerated() {
            let blockPath = "\(path).content[\(index)]"
            let block = try JSONObjectReader(rawBlock, path: blockPath)
            switch try block.requiredString("type") {
            case "text":
                content.append(.text(try block.requiredString("text")))
            case "image":
                content.append(.image(try decodeImageSource(block, path: blockPath)))
            case "tool_use" where role == .assistant:
                toolCalls.append(
                    ToolCall(
                        id: try block.requiredString("id"), name: try block.requiredString("name"),
                        arguments: (block["input"] ?? .object([:])).compactText()))
            case "tool_result" where role == .user:
                var resultContent: [ContentPart] = []
                switch block["content"] {
                case .string(let text): resultContent = [.text(text)]
                case .array(let parts):
                    for (partIndex, part) in parts.enumerated() {
                        let partReader = try JSONObjectReader(part, path: "\(blockPath).content[\(partIndex)]")
                        switch try partReader.requiredString("type") {
                        case "text": resultContent.append(.text(try partReader.requiredString("text")))
                        case "image": resultContent.append(.image(try decodeImageSource(partReader, path: partReader.path)))
                        case let other:
                            throw GatewayError.invalidField("\(partReader.path).type", "unsupported tool result block '\(other)'")
                        }
                    }
                case nil: break
                default: throw GatewayError.invalidField("\(blockPath).content", "expected a string or blocks")
                }
                toolResults.append(
                    Message(
                        role: .tool, content: resultContent, toolCallID: try block.requiredString("tool_use_id"),
                        isError: try block.bool("is_error") ?? false))
            case let other:
                throw GatewayError(
                    .invalidRequest, "Content block type '\(other)' is not supported in a \(roleName) message on this route.",
                    code: .unsupportedContent, param: "\(blockPath).type")
            }
        }
        var result = toolResults
        if !content.isEmpty || !toolCalls.isEmpty || toolResults.isEmpty {
            result.append(Message(role: role, content: content, toolCalls: toolCalls))
        }
        return result
    }

    static func decodeImageSource(_ block: JSONObjectReader, path: String) throws -> ImageSource {
        guard let source = try block.object("source") else { throw GatewayError.missingField("\(path).source") }
        switch try source.requiredString("type") {
        case "base64":
            return .base64(mediaType: try source.requiredString("media_type"), data: try source.requiredString("data"))
        case "url":
            return .url(try source.requiredString("url"), detail: nil)
        case let other:
            throw GatewayError.invalidField("\(path).source.type", "unsupported image source '\(other)'")
        }
    }

    // MARK: Provider: internal → Anthropic wire

    static func encode(_ request: ChatRequest, deployment: Deployment) throws -> (JSONValue, [String]) {
        var dropped = request.extra.keys.sorted()
        var body = JSONObjectBuilder()
        body.set("model", deployment.upstreamModel)
        body.set("max_tokens", request.maxTokens ?? deployment.defaultMaxTokens)
        body.set("system", request.systemText)
        var messages: [JSONValue] = []
        var pendingUser: [JSONValue] = []
        func flushUser() {
            if !pendingUser.isEmpty {
                messages.append(.object(["role": .string("user"), "content": .array(pendingUser)]))
                pendingUser = []
            }
        }
        for message in request.messages {
            switch message.role {
            case .system:
                continue
            case .tool:
                var block = JSONObjectBuilder()
                block.set("type", "tool_result")
                block.set("tool_use_id", message.toolCallID)
                block["content"] = .array(message.content.compactMap(encodeBlock))
                if message.isError { block.set("is_error", true) }
                pendingUser.append(block.value)
            case .user:
                pendingUser.append(contentsOf: message.content.compactMap(encodeBlock))
            case .assistant:
                flushUser()
                var blocks = message.content.compactMap(encodeBlock)
                for call in message.toolCalls {
                    guard let input = JSONValue.parse(call.arguments.isEmpty ? "{}" : call.arguments), input.objectValue != nil
                    else {
                        throw GatewayError.invalidField(
                            "messages.tool_calls.function.arguments", "the arguments of call '\(call.id)' are not a JSON object")
                    }
                    blocks.append(
                        .object([
                            "type": .string("tool_use"), "id": .string(call.id), "name": .string(call.name), "input": input,
                        ]))
                }
                if blocks.isEmpty { blocks = [.object(["type": .string("text"), "text": .string(" ")])] }
                messages.append(.object(["role": .string("assistant"), "content": .array(blocks)]))
            }
        }
        flushUser()
        body["messages"] = .array(messages)
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    var object = JSONObjectBuilder()
                    object.set("name", tool.name)
                    object.set("description", tool.description)
                    object["input_schema"] = tool.parameters ?? .object(["type": .string("object"), "properties": .object([:])])
                    return object.value
                })
        }
        var choice = JSONObjectBuilder()
        switch request.toolChoice {
        case .some(.auto): choice.set("type", "auto")
        case .some(.none): choice.set("type", "none")
        case .some(.required): choice.set("type", "any")
        case .some(.tool(let name)):
            choice.set("type", "tool")
            choice.set("name", name)
        case nil: break
        }
        if request.parallelToolCalls == false, !request.tools.isEmpty {
            if choice["type"] == nil { choice.set("type", "auto") }
            choice.set("disable_parallel_tool_use", true)
        }
        if !choice.object.isEmpty, !request.tools.isEmpty || choice["type"] == .string("none") { body["tool_choice"] = choice.value }
        if let temperature = request.temperature {
            guard temperature <= 1 else {
                throw GatewayError.invalidField("temperature", "Anthropic models accept 0 to 1")
            }
            body.set("temperature", temperature)
        }
        body.set("top_p", request.topP)
        body.set("top_k", request.topK)
        if !request.stop.isEmpty { body["stop_sequences"] = .array(request.stop.map(JSONValue.string)) }
        if let user = request.user { body["metadata"] = .object(["user_id": .string(user)]) }
        if request.stream { body.set("stream", true) }
        if request.seed != nil { dropped.append("seed") }
        switch request.responseFormat {
        case .some(.jsonObject), .some(.jsonSchema): dropped.append("response_format")
        default: break
        }
        return (body.value, dropped.sorted())
    }

    static func encodeBlock(_ part: ContentPart) -> JSONValue? {
        switch part {
        case .text(let text):
            return text.isEmpty ? nil : .object(["type": .string("text"), "text": .string(text)])
        case .image(.base64(let mediaType, let data)):
            return .object([
                "type": .string("image"),
                "source": .object(["type": .string("base64"), "media_type": .string(mediaType), "data": .string(data)]),
            ])
        case .image(.url(let url, _)):
            return .object(["type": .string("image"), "source": .object(["type": .string("url"), "url": .string(url)])])
        }
    }
}
