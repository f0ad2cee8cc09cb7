import GatehouseCore

/// Decodes an OpenAI chat-completion chunk stream into gateway stream events.
struct OpenAIStreamDecoder: ProviderStreamDecoder {
    let deployment: Deployment
    var started = false
    var sawDone = false
    var sawFinish = false
    var startedTools = Set<Int>()

    mutating func decode(_ event: SSEEvent) throws -> [StreamEvent] {
        if event.data == "[DONE]" {
            sawDone = true
            return []
        }
        let chunk = try StreamPayload.decode(event, provider: "OpenAI-compatible")
        var events: [StreamEvent] = []
        if !started {
            started = true
            events.append(
                .start(
                    id: chunk["id"]?.stringValue ?? "chatcmpl-gatehouse",
                    model: chunk["model"]?.stringValue ?? deployment.upstreamModel))
        }
        if let choice = chunk["choices"]?.arrayValue?.first {
            if let delta = choice["delta"] {
                if let text = delta["content"]?.stringValue, !text.isEmpty { events.append(.textDelta(text)) }
                for call in delta["tool_calls"]?.arrayValue ?? [] {
                    let index = call["index"]?.intValue ?? 0
                    if !startedTools.contains(index) {
                        startedTools.insert(index)
                        events.append(
                            .toolCallStart(
                                index: index, id: call["id"]?.stringValue ?? "call_\(index)",
                                name: call["function"]?["name"]?.stringValue ?? ""))
                    }
                    if let fragment = call["function"]?["arguments"]?.stringValue, !fragment.isEmpty {
                        events.append(.toolCallArguments(index: index, fragment: fragment))
                    }
                }
            }
            if let reason = choice["finish_reason"]?.stringValue {
                sawFinish = true
                events.append(.finish(OpenAIResponseMapping.finishReason(reason)))
            }
        }
        if let usage = OpenAIResponseMapping.decodeUsage(chunk["usage"]) { events.append(.usage(usage)) }
        return events
    }

    /// Pass-through: every event is validated (one scan, no values built); only those with
    /// an error, a usage or a finish reason are decoded. Content deltas, nearly all of a
    /// stream, cost a scan.
    mutating func observe(_ event: SSEEvent) throws -> Usage? {
        if event.data == "[DONE]" {
            sawDone = true
            return nil
        }
        var data = event.data
        let decodeIt = data.withUTF8 { bytes in
            // Not a plain object (a repeated key, say): decoded, which decides as before.
            guard let top = try? JSONTopLevel(scanning: bytes) else { return true }
            for member in top.members {
                switch member.key {
                case "error": return true
                case "usage": if !JSONBytes.isNull(bytes, member.valueRange) { return true }
                case "choices": if JSONBytes.hasNonNullMember("finish_reason", in: bytes, member.valueRange) { return true }
                default: break
                }
            }
            return false
        }
        guard decodeIt else { return nil }
        var usage: Usage?
        for case .usage(let value) in try decode(event) { usage = value }
        return usage
    }

    mutating func finish() throws -> [StreamEvent] {
        guard sawDone || sawFinish else {
            throw GatewayError(.upstreamFailure, "The provider's stream ended before the response was complete.", code: .upstreamIncomplete)
        }
        return []
    }
}

/// Encodes gateway stream events as an OpenAI chat-completion chunk stream.
public struct OpenAIStreamEncoder: IngressStreamEncoder {
    let model: String
    let includeUsage: Bool
    var id = "chatcmpl-gatehouse"
    var created: Int
    var sentRole = false
    var finishReason: FinishReason?
    var usage: Usage?

    public init(model: String, includeUsage: Bool, created: Int) {
        self.model = model
        self.includeUsage = includeUsage
        self.created = created
    }

    func chunk(delta: JSONValue, finishReason: String? = nil) -> String {
        let body: JSONValue = .object([
            "id": .string(id), "object": .string("chat.completion.chunk"), "created": .int(Int64(created)),
            "model": .string(model),
            "choices": .array([
                .object([
                    "index": .int(0), "delta": delta, "finish_reason": finishReason.map(JSONValue.string) ?? .null,
                    "logprobs": .null,
                ])
            ]),
        ])
        return SSEEvent(data: body.compactText()).encoded()
    }

    mutating func roleChunkIfNeeded() -> String {
        guard !sentRole else { return "" }
        sentRole = true
        return chunk(delta: .object(["role": .string("assistant"), "content": .string("")]))
    }

    public mutating func encode(_ event: StreamEvent) -> String {
        switch event {
        case .start(let id, _):
            self.id = id
            return roleChunkIfNeeded()
        case .textDelta(let text):
            return roleChunkIfNeeded() + chunk(delta: .object(["content": .string(text)]))
        case .toolCallStart(let index, let id, let name):
            let call: JSONValue = .object([
                "index": .int(Int64(index)), "id": .string(id), "type": .string("function"),
                "function": .object(["name": .string(name), "arguments": .string("")]),
            ])
            return roleChunkIfNeeded() + chunk(delta: .object(["tool_calls": .array([call])]))
        case .toolCallArguments(let index, let fragment):
            let call: JSONValue = .object([
                "index": .int(Int64(index)), "function": .object(["arguments": .string(fragment)]),
            ])
            return chunk(delta: .object(["tool_calls": .array([call])]))
        case .finish(let reason):
            finishReason = reason
            return ""
        case .usage(let usage):
            self.usage = usage
            return ""
        }
    }

    public mutating func finish() -> String {
        var text = roleChunkIfNeeded()
        text += chunk(delta: .object([:]), finishReason: (finishReason ?? .stop).openAIValue)
        if includeUsage {
            let body: JSONValue = .object([
                "id": .string(id), "object": .string("chat.completion.chunk"), "created": .int(Int64(created)),
                "model": .string(model), "choices": .array([]),
                "usage": OpenAIResponseMapping.encodeUsage(usage ?? Usage(promptTokens: 0, completionTokens: 0)),
            ])
            text += SSEEvent(data: body.compactText()).encoded()
        }
        return text + SSEEvent(data: "[DONE]").encoded()
    }

    public func encodeError(_ error: GatewayError) -> String {
        SSEEvent(data: OpenAIDialect.errorBody(error).compactText()).encoded()
    }
}
