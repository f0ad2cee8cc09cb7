/// Reads a Gemini GenerateContent request and writes GenerateContentResponses.
///
/// Field names are accepted in lowerCamelCase and snake_case, as the REST API does.
enum GeminiContent {
    static func parse(_ body: JSON, model: String) -> Result<ReplyInput, SimulatedError> {
        guard let contents = body.field("contents")?.arrayValue, !contents.isEmpty else {
            return .failure(.invalidRequest("* GenerateContentRequest.contents: contents is not specified"))
        }
        var input = ReplyInput(model: model)
        let system = body.field("systemInstruction").map { text(of: $0) }
        input.system = system
        var words = Script.wordCount(system ?? "")
        for content in contents {
            words += Script.wordCount(text(of: content))
        }
        input.promptWords = words
        if let lastUser = contents.last(where: { ($0["role"]?.stringValue ?? "user") == "user" }) {
            input.echo = text(of: lastUser)
            input.images =
                parts(of: lastUser).filter { $0.field("inlineData") != nil || $0.field("fileData") != nil }
                .count
        }
        if let last = contents.last {
            let results = parts(of: last).compactMap { $0.field("functionResponse") }
            if !results.isEmpty {
                input.toolResult = results.map { ($0["response"] ?? .object([])).serialized(sortedKeys: true) }
                    .joined(separator: " ")
            }
        }
        let declarations = (body.field("tools")?.arrayValue ?? []).flatMap {
            $0.field("functionDeclarations")?.arrayValue ?? []
        }
        input.tools = declarations.compactMap { declaration in
            declaration["name"]?.stringValue.map {
                ToolSpec(name: $0, schema: declaration["parameters"] ?? declaration.field("parametersJsonSchema"))
            }
        }
        input.toolChoice = toolChoice(body.field("toolConfig")?.field("functionCallingConfig"))
        let config = body.field("generationConfig")
        input.wantsJSON = config?.field("responseMimeType")?.stringValue == "application/json"
        input.stopSequences = config?.field("stopSequences")?.arrayValue?.compactMap(\.stringValue) ?? []
        input.maxTokens = config?.field("maxOutputTokens")?.intValue
        return .success(input)
    }

    static func parts(of content: JSON) -> [JSON] {
        content["parts"]?.arrayValue ?? []
    }

    /// The `text` parts of a Content joined with one space.
    static func text(of content: JSON) -> String {
        parts(of: content).compactMap { $0["text"]?.stringValue }.joined(separator: " ")
    }

    private static func toolChoice(_ config: JSON?) -> ToolChoice {
        let mode = config?["mode"]?.stringValue?.uppercased()
        if mode == "NONE" { return .none }
        let allowed = config?.field("allowedFunctionNames")?.arrayValue?.compactMap(\.stringValue) ?? []
        if !allowed.isEmpty { return .named(allowed) }
        return mode == "ANY" ? .required : .auto
    }

    static func finishReason(_ finish: ReplyPlan.Finish) -> String {
        finish == .length ? "MAX_TOKENS" : "STOP"
    }

    static func usage(_ plan: ReplyPlan) -> JSON {
        [
            "promptTokenCount": .int(plan.promptTokens),
            "candidatesTokenCount": .int(plan.completionTokens),
            "totalTokenCount": .int(plan.promptTokens + plan.completionTokens),
        ]
    }

    static func response(parts: [JSON], finish: String?, plan: ReplyPlan, model: String, id: String) -> JSON {
        var candidate: [(key: String, value: JSON)] = [
            (key: "content", value: ["role": "model", "parts": .array(parts)])
        ]
        if let finish { candidate.append((key: "finishReason", value: .string(finish))) }
        candidate.append((key: "index", value: 0))
        return [
            "candidates": [.object(candidate)], "usageMetadata": usage(plan), "modelVersion": .string(model),
            "responseId": .string(id),
        ]
    }

    private static func functionCallParts(_ plan: ReplyPlan) -> [JSON] {
        plan.toolCalls.map { ["functionCall": ["name": .string($0.name), "args": $0.arguments]] }
    }

    static func complete(_ plan: ReplyPlan, model: String, id: String) -> JSON {
        let parts: [JSON] = plan.toolCalls.isEmpty ? [["text": .string(plan.text)]] : functionCallParts(plan)
        return response(parts: parts, finish: finishReason(plan.finish), plan: plan, model: model, id: id)
    }

    static func events(_ plan: ReplyPlan, model: String, id: String) -> [StreamEvent] {
        let finish = finishReason(plan.finish)
        if !plan.toolCalls.isEmpty {
            let data = response(parts: functionCallParts(plan), finish: finish, plan: plan, model: model, id: id)
            return [StreamEvent(data, carriesContent: true)]
        }
        let pieces = plan.textPieces.isEmpty ? [""] : plan.textPieces
        return pieces.enumerated().map { index, piece in
            let isLast = index == pieces.count - 1
            let data = response(
                parts: [["text": .string(piece)]], finish: isLast ? finish : nil, plan: plan, model: model, id: id)
            return StreamEvent(data, carriesContent: true)
        }
    }
}

extension JSON {
    /// An object member by its lowerCamelCase name, or by the snake_case spelling of it.
    func field(_ camelCaseName: String) -> JSON? {
        if let value = self[camelCaseName] { return value }
        var snake = ""
        for character in camelCaseName {
            if character.isUppercase {
                snake += "_" + character.lowercased()
            } else {
                snake.append(character)
            }
        }
        return self[snake]
    }
}
