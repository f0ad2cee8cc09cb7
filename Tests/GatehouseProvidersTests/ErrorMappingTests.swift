import GatehouseCore
import GatehouseProviders
import NIOCore
import Testing

@Suite("Upstream error mapping: the prompt-too-long answer of each provider")
struct ErrorMappingTests {
    @Test(
        "recognises each provider's context-window error",
        arguments: [
            (
                ProviderKind.openAI, 400,
                #"{"error":{"message":"This model's maximum context length is 10 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#
            ),
            (
                .anthropic, 400,
                #"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 12 tokens > 10 maximum"}}"#
            ),
            (
                .gemini, 400,
                #"{"error":{"code":400,"message":"The input token count (12) exceeds the maximum number of tokens allowed (10).","status":"INVALID_ARGUMENT"}}"#
            ),
        ])
    func contextWindow(kind: ProviderKind, status: Int, body: String) {
        let error = ProviderRegistry.chatProvider(for: kind).mapError(
            status: status, retryAfter: nil, body: ByteBuffer(string: body))
        #expect(error.code == "context_window_exceeded")
        #expect(error.status == 400)
    }

    @Test("another 400 stays a rejection", arguments: [ProviderKind.openAI, .anthropic, .gemini])
    func otherBadRequest(kind: ProviderKind) {
        let body = #"{"error":{"message":"bad temperature","type":"invalid_request_error","code":"invalid_value"}}"#
        let error = ProviderRegistry.chatProvider(for: kind).mapError(
            status: 400, retryAfter: nil, body: ByteBuffer(string: body))
        #expect(error.code == "upstream_rejected")
    }
}
