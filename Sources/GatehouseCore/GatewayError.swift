/// An error the gateway reports to a caller. It carries a stable `code` (safe as a
/// metric label), an HTTP status, and a message that never contains secrets or
/// upstream bodies unless they were sanitised first. Ingress dialects render it.
public struct GatewayError: Error, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case invalidRequest = "invalid_request"
        case unauthorized
        case forbidden
        case notFound = "not_found"
        case payloadTooLarge = "payload_too_large"
        case rateLimited = "rate_limited"
        case upstreamFailure = "upstream_failure"
        case upstreamUnavailable = "upstream_unavailable"
        case upstreamTimeout = "upstream_timeout"
        case internalError = "internal"
    }

    public var kind: Kind
    public var message: String
    /// The request field at fault (OpenAI `param`).
    public var param: String?
    /// A stable, specific code such as `model_not_found` or `invalid_json`.
    public var code: String
    /// Seconds the caller should wait, passed on from an upstream `retry-after`.
    public var retryAfter: String?

    public init(_ kind: Kind, _ message: String, code: String? = nil, param: String? = nil, retryAfter: String? = nil) {
        self.kind = kind
        self.message = message
        self.code = code ?? kind.rawValue
        self.param = param
        self.retryAfter = retryAfter
    }

    public var status: Int {
        switch kind {
        case .invalidRequest: return 400
        case .unauthorized: return 401
        case .forbidden: return 403
        case .notFound: return 404
        case .payloadTooLarge: return 413
        case .rateLimited: return 429
        case .upstreamFailure: return 502
        case .upstreamUnavailable: return 503
        case .upstreamTimeout: return 504
        case .internalError: return 500
        }
    }

    /// OpenAI's `error.type` for this kind.
    public var openAIType: String {
        switch kind {
        case .invalidRequest, .notFound, .payloadTooLarge: return "invalid_request_error"
        case .unauthorized: return "authentication_error"
        case .forbidden: return "permission_error"
        case .rateLimited: return "rate_limit_error"
        case .upstreamFailure, .upstreamUnavailable, .upstreamTimeout, .internalError: return "api_error"
        }
    }

    /// Anthropic's `error.type` for this kind.
    public var anthropicType: String {
        switch kind {
        case .invalidRequest: return "invalid_request_error"
        case .unauthorized: return "authentication_error"
        case .forbidden: return "permission_error"
        case .notFound: return "not_found_error"
        case .payloadTooLarge: return "request_too_large"
        case .rateLimited: return "rate_limit_error"
        case .upstreamUnavailable: return "overloaded_error"
        case .upstreamTimeout, .upstreamFailure: return "api_error"
        case .internalError: return "api_error"
        }
    }
}

extension GatewayError {
    public static func invalidJSON(_ detail: String) -> GatewayError {
        GatewayError(.invalidRequest, "The request body is not valid JSON: \(detail)", code: "invalid_json")
    }

    public static func missingField(_ field: String) -> GatewayError {
        GatewayError(.invalidRequest, "Missing required field '\(field)'.", code: "missing_field", param: field)
    }

    public static func invalidField(_ field: String, _ detail: String) -> GatewayError {
        GatewayError(.invalidRequest, "Invalid '\(field)': \(detail)", code: "invalid_field", param: field)
    }

    public static func unsupported(_ field: String, provider: String) -> GatewayError {
        GatewayError(
            .invalidRequest, "'\(field)' is not supported when the model is served by a \(provider) provider.",
            code: "unsupported_parameter", param: field)
    }
}
