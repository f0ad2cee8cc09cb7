import GatehouseCore

/// OpenAI Chat Completions request ⇄ internal request.
enum OpenAIRequestMapping {
    /// Fields the internal request models; everything else is carried in `extra`.
    static let modelled: Set<String> = [
        "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "response_format", "temperature",
        "top_p", "stop", "max_tokens", "max_completion_tokens", "seed", "user", "stream", "stream_options",
        "functions", "function_call",
    ]

    // MARK: Ingress: OpenAI wire → internal

    static func decode(_ body: JSONValue) throws -> ChatRequest {
        let root = try JSONObjectReader(body, path: "")
        let model = try root.requiredString("model")
        guard let rawMessages = try root.array("messages") else { throw GatewayError.missingField("messages") }
        guard !rawMessages.isEmpty else { throw GatewayError.invalidField("messages", "must not be empty") }
        var messages: [Message] = []
        for (index, raw) in rawMessages.enumerated() {
            messages.append(try decodeMessage(raw, path: "messages[\(index)]"))
        }
        if root["functions"] != nil || root["function_call"] != nil {
            throw GatewayError(
                .invalidRequest, "The deprecated 'functions' and 'function_call' fields are not supported; use 'tools'.",
                code: .unsupportedParameter, param: "functions")
        }
        var request = ChatRequest(model: model, messages: messages)
        if let tools = try root.array("tools") {
            for (index, tool) in tools.enumerated() {
                request.tools.append(try decodeTool(tool, path: "tools[\(index)]"))
            }
        }
        request.toolChoice = try decodeToolChoice(root["tool_choice"])
        request.parallelToolCalls = try root.bool("parallel_tool_calls")
        request.responseFormat = try decodeResponseFormat(root.object("response_format"))
        request.temperature = try root.double("temperature")
        request.topP = try root.double("top_p")
        switch root["stop"] {
        case .string(let stop): request.stop = [stop]
        case .array(let stops):
            request.stop = try stops.map { value throws in
                guard let stop = value.stringValue else { throw GatewayError.invalidField("stop", "expected strings") }
                return stop
            }
        case nil: break
        default: throw GatewayError.invalidField("stop", "expected a string or an array of strings")
        }
        request.maxTokens = try root.int("max_completion_tokens") ?? root.int("max_tokens")
        if let maxTokens = request.maxTokens, maxTokens < 1 {
            throw GatewayError.invalidField("max_tokens", "must be at least 1")
        }
        request.seed = try root.int("seed")
        request.user = try root.string("user")
        request.stream = try root.bool("stream") ?? false
        request.includeUsage = try root.object("stream_options")?.bool("include_usage") ?? false
        for key in root.unknownKeys(known: modelled) {
            request.extra[key] = root.object[key]
        }
        return request
    }

    static func decodeMessage(_ raw: JSONValue, path: String) throws -> Message {
        let message = try JSONObjectReader(raw, path: path)
        let roleName = try message.requiredString("role")
        let role: Role
        switch roleName {
        case "system", "developer": role = .system
        case "user": role = .user
        case "assistant": role = .assistant
        case "tool": role = .tool
        default: throw GatewayError.invalidField("\(path).role", "unknown role '\(roleName)'")
        }
        var content: [ContentPart] = []
        switch message["content"] {
        case .string(let text): content = [.text(text)]
        case .array(let parts):
            for (index, part) in parts.enumerated() {
                content.append(try decodePart(part, path: "\(path).content[\(index)]"))
            }
        case nil: break
        default: throw GatewayError.invalidField("\(path).content", "expected a string or an array of parts")
        }
        var toolCalls: [ToolCall] = []
        if role == .assistant, let calls = try message.array("tool_calls") {
            for (index, call) in calls.enumerated() {
                let reader = try JSONObjectReader(call, path: "\(path).tool_calls[\(index)]")
                guard let function = try reader.object("function") else { throw GatewayError.missingField("\(reader.path).function") }
                toolCalls.append(
                    ToolCall(
                        id: try reader.requiredString("id"), name: try function.requiredString("name"),
                        arguments: try function.string("arguments") ?? "{}"))
            }
        }
        let toolCallID = role == .tool ? try message.requiredString("tool_call_id") : nil
        if role == .user, content.isEmpty { throw GatewayError.missingField("\(path).content") }
        return Message(role: role, content: content, toolCalls: toolCalls, toolCallID: toolCallID)
    }

    static func decodePart(_ raw: JSONValue, path: String) throws -> ContentPart {
        let part = try JSONObjectReader(raw, path: path)
        let type = try part.requiredString("type")
        switch type {
        case "text", "input_text":
            return .text(try part.requiredString("text"))
        case "image_url":
            guard let image = try part.object("image_url") else { throw GatewayError.missingField("\(path).image_url") }
            return .image(.fromOpenAIURL(try image.requiredString("url"), detail: try image.string("detail")))
        default:
            throw GatewayError(
                .invalidRequest, "Content part type '\(type)' is not supported on this route.",
                code: .unsupportedContent, param: "\(path).type")
        }
    }

    static func decodeTool(_ raw: JSONValue, path: String) throws -> ToolDefinition {
        let tool = try JSONObjectReader(raw, path: path)
        let type = try tool.string("type") ?? "function"
        guard type == "function" else {
            throw GatewayError.invalidField("\(path).type", "only 'function' tools are supported")
        }
        guard let function = try tool.object("function") else { throw GatewayError.missingField("\(path).function") }
        return ToolDefinition(
            name: try function.requiredString("name"), description: try function.string("description"),
            parameters: function["parameters"], strict: try function.bool("strict"))
    }

    static func decodeToolChoice(_ raw: JSONValue?) throws -> ToolChoice? {
        switch raw {
        case nil: return nil
        case .string("auto"): return .auto
        case .string("none"): return ToolChoice.none
        case .string("required"): return .required
        case .object:
            let choice = try JSONObjectReader(raw ?? .null, path: "tool_choice")
            guard let function = try choice.object("function") else { throw GatewayError.missingField("tool_choice.function") }
            return .tool(try function.requiredString("name"))
        default:
            throw GatewayError.invalidField("tool_choice", "expected 'auto', 'none', 'required' or a function")
        }
    }

    static func decodeResponseFormat(_ format: JSONObjectReader?) throws -> ResponseFormat? {
        guard let format else { return nil }
        switch try format.requiredString("type") {
        case "text": return .text
        case "json_object": return .jsonObject
        case "json_schema":
            guard let schema = try format.object("json_schema") else { throw GatewayError.missingField("response_format.json_schema") }
            return .jsonSchema(name: try schema.requiredString("name"), schema: schema["schema"], strict: try schema.bool("strict"))
        case let other:
            throw GatewayError.invalidField("response_format.type", "unknown type '\(other)'")
        }
    }

    // MARK: Provider: internal → OpenAI wire

    static func encode(_ request: ChatRequest, model: String) -> JSONValue {
        var body = JSONObjectBuilder()
        body.set("model", model)
        body["messages"] = .array(request.messages.map(encodeMessage))
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    var function = JSONObjectBuilder()
                    function.set("name", tool.name)
                    function.set("description", tool.description)
                    function.set("parameters", tool.parameters)
                    function.set("strict", tool.strict)
                    return .object(["type": .string("function"), "function": function.value])
                })
        }
        switch request.toolChoice {
        case .some(.auto): body.set("tool_choice", "auto")
        case .some(.none): body.set("tool_choice", "none")
        case .some(.required): body.set("tool_choice", "required")
        case .some(.tool(let name)):
            body["tool_choice"] = .object(["type": .string("function"), "function": .object(["name": .string(name)])])
        case nil: break
        }
        body.set("parallel_tool_calls", request.parallelToolCalls)
        switch request.responseFormat {
        case .text: body["response_format"] = .object(["type": .string("text")])
        case .jsonObject: body["response_format"] = .object(["type": .string("json_object")])
        case .jsonSchema(let name, let schema, let strict):
            var inner = JSONObjectBuilder()
            inner.set("name", name)
            inner.set("schema", schema)
            inner.set("strict", strict)
            body["response_format"] = .object(["type": .string("json_schema"), "json_schema": inner.value])
        case nil: break
        }
        body.set("temperature", request.temperature)
        body.set("top_p", request.topP)
        if !request.stop.isEmpty { body["stop"] = .array(request.stop.map(JSONValue.string)) }
        body.set("max_completion_tokens", request.maxTokens)
        body.set("seed", request.seed)
        body.set("user", request.user)
        if request.stream {
            body["stream"] = .bool(true)
            // Always ask for usage so the gateway can account; the encoder hides it if the caller did not ask.
            body["stream_options"] = .object(["include_usage": .bool(true)])
        }
        return body.value
    }

    static func encodeMessage(_ message: Message) -> JSONValue {
        var object = JSONObjectBuilder()
        switch message.role {
        case .system: object.set("role", "system")
        case .user: object.set("role", "user")
        case .assistant: object.set("role", "assistant")
        case .tool: object.set("role", "tool")
        }
        let hasImages = message.content.contains { if case .image = $0 { return true } else { return false } }
        if hasImages {
            object["content"] = .array(
                message.content.map { part in
                    switch part {
                    case .text(let text): return .object(["type": .string("text"), "text": .string(text)])
                    case .image(let source):
                        var image: [String: JSONValue] = ["url": .string(source.openAIURL)]
                        if case .url(_, let detail?) = source { image["detail"] = .string(detail) }
                        return .object(["type": .string("image_url"), "image_url": .object(image)])
                    }
                })
        } else if message.role == .assistant && message.content.isEmpty {
            object["content"] = .null
        } else {
            object.set("content", message.text)
        }
        if !message.toolCalls.isEmpty {
            object["tool_calls"] = .array(
                message.toolCalls.map { call in
                    .object([
                        "id": .string(call.id), "type": .string("function"),
                        "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)]),
                    ])
                })
        }
        object.set("tool_call_id", message.toolCallID)
        return object.value
    }
}
