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

        /// The code of an error of this kind that names none more specific.
        var defaultCode: Code {
            switch self {
            case .invalidRequest: return .invalidRequest
            case .unauthorized: return .unauthorized
            case .forbidden: return .forbidden
            case .notFound: return .notFound
            case .payloadTooLarge: return .payloadTooLarge
            case .rateLimited: return .rateLimited
            case .upstreamFailure: return .upstreamFailure
            case .upstreamUnavailable: return .upstreamUnavailable
            case .upstreamTimeout: return .upstreamTimeout
            case .internalError: return .internalFailure
            }
        }
    }

    public var kind: Kind
    public var message: String
    /// The request field at fault (OpenAI `param`).
    public var param: String?
    /// A stable, specific code such as `model_not_found` or `invalid_json`.
    public var errorCode: Code
    /// Seconds the caller should wait, passed on from an upstream `retry-after`.
    public var retryAfter: String?

    /// The code as text, as callers see it.
    public var code: String { errorCode.rawValue }

    public init(_ kind: Kind, _ message: String, code: Code? = nil, param: String? = nil, retryAfter: String? = nil) {
        self.kind = kind
        self.message = message
        self.errorCode = code ?? kind.defaultCode
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
        GatewayError(.invalidRequest, "The request body is not valid JSON: \(detail)", code: .invalidJSON)
    }

    public static func missingField(_ field: String) -> GatewayError {
        GatewayError(.invalidRequest, "Missing required field '\(field)'.", code: .missingField, param: field)
    }

    public static func invalidField(_ field: String, _ detail: String) -> GatewayError {
        GatewayError(.invalidRequest, "Invalid '\(field)': \(detail)", code: .invalidField, param: field)
    }

    public static func unsupported(_ field: String, provider: String) -> GatewayError {
        GatewayError(
            .invalidRequest, "'\(field)' is not supported when the model is served by a \(provider) provider.",
            code: .unsupportedParameter, param: field)
    }
}

extension GatewayError {
    /// A stable, specific error code (`model_not_found`, `invalid_json`, …): a closed set, so a
    /// metric label or a log field made from one can never be arbitrary text.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, CaseIterable {
            case accountingUnavailable = "accounting_unavailable"
            case bodyTooLarge = "body_too_large"
            case budgetExceeded = "budget_exceeded"
            case cancelled
            case clientDisconnected = "client_disconnected"
            case contextWindowExceeded = "context_window_exceeded"
            case duplicateField = "duplicate_field"
            case egressAddressRefused = "egress_address_refused"
            case egressMethodRefused = "egress_method_refused"
            case egressPathRefused = "egress_path_refused"
            case forbidden
            case guardrailBlocked = "guardrail_blocked"
            case guardrailPolicyUnknown = "guardrail_policy_unknown"
            case guardrailUnavailable = "guardrail_unavailable"
            case internalFailure = "internal"
            case invalidField = "invalid_field"
            case invalidJSON = "invalid_json"
            case invalidRequest = "invalid_request"
            case invalidToken = "invalid_token"
            case keyholderUnavailable = "keyholder_unavailable"
            case linkFailure = "link_failure"
            case linkMalformed = "link_malformed"
            case missingField = "missing_field"
            case missingToken = "missing_token"
            case modelNotAllowed = "model_not_allowed"
            case modelNotFound = "model_not_found"
            case noDeploymentAvailable = "no_deployment_available"
            case notFound = "not_found"
            case payloadTooLarge = "payload_too_large"
            case priceUnknown = "price_unknown"
            case rateLimited = "rate_limited"
            case routeNotFound = "route_not_found"
            case routingOverrideRefused = "routing_override_refused"
            case scopeRequired = "scope_required"
            case unauthorized
            case unknownProvider = "unknown_provider"
            case unsupportedContent = "unsupported_content"
            case unsupportedOperation = "unsupported_operation"
            case unsupportedParameter = "unsupported_parameter"
            case upstreamAuthFailed = "upstream_auth_failed"
            case upstreamError = "upstream_error"
            case upstreamFailure = "upstream_failure"
            case upstreamIncomplete = "upstream_incomplete"
            case upstreamMalformed = "upstream_malformed"
            case upstreamNotFound = "upstream_not_found"
            case upstreamRateLimited = "upstream_rate_limited"
            case upstreamRejected = "upstream_rejected"
            case upstreamStreamLost = "upstream_stream_lost"
            case upstreamTimeout = "upstream_timeout"
            case upstreamTooLarge = "upstream_too_large"
            case upstreamUnavailable = "upstream_unavailable"
            case upstreamUnreachable = "upstream_unreachable"
        }

        private let value: Value

        private init(_ value: Value) { self.value = value }

        /// A code received as text (from the keyholder's link); `nil` for any other text.
        public init?(rawValue: String) {
            guard let value = Value(rawValue: rawValue) else { return nil }
            self.value = value
        }

        public var rawValue: String { value.rawValue }
        public var description: String { value.rawValue }

        /// Every code, for documentation and tests.
        public static var all: [Code] { Value.allCases.map(Code.init) }

        public static let accountingUnavailable = Code(.accountingUnavailable)
        public static let bodyTooLarge = Code(.bodyTooLarge)
        public static let budgetExceeded = Code(.budgetExceeded)
        public static let cancelled = Code(.cancelled)
        public static let clientDisconnected = Code(.clientDisconnected)
        public static let contextWindowExceeded = Code(.contextWindowExceeded)
        public static let duplicateField = Code(.duplicateField)
        public static let egressAddressRefused = Code(.egressAddressRefused)
        public static let egressMethodRefused = Code(.egressMethodRefused)
        public static let egressPathRefused = Code(.egressPathRefused)
        public static let forbidden = Code(.forbidden)
        public static let guardrailBlocked = Code(.guardrailBlocked)
        public static let guardrailPolicyUnknown = Code(.guardrailPolicyUnknown)
        public static let guardrailUnavailable = Code(.guardrailUnavailable)
        public static let internalFailure = Code(.internalFailure)
        public static let invalidField = Code(.invalidField)
        public static let invalidJSON = Code(.invalidJSON)
        public static let invalidRequest = Code(.invalidRequest)
        public static let invalidToken = Code(.invalidToken)
        public static let keyholderUnavailable = Code(.keyholderUnavailable)
        public static let linkFailure = Code(.linkFailure)
        public static let linkMalformed = Code(.linkMalformed)
        public static let missingField = Code(.missingField)
        public static let missingToken = Code(.missingToken)
        public static let modelNotAllowed = Code(.modelNotAllowed)
        public static let modelNotFound = Code(.modelNotFound)
        public static let noDeploymentAvailable = Code(.noDeploymentAvailable)
        public static let notFound = Code(.notFound)
        public static let payloadTooLarge = Code(.payloadTooLarge)
        public static let priceUnknown = Code(.priceUnknown)
        public static let rateLimited = Code(.rateLimited)
        public static let routeNotFound = Code(.routeNotFound)
        public static let routingOverrideRefused = Code(.routingOverrideRefused)
        public static let scopeRequired = Code(.scopeRequired)
        public static let unauthorized = Code(.unauthorized)
        public static let unknownProvider = Code(.unknownProvider)
        public static let unsupportedContent = Code(.unsupportedContent)
        public static let unsupportedOperation = Code(.unsupportedOperation)
        public static let unsupportedParameter = Code(.unsupportedParameter)
        public static let upstreamAuthFailed = Code(.upstreamAuthFailed)
        public static let upstreamError = Code(.upstreamError)
        public static let upstreamFailure = Code(.upstreamFailure)
        public static let upstreamIncomplete = Code(.upstreamIncomplete)
        public static let upstreamMalformed = Code(.upstreamMalformed)
        public static let upstreamNotFound = Code(.upstreamNotFound)
        public static let upstreamRateLimited = Code(.upstreamRateLimited)
        public static let upstreamRejected = Code(.upstreamRejected)
        public static let upstreamStreamLost = Code(.upstreamStreamLost)
        public static let upstreamTimeout = Code(.upstreamTimeout)
        public static let upstreamTooLarge = Code(.upstreamTooLarge)
        public static let upstreamUnavailable = Code(.upstreamUnavailable)
        public static let upstreamUnreachable = Code(.upstreamUnreachable)
    }
}
