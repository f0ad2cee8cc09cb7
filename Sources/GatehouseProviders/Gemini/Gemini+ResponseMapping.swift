import GatehouseCore

/// Google AI `GenerateContentResponse` → internal response.
enum GeminiResponseMapping {
    static func finishReason(_ value: String?, hasToolCalls: Bool) -> FinishReason {
        switch value {
        case "STOP", nil: return hasToolCalls ? .toolCalls : .stop
        case "MAX_TOKENS": return .length
        case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY": return .contentFilter
        case let other?: return .other(other)
        }
    }

    static func decodeUsage(_ value: JSONValue?) -> Usage? {
        guard let object = value?.objectValue else { return nil }
        return Usage(
            promptTokens: object["promptTokenCount"]?.intValue ?? 0,
            completionTokens: (object["candidatesTokenCount"]?.intValue ?? 0) + (object["thoughtsTokenCount"]?.intValue ?? 0),
            cachedPromptTokens: max(0, object["cachedContentTokenCount"]?.intValue ?? 0))
    }

    /// The parts of the first candidate: text (thoughts excluded) and function calls.
    static func parts(of response: JSONValue) -> [JSONValue] {
        response["candidates"]?.arrayValue?.first?["content"]?["parts"]?.arrayValue ?? []
    }

    static func decode(_ body: JSONValue, deployment: Deployment) throws -> ChatResponse {
        var text: String?
        var toolCalls: [ToolCall] = []
        for part in parts(of: body) where part["thought"]?.boolValue != true {
            if let piece = part["text"]?.stringValue { text = (text ?? "") + piece }
            if let call = part["functionCall"] {
                toolCalls.append(
                    ToolCall(
                        id: call["id"]?.stringValue ?? "call_\(toolCalls.count)", name: call["name"]?.stringValue ?? "",
                        arguments: (call["args"] ?? .object([:])).compactText()))
            }
        }
        let candidate = body["candidates"]?.arrayValue?.first
        var reason = finishReason(candidate?["finishReason"]?.stringValue, hasToolCalls: !toolCalls.isEmpty)
        if candidate == nil, body["promptFeedback"]?["blockReason"] != nil { reason = .contentFilter }
        return ChatResponse(
            id: body["responseId"]?.stringValue ?? "gemini-response", model: body["modelVersion"]?.stringValue ?? deployment.upstreamModel,
            created: 0, text: text, toolCalls: toolCalls, finishReason: reason, usage: decodeUsage(body["usageMetadata"]))
    }
}

/// Decodes a Google AI `streamGenerateContent?alt=sse` stream into gateway stream events.
struct GeminiStreamDecoder: ProviderStreamDecoder {
    let deployment: Deployment
    var started = false
    var toolCount = 0
    var finishReason: String?
    var usage: Usage?

    mutating func decode(_ event: SSEEvent) throws -> [StreamEvent] {
        let chunk = try StreamPayload.decode(event, provider: "Gemini")
        var events: [StreamEvent] = []
        if !started {
            started = true
            events.append(
                .start(
                    id: chunk["responseId"]?.stringValue ?? "gemini-response",
                    model: chunk["modelVersion"]?.stringValue ?? deployment.upstreamModel))
        }
        for part in GeminiResponseMapping.parts(of: chunk) where part["thought"]?.boolValue != true {
            if let text = part["text"]?.stringValue, !text.isEmpty { events.append(.textDelta(text)) }
            if let call = part["functionCall"] {
                let index = toolCount
                toolCount += 1
                events.append(
                    .toolCallStart(
                        index: index, id: call["id"]?.stringValue ?? "call_\(index)", name: call["name"]?.stringValue ?? ""))
                events.append(.toolCallArguments(index: index, fragment: (call["args"] ?? .object([:])).compactText()))
            }
        }
        if let reason = chunk["candidates"]?.arrayValue?.first?["finishReason"]?.stringValue { finishReason = reason }
        if chunk["candidates"] == nil, chunk["promptFeedback"]?["blockReason"] != nil { finishReason = "SAFETY" }
        if let usage = GeminiResponseMapping.decodeUsage(chunk["usageMetadata"]) { self.usage = usage }
        return events
    }

    mutating func finish() throws -> [StreamEvent] {
        guard let finishReason else {
            throw GatewayError(.upstreamFailure, "The provider's stream ended before the response was complete.", code: .upstreamIncomplete)
        }
        var events: [StreamEvent] = [.finish(GeminiResponseMapping.finishReason(finishReason, hasToolCalls: toolCount > 0))]
        if let usage { events.append(.usage(usage)) }
        return events
    }
}
