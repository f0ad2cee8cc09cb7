import GatehouseCore
import GatehouseProviders
import HTTPTypes
import Hummingbird
import NIOCore

/// The wire format a caller speaks; errors are rendered in it.
public enum IngressDialect: String, Sendable {
    case openAI = "openai"
    case anthropic

    var wire: WireDialect {
        switch self {
        case .openAI: return .openAI
        case .anthropic: return .anthropic
        }
    }

    func errorBody(_ error: GatewayError) -> ByteBuffer {
        switch self {
        case .openAI: return OpenAIDialect.errorBody(error).encodedBuffer()
        case .anthropic: return AnthropicDialect.errorBody(error).encodedBuffer()
        }
    }

    func errorResponse(_ error: GatewayError, requestID: String) -> Response {
        var headers: HTTPFields = [.contentType: "application/json", .requestID: requestID]
        if let retryAfter = error.retryAfter { headers[.retryAfter] = retryAfter }
        if error.kind == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: .init(code: error.status), headers: headers, body: .init(byteBuffer: errorBody(error)))
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("x-request-id")!
    static let apiKey = HTTPField.Name("x-api-key")!
    static let anthropicVersion = HTTPField.Name("anthropic-version")!
    static let anthropicBeta = HTTPField.Name("anthropic-beta")!
    static let droppedParams = HTTPField.Name("x-gatehouse-dropped-params")!
}
