import GatehouseCore
import GatehouseProviders
import NIOCore
import NIOHTTP1

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

    func errorResponse(_ error: GatewayError, requestID: String) -> FrontResponse {
        var headers: HTTPHeaders = ["content-type": "application/json", "x-request-id": requestID]
        if let retryAfter = error.retryAfter { headers.add(name: "retry-after", value: retryAfter) }
        if error.kind == .unauthorized { headers.add(name: "www-authenticate", value: "Bearer") }
        return FrontResponse(status: .init(statusCode: error.status), headers: headers, body: .buffer(errorBody(error)))
    }
}
