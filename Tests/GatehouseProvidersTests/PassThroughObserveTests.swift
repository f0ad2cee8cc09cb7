import GatehouseCore
import GatehouseProviders
import NIOCore
import Testing

/// Pass-through streams are observed, not translated: usage, in-band errors, malformed
/// events and completeness must come out as `decode` would report them.
@Suite("Pass-through stream observation")
struct PassThroughObserveTests {
    func observe(_ sse: String, provider: any ChatProvider, deployment: Deployment) throws -> (usage: Usage?, finished: Bool) {
        var decoder = provider.makeStreamDecoder(deployment: deployment)
        var parser = SSEParser()
        var usage: Usage?
        for parsed in try parser.feed(ByteBuffer(string: sse)) + parser.finish() {
            if let value = try decoder.observe(parsed.event) { usage = value }
        }
        let finished = (try? decoder.finish()) != nil
        return (usage, finished)
    }

    static let chunk = #"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"the \"finish_reason\": x"},"finish_reason":null}],"usage":null}"#

    @Test("OpenAI: content deltas pass, the usage chunk reports usage, [DONE] completes")
    func openAIUsage() throws {
        let sse = "data: \(Self.chunk)\n\n"
            + #"data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"# + "\n\n"
            + #"data: {"id":"c","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"# + "\n\n"
            + "data: [DONE]\n\n"
        let result = try observe(sse, provider: OpenAIProvider(), deployment: openAIDeployment)
        #expect(result.usage == Usage(promptTokens: 7, completionTokens: 3))
        #expect(result.finished)
    }

    @Test("OpenAI: a finish reason written with spaces still completes a stream without [DONE]")
    func openAIFinishWithoutDone() throws {
        let spaced = #"data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason" : "stop"}]}"# + "\n\n"
        #expect(try observe("data: \(Self.chunk)\n\n" + spaced, provider: OpenAIProvider(), deployment: openAIDeployment).finished)
        // A key that only appears inside a string value is not a finish reason: the stream is incomplete.
        #expect(try !observe("data: \(Self.chunk)\n\n", provider: OpenAIProvider(), deployment: openAIDeployment).finished)
    }

    @Test("OpenAI: a malformed delta and an in-band error throw")
    func openAIFailures() throws {
        #expect(throws: GatewayError.self) {
            try observe("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}\n\n", provider: OpenAIProvider(), deployment: openAIDeployment)
        }
        #expect(throws: GatewayError.self) {
            try observe(#"data: {"error":{"message":"overloaded","code":503}}"# + "\n\n", provider: OpenAIProvider(), deployment: openAIDeployment)
        }
    }

    @Test("Anthropic: deltas are checked, usage comes from message_start and message_delta")
    func anthropic() throws {
        let sse = """
            event: message_start
            data: {"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":5,"output_tokens":1}}}

            event: content_block_start
            data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4}}

            event: message_stop
            data: {"type":"message_stop"}


            """
        let result = try observe(sse, provider: AnthropicProvider(), deployment: anthropicDeployment)
        #expect(result.usage?.promptTokens == 5)
        #expect(result.usage?.completionTokens == 4)
        #expect(result.finished)
        #expect(throws: GatewayError.self) {
            try observe("event: content_block_delta\ndata: {not json\n\n", provider: AnthropicProvider(), deployment: anthropicDeployment)
        }
    }
}
