import GatehouseCore
import NIOCore

/// The Anthropic wire format as spoken to callers (ingress).
public enum AnthropicDialect {
    public static func decodeChatRequest(_ body: ByteBuffer) throws -> ChatRequest {
        try AnthropicRequestMapping.decode(try JSONValue.decode(body))
    }

    public static func encodeChatResponse(_ response: ChatResponse, model: String) -> ByteBuffer {
        AnthropicResponseMapping.encode(response, model: model).encodedBuffer()
    }

    public static func makeStreamEncoder(model: String) -> AnthropicStreamEncoder {
        AnthropicStreamEncoder(model: model)
    }

    public static func errorBody(_ error: GatewayError) -> JSONValue {
        .object([
            "type": .string("error"),
            "error": .object(["type": .string(error.anthropicType), "message": .string(error.message)]),
        ])
    }
}
