import Hummingbird

/// The wire format a route speaks; decides how errors look.
enum Dialect: Sendable {
    case openAI
    case anthropic
    case gemini
}

/// A provider-neutral error the simulator can answer with.
enum SimulatedError: Error, Sendable {
    case invalidRequest(String)
    case authentication(String)
    /// The `401` fault: a key the provider no longer accepts, in each provider's own words.
    case keyRejected
    /// The prompt has more tokens than ``SimulatorOptions/contextWindow``.
    case contextLengthExceeded(tokens: Int, limit: Int)
    case notFound(String)
    case rateLimited(retryAfterSeconds: Int)
    case serverError
    case unavailable

    var status: HTTPResponse.Status {
        switch self {
        case .invalidRequest, .contextLengthExceeded: .badRequest
        case .authentication, .keyRejected: .unauthorized
        case .notFound: .notFound
        case .rateLimited: .tooManyRequests
        case .serverError: .internalServerError
        case .unavailable: .serviceUnavailable
        }
    }

    /// The error message; for ``keyRejected`` and ``contextLengthExceeded`` the provider's real wording.
    func message(in dialect: Dialect) -> String {
        switch self {
        case .invalidRequest(let message), .authentication(let message), .notFound(let message): message
        case .keyRejected: Self.keyRejectedMessage(dialect)
        case .contextLengthExceeded(let tokens, let limit):
            Self.contextLengthMessage(dialect, tokens: tokens, limit: limit)
        case .rateLimited: "Rate limit reached (simulated)."
        case .serverError: "The server had an error while processing your request (simulated)."
        case .unavailable: "The service is temporarily unavailable (simulated)."
        }
    }

    private static func keyRejectedMessage(_ dialect: Dialect) -> String {
        switch dialect {
        case .openAI:
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
        case .anthropic: "invalid x-api-key"
        case .gemini:
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
                + "valid authentication credential."
        }
    }

    private static func contextLengthMessage(_ dialect: Dialect, tokens: Int, limit: Int) -> String {
        switch dialect {
        case .openAI:
            "This model's maximum context length is \(limit) tokens. However, your messages resulted in \(tokens) "
                + "tokens. Please reduce the length of the messages."
        case .anthropic: "prompt is too long: \(tokens) tokens > \(limit) maximum"
        case .gemini: "The input token count (\(tokens)) exceeds the maximum number of tokens allowed (\(limit))."
        }
    }

    /// The error for a status fault, or nil for faults that are not an error status.
    init?(fault: SimulatorFault, retryAfterSeconds: Int) {
        switch fault {
        case .rateLimit: self = .rateLimited(retryAfterSeconds: retryAfterSeconds)
        case .serverError: self = .serverError
        case .unavailable: self = .unavailable
        case .unauthorized: self = .keyRejected
        case .slow, .reset, .malformed: return nil
        }
    }

    func response(in dialect: Dialect) -> Response {
        var headers = HTTPFields()
        if case .rateLimited(let seconds) = self {
            headers[.retryAfter] = String(seconds)
            // OpenAI sends both; clients that read the millisecond header prefer it.
            if let name = Self.retryAfterMilliseconds {
                let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
                headers[name] = String(overflow ? Int.max : milliseconds)
            }
        }
        return HTTPOutput.json(body(in: dialect), status: status, headers: headers)
    }

    /// Hummingbird re-exports `HTTPFields` but not `HTTPField`, hence the element type.
    private static let retryAfterMilliseconds = HTTPFields.Element.Name("retry-after-ms")

    func body(in dialect: Dialect) -> JSON {
        let message = message(in: dialect)
        switch dialect {
        case .openAI:
            let (type, code) = openAITypeAndCode
            let param: JSON = if case .contextLengthExceeded = self { "messages" } else { nil }
            return ["error": ["message": .string(message), "type": .string(type), "param": param, "code": code]]
        case .anthropic:
            return ["type": "error", "error": ["type": .string(anthropicType), "message": .string(message)]]
        case .gemini:
            return [
                "error": ["code": .int(Int(status.code)), "message": .string(message), "status": .string(geminiStatus)]
            ]
        }
    }

    private var openAITypeAndCode: (String, JSON) {
        switch self {
        case .invalidRequest, .notFound: ("invalid_request_error", nil)
        case .authentication, .keyRejected: ("invalid_request_error", "invalid_api_key")
        case .contextLengthExceeded: ("invalid_request_error", "context_length_exceeded")
        case .rateLimited: ("requests", "rate_limit_exceeded")
        case .serverError: ("server_error", nil)
        case .unavailable: ("server_error", "service_unavailable")
        }
    }

    private var anthropicType: String {
        switch self {
        case .invalidRequest, .contextLengthExceeded: "invalid_request_error"
        case .authentication, .keyRejected: "authentication_error"
        case .notFound: "not_found_error"
        case .rateLimited: "rate_limit_error"
        case .serverError: "api_error"
        case .unavailable: "overloaded_error"
        }
    }

    private var geminiStatus: String {
        switch self {
        case .invalidRequest, .contextLengthExceeded: "INVALID_ARGUMENT"
        case .authentication, .keyRejected: "UNAUTHENTICATED"
        case .notFound: "NOT_FOUND"
        case .rateLimited: "RESOURCE_EXHAUSTED"
        case .serverError: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        }
    }
}
