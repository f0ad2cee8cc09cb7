import GatehouseCore

/// Internal request → Google AI `generateContent` request.
enum GeminiRequestMapping {
    /// JSON Schema keywords the Gemini function-declaration schema does not accept.
    static let unsupportedSchemaKeys: Set<String> = ["additionalProperties", "$schema", "strict", "$id", "$defs", "definitions"]

    static func encode(_ request: ChatRequest, deployment: Deployment) throws -> (JSONValue, [String]) {
        var dropped = request.extra.keys.sorted()
        var body = JSONObjectBuilder()
        var callNames: [String: String] = [:]
        var contents: [JSONValue] = []
        var pendingUser: [JSONValue] = []
        func flushUser() {
            if !pendingUser.isEmpty {
                contents.append(.object(["role": .string("user"), "parts": .array(pendingUser)]))
                pendingUser = []
            }
        }
        for message in request.messages {
            switch message.role {
            case .system:
                continue
            case .user:
                pendingUser.append(contentsOf: message.content.compactMap(encodePart))
            case .tool:
                guard let id = message.toolCallID, let name = callNames[id] else {
                    throw GatewayError.invalidField(
                        "messages.tool_call_id", "a tool result answers a call that no earlier assistant message made")
                }
                let text = message.text
                let response: JSONValue
                if let parsed = JSONValue.parse(text), parsed.objectValue != nil {
                    response = parsed
                } else {
                    response = .object(["content": .string(text)])
                }
                pendingUser.append(.object(["functionResponse": .object(["name": .string(name), "response": response])]))
            case .assistant:
                flushUser()
                var parts = message.content.compactMap(encodePart)
                for call in message.toolCalls {
                    callNames[call.id] = call.name
                    guard let args = JSONValue.parse(call.arguments.isEmpty ? "{}" : call.arguments), args.objectValue != nil
                    else {
                        throw GatewayError.invalidField(
                            "messages.tool_calls.function.arguments", "the arguments of call '\(call.id)' are not a JSON object")
                    }
                    parts.append(.object(["functionCall": .object(["name": .string(call.name), "args": args])]))
                }
                if !parts.isEmpty { contents.append(.object(["role": .string("model"), "parts": .array(parts)])) }
            }
        }
        flushUser()
        body["contents"] = .array(contents)
        if let system = request.systemText {
            body["systemInstruction"] = .object(["parts": .array([.object(["text": .string(system)])])])
        }
        if !request.tools.isEmpty {
            let declarations: [JSONValue] = request.tools.map { tool in
                var object = JSONObjectBuilder()
                object.set("name", tool.name)
                object.set("description", tool.description)
                object.set("parameters", tool.parameters.map(cleanSchema))
                return object.value
            }
            body["tools"] = .array([.object(["functionDeclarations": .array(declarations)])])
        }
        var calling = JSONObjectBuilder()
        switch request.toolChoice {
        case .some(.auto): calling.set("mode", "AUTO")
        case .some(.none): calling.set("mode", "NONE")
        case .some(.required): calling.set("mode", "ANY")
        case .some(.tool(let name)):
            calling.set("mode", "ANY")
            calling["allowedFunctionNames"] = .array([.string(name)])
        case nil: break
        }
        if !calling.object.isEmpty { body["toolConfig"] = .object(["functionCallingConfig": calling.value]) }
        var generation = JSONObjectBuilder()
        generation.set("temperature", request.temperature)
        generation.set("topP", request.topP)
        generation.set("topK", request.topK)
        generation.set("maxOutputTokens", request.maxTokens)
        generation.set("seed", request.seed)
        if !request.stop.isEmpty { generation["stopSequences"] = .array(request.stop.map(JSONValue.string)) }
        switch request.responseFormat {
        case .some(.jsonObject):
            generation.set("responseMimeType", "application/json")
        case .some(.jsonSchema(_, let schema, _)):
            generation.set("responseMimeType", "application/json")
            generation.set("responseJsonSchema", schema)
        default: break
        }
        if !generation.object.isEmpty { body["generationConfig"] = generation.value }
        if request.user != nil { dropped.append("user") }
        if request.parallelToolCalls != nil { dropped.append("parallel_tool_calls") }
        return (body.value, dropped.sorted())
    }

    static func encodePart(_ part: ContentPart) -> JSONValue? {
        switch part {
        case .text(let text):
            return text.isEmpty ? nil : .object(["text": .string(text)])
        case .image(.base64(let mediaType, let data)):
            return .object(["inlineData": .object(["mimeType": .string(mediaType), "data": .string(data)])])
        case .image(.url(let url, _)):
            return .object(["fileData": .object(["mimeType": .string(mimeType(forURL: url)), "fileUri": .string(url)])])
        }
    }

    static func mimeType(forURL url: String) -> String {
        let lower = url.lowercased().split(separator: "?").first.map(String.init) ?? ""
        if lower.hasSuffix(".png") { return "image/png" }
        if lower.hasSuffix(".gif") { return "image/gif" }
        if lower.hasSuffix(".webp") { return "image/webp" }
        return "image/jpeg"
    }

    static func cleanSchema(_ schema: JSONValue) -> JSONValue {
        switch schema {
        case .object(let object):
            var cleaned: [String: JSONValue] = [:]
            for (key, value) in object where !unsupportedSchemaKeys.contains(key) { cleaned[key] = cleanSchema(value) }
            return .object(cleaned)
        case .array(let items):
            return .array(items.map(cleanSchema))
        default:
            return schema
        }
    }
}
