import GatehouseCore
import GatehouseProviders
import NIOCore
import Testing

/// Feeds provider SSE text through a provider's decoder and an ingress encoder.
func translate(_ sse: String, provider: any ChatProvider, deployment: Deployment, encoder: some IngressStreamEncoder) throws -> String {
    var decoder = provider.makeStreamDecoder(deployment: deployment)
    var encoder = encoder
    var parser = SSEParser()
    var out = ""
    for parsed in try parser.feed(ByteBuffer(string: sse)) + parser.finish() {
        for event in try decoder.decode(parsed.event) { out += encoder.encode(event) }
    }
    for event in try decoder.finish() { out += encoder.encode(event) }
    return out + encoder.finish()
}

func events(_ sse: String) throws -> [SSEEvent] {
    var parser = SSEParser()
    return (try parser.feed(ByteBuffer(string: sse)) + parser.finish()).map(\.event)
}

@Suite("Stream translation")
struct StreamTranslationTests {
    static let openAIToolStream = [
        #"{"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        #"{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
        #"{"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        #"{"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
        #"{"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
        #"{"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        #"{"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#,
        "[DONE]",
    ].map { "data: \($0)\n\n" }.joined()

    @Test("OpenAI chunks become the full Anthropic event sequence")
    func openAIToAnthropic() throws {
        let out = try translate(
            Self.openAIToolStream, provider: OpenAIProvider(), deployment: openAIDeployment,
            encoder: AnthropicDialect.makeStreamEncoder(model: "claude"))
        let sequence = try events(out)
        #expect(sequence.map { $0.event ?? "" } == [
            "message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop",
            "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta",
            "message_stop",
        ])
        let delta = try #require(JSONValue.parse(sequence[9].data))
        #expect(delta["delta"]?["stop_reason"] == .string("tool_use"))
        #expect(delta["usage"]?["output_tokens"] == .int(7))
        #expect(delta["usage"]?["input_tokens"] == .int(5))
        #expect(JSONValue.parse(sequence[5].data)?["content_block"]?["name"] == .string("f"))
    }

    @Test("Anthropic events become OpenAI chunks, with usage only when asked")
    func anthropicToOpenAI() throws {
        let sse = [
            ("message_start", #"{"type":"message_start","message":{"id":"msg_1","model":"c","usage":{"input_tokens":9,"output_tokens":1}}}"#),
            ("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            ("ping", #"{"type":"ping"}"#),
            ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#),
            ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}"#),
            ("content_block_stop", #"{"type":"content_block_stop","index":0}"#),
            ("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":2}}"#),
            ("message_stop", #"{"type":"message_stop"}"#),
        ].map { "event: \($0.0)\ndata: \($0.1)\n\n" }.joined()
        for includeUsage in [true, false] {
            let out = try translate(
                sse, provider: AnthropicProvider(), deployment: anthropicDeployment,
                encoder: OpenAIDialect.makeStreamEncoder(model: "gpt", includeUsage: includeUsage, created: 1))
            let chunks = try events(out).map(\.data)
            #expect(chunks.last == "[DONE]")
            let parsed = chunks.dropLast().compactMap(JSONValue.parse)
            let text = parsed.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["content"]?.stringValue }.joined()
            #expect(text == "Hello")
            #expect(parsed.contains { $0["choices"]?.arrayValue?.first?["finish_reason"] == .string("length") })
            let usage = parsed.first { $0["usage"] != nil }
            #expect((usage != nil) == includeUsage)
            if includeUsage { #expect(usage?["usage"]?["prompt_tokens"] == .int(9)) }
        }
    }

    @Test("Gemini chunks with a function call become OpenAI tool-call chunks")
    func geminiToOpenAI() throws {
        let sse = [
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"ok "}]}}],"modelVersion":"g"}"#,
            #"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"x":1}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4}}"#,
        ].map { "data: \($0)\r\n\r\n" }.joined()
        let out = try translate(
            sse, provider: GeminiProvider(), deployment: geminiDeployment,
            encoder: OpenAIDialect.makeStreamEncoder(model: "gpt", includeUsage: true, created: 1))
        let parsed = try events(out).map(\.data).dropLast().compactMap(JSONValue.parse)
        #expect(parsed.contains { $0["choices"]?.arrayValue?.first?["finish_reason"] == .string("tool_calls") })
        let call = parsed.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["tool_calls"]?.arrayValue?.first }
        #expect(call.first?["function"]?["name"] == .string("f"))
        #expect(call.compactMap { $0["function"]?["arguments"]?.stringValue }.joined() == #"{"x":1}"#)
        #expect(parsed.last?["usage"]?["completion_tokens"] == .int(4))
    }

    @Test("a stream cut before its end is reported, not passed off as complete")
    func truncated() throws {
        let cut = Self.openAIToolStream.components(separatedBy: "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\"").first ?? ""
        #expect(throws: GatewayError.self) {
            _ = try translate(
                cut, provider: OpenAIProvider(), deployment: openAIDeployment,
                encoder: AnthropicDialect.makeStreamEncoder(model: "claude"))
        }
    }

    @Test("an upstream error event maps to a gateway error")
    func errorEvent() {
        let sse = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n"
        #expect {
            _ = try translate(
                sse, provider: AnthropicProvider(), deployment: anthropicDeployment,
                encoder: OpenAIDialect.makeStreamEncoder(model: "gpt", includeUsage: false, created: 1))
        } throws: { error in
            (error as? GatewayError)?.status == 503
        }
    }
}
