import Foundation
import GatehouseCore
import NIOCore

/// The OpenAI wire format as spoken to callers (ingress).
public enum OpenAIDialect {
    public static func decodeChatRequest(_ body: ByteBuffer) throws -> ChatRequest {
        try OpenAIRequestMapping.decode(try JSONValue.decode(body))
    }

    public static func encodeChatResponse(_ response: ChatResponse, model: String) -> ByteBuffer {
        OpenAIResponseMapping.encode(response, model: model).encodedBuffer()
    }

    public static func makeStreamEncoder(model: String, includeUsage: Bool, created: Int) -> OpenAIStreamEncoder {
        OpenAIStreamEncoder(model: model, includeUsage: includeUsage, created: created)
    }

    public static func errorBody(_ error: GatewayError) -> JSONValue {
        .object([
            "error": .object([
                "message": .string(error.message), "type": .string(error.openAIType),
                "param": error.param.map(JSONValue.string) ?? .null, "code": .string(error.code),
            ])
        ])
    }

    public static func decodeEmbeddingRequest(_ body: ByteBuffer) throws -> EmbeddingRequest {
        let root = try JSONObjectReader(try JSONValue.decode(body), path: "")
        let model = try root.requiredString("model")
        let inputs: [String]
        switch root["input"] {
        case .string(let text): inputs = [text]
        case .array(let items) where items.allSatisfy({ $0.stringValue != nil }) && !items.isEmpty:
            inputs = items.compactMap(\.stringValue)
        case nil: throw GatewayError.missingField("input")
        default:
            throw GatewayError(
                .invalidRequest, "'input' must be a string or a non-empty array of strings for this model.",
                code: .invalidField, param: "input")
        }
        let format = try root.string("encoding_format") ?? "float"
        guard format == "float" || format == "base64" else {
            throw GatewayError.invalidField("encoding_format", "expected 'float' or 'base64'")
        }
        return EmbeddingRequest(model: model, inputs: inputs, dimensions: try root.int("dimensions"), encodingFormat: format)
    }

    public static func encodeEmbeddingResponse(_ response: EmbeddingResponse, model: String, format: String) -> ByteBuffer {
        let data: [JSONValue] = response.vectors.enumerated().map { index, vector in
            let embedding: JSONValue
            if format == "base64" {
                var bytes = [UInt8]()
                bytes.reserveCapacity(vector.count * 4)
                for value in vector { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
                embedding = .string(Data(bytes).base64EncodedString())
            } else {
                embedding = .array(vector.map { .double(Double($0)) })
            }
            return .object(["object": .string("embedding"), "index": .int(Int64(index)), "embedding": embedding])
        }
        let body: JSONValue = .object([
            "object": .string("list"), "data": .array(data), "model": .string(model),
            "usage": .object([
                "prompt_tokens": .int(Int64(response.promptTokens)), "total_tokens": .int(Int64(response.promptTokens)),
            ]),
        ])
        return body.encodedBuffer()
    }
}
