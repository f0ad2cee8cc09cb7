import GatehouseCore
import GatehouseProviders
import NIOCore
import Testing

func body(_ json: String) -> ByteBuffer { ByteBuffer(string: json) }
func json(_ buffer: ByteBuffer) throws -> JSONValue { try JSONValue.decode(buffer) }

let anthropicDeployment = Deployment(publicName: "claude", provider: "anthropic", kind: .anthropic, upstreamModel: "claude-up", defaultMaxTokens: 777)
let geminiDeployment = Deployment(publicName: "gem", provider: "gemini", kind: .gemini, upstreamModel: "gemini-up")
let openAIDeployment = Deployment(publicName: "gpt", provider: "openai", kind: .openAI, upstreamModel: "gpt-up")

@Suite("OpenAI ingress decoding")
struct OpenAIIngressTests {
    @Test("decodes roles, parts, tools and options")
    func decodesEverything() throws {
        let request = try OpenAIDialect.decodeChatRequest(body(#"""
            {"model":"gpt","messages":[
              {"role":"developer","content":"be brief"},
              {"role":"user","content":[{"type":"text","text":"what is this?"},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}]},
              {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"look","arguments":"{\"q\":1}"}}]},
              {"role":"tool","tool_call_id":"c1","content":"a cat"}],
             "tools":[{"type":"function","function":{"name":"look","parameters":{"type":"object"}}}],
             "tool_choice":"required","parallel_tool_calls":false,"response_format":{"type":"json_object"},
             "temperature":0.5,"top_p":0.9,"stop":"END","max_completion_tokens":12,"seed":7,"user":"u1",
             "stream":true,"stream_options":{"include_usage":true},"logprobs":true}
            """#))
        #expect(request.messages.map(\.role) == [.system, .user, .assistant, .tool])
        #expect(request.messages[1].content == [.text("what is this?"), .image(.base64(mediaType: "image/png", data: "AAAA"))])
        #expect(request.messages[2].toolCalls == [ToolCall(id: "c1", name: "look", arguments: #"{"q":1}"#)])
        #expect(request.messages[3].toolCallID == "c1")
        #expect(request.toolChoice == .required)
        #expect(request.parallelToolCalls == false)
        #expect(request.responseFormat == .jsonObject)
        #expect(request.stop == ["END"])
        #expect(request.maxTokens == 12)
        #expect(request.seed == 7)
        #expect(request.stream && request.includeUsage)
        #expect(request.extra == ["logprobs": .bool(true)])
    }

    @Test("names the offending field in errors", arguments: [
        (#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (#"{"model":"m","messages":[]}"#, "messages"),
        (#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#, "messages[0].role"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#, "temperature"),
        (#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#, "messages[0].tool_call_id"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "max_tokens"),
    ])
    func errors(input: String, param: String) {
        #expect {
            _ = try OpenAIDialect.decodeChatRequest(body(input))
        } throws: { error in
            (error as? GatewayError)?.param == param && (error as? GatewayError)?.status == 400
        }
    }

    @Test("rejects invalid JSON with a 400")
    func invalidJSON() {
        #expect {
            _ = try OpenAIDialect.decodeChatRequest(body("{not json"))
        } throws: { error in
            (error as? GatewayError)?.code == "invalid_json"
        }
    }
}

@Suite("OpenAI → Anthropic request mapping")
struct AnthropicRequestTests {
    @Test("hoists the system prompt, merges tool results into one user turn, and sets max_tokens")
    func mapsConversation() throws {
        let request = try OpenAIDialect.decodeChatRequest(body(#"""
            {"model":"claude","messages":[
              {"role":"system","content":"sys"},
              {"role":"user","content":"weather?"},
              {"role":"assistant","tool_calls":[
                 {"id":"t1","type":"function","function":{"name":"w","arguments":"{\"city\":\"Oslo\"}"}},
                 {"id":"t2","type":"function","function":{"name":"w","arguments":"{\"city\":\"Rome\"}"}}]},
              {"role":"tool","tool_call_id":"t1","content":"cold"},
              {"role":"tool","tool_call_id":"t2","content":"warm"}],
             "tools":[{"type":"function","function":{"name":"w","parameters":{"type":"object"}}}],
             "parallel_tool_calls":false,"seed":3}
            """#))
        let prepared = try AnthropicProvider().makeChatRequest(request, deployment: anthropicDeployment)
        let sent = try json(try #require(prepared.egress.body))
        #expect(sent["model"] == .string("claude-up"))
        #expect(sent["max_tokens"] == .int(777))
        #expect(sent["system"] == .string("sys"))
        let messages = try #require(sent["messages"]?.arrayValue)
        #expect(messages.count == 3)
        #expect(messages[1]["content"]?.arrayValue?.compactMap { $0["input"]?["city"]?.stringValue } == ["Oslo", "Rome"])
        #expect(messages[2]["role"] == .string("user"))
        #expect(messages[2]["content"]?.arrayValue?.compactMap { $0["tool_use_id"]?.stringValue } == ["t1", "t2"])
        #expect(sent["tool_choice"]?["disable_parallel_tool_use"] == .bool(true))
        #expect(prepared.droppedFields == ["seed"])
        #expect(prepared.egress.pathSegments == ["v1", "messages"])
        #expect(prepared.egress.headers.contains { $0.name == "anthropic-version" })
    }

    @Test("refuses tool arguments that are not a JSON object")
    func badArguments() throws {
        let request = ChatRequest(
            model: "claude",
            messages: [Message(role: .assistant, content: [], toolCalls: [ToolCall(id: "x", name: "f", arguments: "[1")])])
        #expect(throws: GatewayError.self) { try AnthropicProvider().makeChatRequest(request, deployment: anthropicDeployment) }
    }
}

@Suite("Anthropic ingress decoding")
struct AnthropicIngressTests {
    @Test("splits tool_result blocks into tool messages and keeps images")
    func toolResults() throws {
        let request = try AnthropicDialect.decodeChatRequest(body(#"""
            {"model":"m","max_tokens":10,"system":[{"type":"text","text":"sys"}],"messages":[
              {"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"QUJD"}},{"type":"text","text":"hi"}]},
              {"role":"assistant","content":[{"type":"tool_use","id":"tu1","name":"f","input":{"a":1}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"tu1","content":"42"},{"type":"text","text":"and?"}]}],
             "tool_choice":{"type":"any"},"stop_sequences":["X"],"metadata":{"user_id":"u"}}
            """#))
        #expect(request.messages.map(\.role) == [.system, .user, .assistant, .tool, .user])
        #expect(request.messages[1].content.first == .image(.base64(mediaType: "image/jpeg", data: "QUJD")))
        #expect(request.messages[2].toolCalls == [ToolCall(id: "tu1", name: "f", arguments: #"{"a":1}"#)])
        #expect(request.messages[3].text == "42")
        #expect(request.toolChoice == .required)
        #expect(request.stop == ["X"])
        #expect(request.user == "u")
    }

    @Test("requires max_tokens as the Messages API does")
    func requiresMaxTokens() {
        #expect {
            _ = try AnthropicDialect.decodeChatRequest(body(#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#))
        } throws: { error in
            (error as? GatewayError)?.param == "max_tokens"
        }
    }
}

@Suite("Gemini request mapping")
struct GeminiRequestTests {
    @Test("maps tool calls and results to functionCall/functionResponse with the call's name")
    func functionResponses() throws {
        let request = ChatRequest(
            model: "gem",
            messages: [
                Message(role: .system, content: [.text("sys")]),
                Message(role: .user, content: [.text("hi"), .image(.url("https://x/cat.png", detail: nil))]),
                Message(role: .assistant, content: [], toolCalls: [ToolCall(id: "c1", name: "lookup", arguments: #"{"q":"x"}"#)]),
                Message(role: .tool, content: [.text("plain text")], toolCallID: "c1"),
            ],
            tools: [ToolDefinition(name: "lookup", parameters: .object(["type": .string("object"), "additionalProperties": .bool(false)]))],
            toolChoice: .tool("lookup"), stop: ["S"], maxTokens: 5, stream: true)
        let prepared = try GeminiProvider().makeChatRequest(request, deployment: geminiDeployment)
        #expect(prepared.egress.pathSegments == ["models", "gemini-up:streamGenerateContent"])
        #expect(prepared.egress.query.map(\.value) == ["sse"])
        let sent = try json(try #require(prepared.egress.body))
        let contents = try #require(sent["contents"]?.arrayValue)
        #expect(contents.map { $0["role"]?.stringValue } == ["user", "model", "user"])
        #expect(contents[0]["parts"]?.arrayValue?[1]["fileData"]?["mimeType"] == .string("image/png"))
        #expect(contents[2]["parts"]?.arrayValue?[0]["functionResponse"]?["name"] == .string("lookup"))
        #expect(contents[2]["parts"]?.arrayValue?[0]["functionResponse"]?["response"]?["content"] == .string("plain text"))
        #expect(sent["systemInstruction"]?["parts"]?.arrayValue?.first?["text"] == .string("sys"))
        #expect(sent["toolConfig"]?["functionCallingConfig"]?["allowedFunctionNames"] == .array([.string("lookup")]))
        let declared = sent["tools"]?.arrayValue?.first?["functionDeclarations"]?.arrayValue?.first
        #expect(declared?["parameters"]?["additionalProperties"] == nil)
        #expect(sent["generationConfig"]?["maxOutputTokens"] == .int(5))
    }

    @Test("refuses a tool result for a call no assistant made")
    func orphanResult() {
        let request = ChatRequest(model: "gem", messages: [Message(role: .tool, content: [.text("x")], toolCallID: "nope")])
        #expect(throws: GatewayError.self) { try GeminiProvider().makeChatRequest(request, deployment: geminiDeployment) }
    }
}
