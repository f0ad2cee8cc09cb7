import GatehouseCore

/// Decodes an Anthropic Messages event stream into gateway stream events.
struct AnthropicStreamDecoder: ProviderStreamDecoder {
    let deployment: Deployment
    var usage = Usage(promptTokens: 0, completionTokens: 0)
    var toolIndexForBlock: [Int: Int] = [:]
    var toolCount = 0
    var sawStop = false

    /// Pass-through: content deltas (nearly all of a stream) are validated, not decoded;
    /// every other event is decoded as for a translation.
    mutating func observe(_ event: SSEEvent) throws -> Usage? {
        if event.event == "content_block_delta" {
            var data = event.data
            // A delta that does not scan as a plain object is decoded, which decides as before.
            if data.withUTF8({ bytes in (try? JSONTopLevel(scanning: bytes)) != nil }) { return nil }
        }
        var usage: Usage?
        for case .usage(let value) in try decode(event) { usage = value }
        return usage
    }

    mutating func decode(_ event: SSEEvent) throws -> [StreamEvent] {
        let payload = try StreamPayload.decode(event, provider: "Anthropic", checkInBandError: false)
        switch payload["type"]?.stringValue ?? event.event {
        case "message_start":
            let message = payload["message"]
            if let usage = AnthropicResponseMapping.decodeUsage(message?["usage"]) {
                self.usage = usage
            }
            return [
                .start(
                    id: message?["id"]?.stringValue ?? "msg_gatehouse",
                    model: message?["model"]?.stringValue ?? deployment.upstreamModel)
            ]
        case "content_block_start":
            let index = payload["index"]?.intValue ?? 0
            let block = payload["content_block"]
            switch block?["type"]?.stringValue {
            case "text":
                if let text = block?["text"]?.stringValue, !text.isEmpty { return [.textDelta(text)] }
            case "tool_use":
                let toolIndex = toolCount
                toolCount += 1
                toolIndexForBlock[index] = toolIndex
                return [
                    .toolCallStart(
                        index: toolIndex, id: block?["id"]?.stringValue ?? "toolu_\(toolIndex)",
                        name: block?["name"]?.stringValue ?? "")
                ]
            default: break
            }
            return []
        case "content_block_delta":
            let delta = payload["delta"]
            switch delta?["type"]?.stringValue {
            case "text_delta":
                if let text = delta?["text"]?.stringValue, !text.isEmpty { return [.textDelta(text)] }
            case "input_json_delta":
                if let fragment = delta?["partial_json"]?.stringValue, !fragment.isEmpty,
                    let toolIndex = toolIndexForBlock[payload["index"]?.intValue ?? -1]
                {
                    return [.toolCallArguments(index: toolIndex, fragment: fragment)]
                }
            default: break
            }
            return []
        case "message_delta":
            if let usage = payload["usage"]?.objectValue {
                if let output = usage["output_tokens"]?.intValue { self.usage.completionTokens = output }
                // A message_delta that repeats the input counts (newer API versions do) replaces them.
                if let input = usage["input_tokens"]?.intValue, input > 0,
                    let counts = AnthropicResponseMapping.decodeUsage(payload["usage"])
                {
                    self.usage.promptTokens = counts.promptTokens
                    self.usage.cachedPromptTokens = counts.cachedPromptTokens
                    self.usage.cacheWriteTokens = counts.cacheWriteTokens
                }
            }
            if let reason = payload["delta"]?["stop_reason"]?.stringValue {
                return [
                    .finish(
                        AnthropicResponseMapping.finishReason(
                            reason, stopSequence: payload["delta"]?["stop_sequence"]?.stringValue))
                ]
            }
            return []
        case "message_stop":
            sawStop = true
            return [.usage(usage)]
        case "error":
            let type = payload["error"]?["type"]?.stringValue
            let status = type == "rate_limit_error" ? 429 : type == "overloaded_error" ? 529 : 500
            throw UpstreamErrorMapping.map(
                status: status, retryAfter: nil, upstreamMessage: payload["error"]?["message"]?.stringValue,
                provider: "Anthropic")
        default:
            return []
        }
    }

    mutating func finish() throws -> [StreamEvent] {
        guard sawStop else {
            throw GatewayError(.upstreamFailure, "The provider's stream ended before the response was complete.", code: .upstreamIncomplete)
        }
        return []
    }
}

/// Encodes gateway stream events as an Anthropic Messages event stream, with the
/// content-block bookkeeping (start, deltas, stop per block) that format requires.
public struct AnthropicStreamEncoder: IngressStreamEncoder {
    enum OpenBlock: Equatable {
        case none, text, tool(Int)
    }

    let model: String
    var id = "msg_gatehouse"
    var started = false
    var blockIndex = -1
    var openBlock = OpenBlock.none
    var blockForTool: [Int: Int] = [:]
    var finishReason: FinishReason?
    var usage: Usage?

    public init(model: String) {
        self.model = model
    }

    func event(_ name: String, _ payload: [String: JSONValue]) -> String {
        var payload = payload
        payload["type"] = .string(name)
        return SSEEvent(event: name, data: JSONValue.object(payload).compactText()).encoded()
    }

    mutating func startIfNeeded() -> String {
        guard !started else { return "" }
        started = true
        let message: JSONValue = .object([
            "id": .string(id), "type": .string("message"), "role": .string("assistant"), "model": .string(model),
            "content": .array([]), "stop_reason": .null, "stop_sequence": .null,
            "usage": .object(["input_tokens": .int(0), "output_tokens": .int(0)]),
        ])
        return event("message_start", ["message": message]) + event("ping", [:])
    }

    mutating func closeBlock() -> String {
        guard openBlock != .none else { return "" }
        openBlock = .none
        return event("content_block_stop", ["index": .int(Int64(blockIndex))])
    }

    public mutating func encode(_ streamEvent: StreamEvent) -> String {
        switch streamEvent {
        case .start(let id, _):
            self.id = AnthropicResponseMapping.messageID(id)
            return startIfNeeded()
        case .textDelta(let text):
            var out = startIfNeeded()
            if openBlock != .text {
                out += closeBlock()
                blockIndex += 1
                openBlock = .text
                out += event(
                    "content_block_start",
                    ["index": .int(Int64(blockIndex)), "content_block": .object(["type": .string("text"), "text": .string("")])])
            }
            return out
                + event(
                    "content_block_delta",
                    ["index": .int(Int64(blockIndex)), "delta": .object(["type": .string("text_delta"), "text": .string(text)])])
        case .toolCallStart(let index, let id, let name):
            var out = startIfNeeded() + closeBlock()
            blockIndex += 1
            openBlock = .tool(index)
            blockForTool[index] = blockIndex
            out += event(
                "content_block_start",
                [
                    "index": .int(Int64(blockIndex)),
                    "content_block": .object([
                        "type": .string("tool_use"), "id": .string(id), "name": .string(name), "input": .object([:]),
                    ]),
                ])
            return out
        case .toolCallArguments(let index, let fragment):
            guard let block = blockForTool[index] else { return "" }
            return event(
                "content_block_delta",
                [
                    "index": .int(Int64(block)),
                    "delta": .object(["type": .string("input_json_delta"), "partial_json": .string(fragment)]),
                ])
        case .finish(let reason):
            finishReason = reason
            return ""
        case .usage(let usage):
            self.usage = usage
            return ""
        }
    }

    public mutating func finish() -> String {
        var out = startIfNeeded() + closeBlock()
        let reason = finishReason ?? .stop
        var stopSequence: JSONValue = .null
        if case .stopSequence(let sequence?) = reason { stopSequence = .string(sequence) }
        out += event(
            "message_delta",
            [
                "delta": .object(["stop_reason": .string(reason.anthropicValue), "stop_sequence": stopSequence]),
                "usage": AnthropicResponseMapping.encodeUsage(usage),
            ])
        return out + event("message_stop", [:])
    }

    public func encodeError(_ error: GatewayError) -> String {
        SSEEvent(event: "error", data: AnthropicDialect.errorBody(error).compactText()).encoded()
    }
}
