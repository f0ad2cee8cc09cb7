import Foundation
import GatehouseCore
import GatehouseProviders
import GatehouseSecurity
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The front's request pipeline: authenticate, read the body within its limit,
/// authorise the model, route to the deployment, translate or pass through, and
/// answer in the caller's dialect. Holds public keys only and no provider key:
/// the egress transport is its one road out.
public struct Gateway: Sendable {
    public struct Limits: Sendable {
        public var maxBodyBytes: Int
        public var maxUpstreamBodyBytes: Int

        public init(maxBodyBytes: Int = 16 << 20, maxUpstreamBodyBytes: Int = 64 << 20) {
            self.maxBodyBytes = maxBodyBytes
            self.maxUpstreamBodyBytes = maxUpstreamBodyBytes
        }
    }

    let credentials: any CredentialSource
    let catalog: ModelCatalog
    let egress: any EgressTransport
    let limits: Limits
    let logger: Logger
    /// Where request metadata and refusals are recorded (in a deployed front: forwarded to the keyholder's log).
    let audit: any AuditSink
    public let metrics: GatewayMetrics
    /// More metrics text served on `/metrics` after the front's own (the keyholder's counters).
    let extraMetrics: @Sendable () async -> String

    public init(verifier: TokenVerifier, catalog: ModelCatalog, egress: any EgressTransport, limits: Limits, logger: Logger) {
        self.init(credentials: StaticCredentials(verifier: verifier), catalog: catalog, egress: egress, limits: limits, logger: logger)
    }

    public init(
        credentials: any CredentialSource, catalog: ModelCatalog, egress: any EgressTransport, limits: Limits, logger: Logger,
        audit: any AuditSink = DiscardingAuditSink(), metrics: GatewayMetrics = GatewayMetrics(),
        extraMetrics: @escaping @Sendable () async -> String = { "" }
    ) {
        self.credentials = credentials
        self.catalog = catalog
        self.egress = egress
        self.limits = limits
        self.logger = logger
        self.audit = audit
        self.metrics = metrics
        self.extraMetrics = extraMetrics
    }

    /// Everything known about one request, for the request log line.
    struct Exchange {
        let id: String
        let dialect: IngressDialect
        let started: ContinuousClock.Instant
        var principal: Principal?
        var model: String?
        var deployment: Deployment?
        var usage: Usage?
        var mode = "translate"
        /// The request body as received, until it is digested into ``prompt``. Hashing it is
        /// kept off the way to the provider: it happens when the request is recorded, or once a
        /// stream's first chunk has been written (which also lets the body go).
        var promptBody: ByteBuffer?
        /// SHA-256 of the request body as received.
        var prompt: AuditValue?
        /// SHA-256 of the answer's body as sent to the caller (every byte of a stream).
        var completion = ContentDigest()
        /// A whole answer, added to ``completion`` when the request is recorded (after it was written).
        var answer: ByteBuffer?

        mutating func received(_ body: ByteBuffer) {
            promptBody = body
        }

        mutating func digestPrompt() {
            guard let body = promptBody else { return }
            promptBody = nil
            var digest = ContentDigest()
            body.withUnsafeReadableBytes { digest.update($0) }
            prompt = digest.finalize()
        }

        /// Bytes of a stream written to the caller.
        mutating func sent(_ buffer: ByteBuffer) {
            buffer.withUnsafeReadableBytes { completion.update($0) }
        }
    }

    /// A request id unique to this gateway: a random prefix drawn once per process, then a
    /// counter (drawing randomness per request cost two system calls). Ids are labels for
    /// correlating logs and the audit trail, not secrets.
    static func makeRequestID() -> String {
        let count = requestCounter.add(1, ordering: .relaxed).newValue
        return requestIDPrefix + String(count, radix: 16)
    }

    private static let requestIDPrefix: String = {
        var generator = SystemRandomNumberGenerator()
        let random = String(generator.next() | (1 << 63), radix: 16)
        return "req_" + random + "_"
    }()
    private static let requestCounter = Atomic<UInt64>(0)

    // MARK: Authentication

    /// Reads the caller's token from `Authorization: Bearer` or `x-api-key` and verifies it.
    /// The caller learns only that the token was refused; the reason goes to the log.
    func authenticate(_ request: FrontRequest, exchange: inout Exchange) throws -> Principal {
        var token: Substring?
        if let authorization = request.header("authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { token = parts[1] }
        }
        if token == nil, let apiKey = request.header("x-api-key") { token = Substring(apiKey) }
        guard let token, !token.isEmpty else {
            refused("missing_token", exchange: exchange)
            throw GatewayError(.unauthorized, "Missing credentials: send a Gatehouse token as 'Authorization: Bearer' or 'x-api-key'.", code: "missing_token")
        }
        let principal: Principal
        do {
            principal = try credentials.verifier.verify(token)
        } catch {
            refused(error.code, exchange: exchange)
            throw GatewayError(.unauthorized, "The token is invalid or expired.", code: "invalid_token")
        }
        guard !credentials.isRevoked(principal) else {
            refused("revoked", exchange: exchange, principal: principal)
            throw GatewayError(.unauthorized, "The token is invalid or expired.", code: "invalid_token")
        }
        exchange.principal = principal
        return principal
    }

    /// Logs, counts and records a refused caller. The token itself is never recorded: only
    /// the refusal's code and, once the signature is known good, its subject and id.
    func refused(_ reason: String, exchange: Exchange, principal: Principal? = nil, model: String? = nil) {
        logger.info(
            "caller refused", metadata: ["gatehouse.request.id": .string(exchange.id), "gatehouse.auth.refusal": .string(reason)])
        metrics.authRefusals.add([reason])
        var fields: AuditFields = [
            "request_id": .string(exchange.id), "reason": .string(reason), "dialect": .string(exchange.dialect.rawValue),
        ]
        if let principal {
            fields["principal"] = .string(principal.subject)
            fields["token_id"] = .string(principal.tokenID)
        }
        if let model { fields["model"] = .string(String(model.prefix(200))) }
        audit.record(.authRefused, fields: fields)
    }

    func readBody(_ request: FrontRequest) async throws -> ByteBuffer {
        let tooLarge = GatewayError(.payloadTooLarge, "The request body exceeds the limit of \(limits.maxBodyBytes) bytes.", code: "body_too_large")
        switch request.body {
        case .complete(let body):
            guard body.readableBytes <= limits.maxBodyBytes else { throw tooLarge }
            return body
        case .pending(let body):
            do {
                return try await body.get()
            } catch is FrontRequest.BodyTooLarge {
                throw tooLarge
            } catch {
                throw CancellationError()
            }
        }
    }

    /// Resolves the model: out-of-scope is 403 before existence is revealed, unknown is 404.
    func authorize(model: String, principal: Principal, exchange: Exchange) throws -> Deployment {
        guard principal.allows(model: model) else {
            refused("model_not_allowed", exchange: exchange, principal: principal, model: model)
            throw GatewayError(.forbidden, "This token does not allow the model '\(model)'.", code: "model_not_allowed", param: "model")
        }
        guard let deployment = catalog.deployment(named: model) else {
            throw GatewayError(.notFound, "The model '\(model)' does not exist on this gateway.", code: "model_not_found", param: "model")
        }
        return deployment
    }

    /// Request fields and headers with which callers of other gateways pick the upstream URL or key
    /// (LiteLLM's `api_base` sent keys to a caller's host, CVE-2024-6587). Gatehouse refuses them outright.
    static let routingOverrideFields: Set<String> = [
        "api_base", "base_url", "api_key", "api_url", "custom_llm_provider", "provider_url", "endpoint_url",
    ]
    static let routingOverrideHeaders = ["x-base-url", "x-api-base", "x-gatehouse-base-url", "x-provider-url", "x-api-key-override"]

    /// Fails closed on any attempt to choose where the request goes or which key it carries.
    func refuseRoutingOverrides(_ request: FrontRequest, members: JSONTopLevel) throws {
        if let field = members.members.first(where: { Self.routingOverrideFields.contains($0.key) })?.key {
            logger.warning("caller tried to choose the upstream", metadata: ["gatehouse.refusal.field": .string(field)])
            throw GatewayError(
                .invalidRequest, "The field '\(field)' is not accepted: callers cannot choose the provider URL or key.",
                code: "routing_override_refused", param: field)
        }
        for name in Self.routingOverrideHeaders {
            if request.headers.contains(name: name) {
                logger.warning("caller tried to choose the upstream", metadata: ["gatehouse.refusal.header": .string(name)])
                throw GatewayError(
                    .invalidRequest, "The header '\(name)' is not accepted: callers cannot choose the provider URL or key.",
                    code: "routing_override_refused", param: name)
            }
        }
    }

    /// Scans a request body: a JSON object without repeated top-level fields (fully validated, not decoded).
    static func scanBody(_ body: ByteBuffer) throws -> JSONTopLevel {
        do {
            return try JSONTopLevel(scanning: body)
        } catch .duplicateKey(let key) {
            throw GatewayError(.invalidRequest, "The request body repeats the field '\(key)'.", code: "duplicate_field", param: key)
        } catch .notAnObject {
            throw GatewayError(.invalidRequest, "The request body must be a JSON object.", code: "invalid_json")
        } catch .malformed(let offset) {
            throw GatewayError.invalidJSON("malformed at byte \(offset)")
        }
    }

    /// The `model` member: present, a non-empty string.
    static func model(in members: JSONTopLevel, body: ByteBuffer) throws -> String {
        guard let value = members.value(of: "model", in: body), value != .null else { throw GatewayError.missingField("model") }
        guard let model = value.stringValue else { throw GatewayError.invalidField("model", "expected a string") }
        guard !model.isEmpty else { throw GatewayError.missingField("model") }
        return model
    }

    // MARK: Logging and errors

    /// Ends a request: counts it, records it in the audit log, and (at `debug` level, off by
    /// default: the audit record holds the same facts) writes a log line.
    func finish(_ exchange: Exchange, status: Int, error: GatewayError? = nil) {
        record(exchange, status: status, error: error)
        guard logger.logLevel <= .debug else { return }
        var metadata: Logger.Metadata = [
            "gatehouse.request.id": .string(exchange.id), "gatehouse.dialect": .string(exchange.dialect.rawValue),
            "gatehouse.status": .stringConvertible(status),
            "gatehouse.duration_ms": .stringConvertible((ContinuousClock.now - exchange.started).milliseconds),
        ]
        if let principal = exchange.principal {
            metadata["gatehouse.principal"] = .string(principal.subject)
            metadata["gatehouse.token.id"] = .string(principal.tokenID)
        }
        if let model = exchange.model { metadata["gatehouse.model"] = .string(model) }
        if let deployment = exchange.deployment {
            metadata["gatehouse.provider"] = .string(deployment.provider)
            metadata["gatehouse.mode"] = .string(exchange.mode)
        }
        if let usage = exchange.usage {
            metadata["gatehouse.usage.prompt_tokens"] = .stringConvertible(usage.promptTokens)
            metadata["gatehouse.usage.completion_tokens"] = .stringConvertible(usage.completionTokens)
        }
        if let error { metadata["gatehouse.error.code"] = .string(error.code) }
        logger.debug("request", metadata: metadata)
    }

    /// A successful whole answer, accounted for (``finish(_:status:error:)``) once it has been
    /// written: the caller does not wait for the metrics, the audit record or the answer's digest.
    func answered(_ response: FrontResponse, exchange: Exchange) -> FrontResponse {
        var exchange = exchange
        if case .buffer(let body) = response.body { exchange.answer = body }
        var response = response
        response.afterWrite = { [self, exchange] in finish(exchange, status: 200) }
        return response
    }

    /// Counts the request and records its metadata: who, what, where, how it ended, and the
    /// digests of what was asked and answered, never the text.
    func record(_ exchange: Exchange, status: Int, error: GatewayError?) {
        var exchange = exchange
        exchange.digestPrompt()
        if let answer = exchange.answer { exchange.sent(answer) }
        let elapsed = ContinuousClock.now - exchange.started
        let provider = exchange.deployment?.provider ?? "none"
        metrics.requests.add([exchange.dialect.rawValue, provider, String(status)])
        metrics.duration.observe([exchange.dialect.rawValue], Double(elapsed.milliseconds) / 1000)
        if let usage = exchange.usage {
            metrics.tokens.add([provider, "prompt"], Int64(usage.promptTokens))
            metrics.tokens.add([provider, "completion"], Int64(usage.completionTokens))
        }
        var fields: AuditFields = [
            "request_id": .string(exchange.id), "dialect": .string(exchange.dialect.rawValue), "status": .int(status),
            "duration_ms": .int(elapsed.milliseconds),
        ]
        if let principal = exchange.principal {
            fields["principal"] = .string(principal.subject)
            fields["token_id"] = .string(principal.tokenID)
        }
        if let model = exchange.model { fields["model"] = .string(String(model.prefix(200))) }
        if let deployment = exchange.deployment {
            fields["provider"] = .string(deployment.provider)
            fields["mode"] = .string(exchange.mode)
        }
        if let usage = exchange.usage {
            fields["prompt_tokens"] = .int(usage.promptTokens)
            fields["completion_tokens"] = .int(usage.completionTokens)
        }
        if let prompt = exchange.prompt { fields["prompt_sha256"] = prompt }
        if exchange.completion.byteCount > 0 { fields["completion_sha256"] = exchange.completion.finalize() }
        if let error { fields["error"] = .string(error.code) }
        audit.record(.request, fields: fields)
    }

    func failure(_ error: any Error, exchange: Exchange) -> FrontResponse {
        // The caller went away (its connection closed, which cancels the request's task):
        // whatever the exchange failed with after that, what happened is the disconnect.
        if Task.isCancelled {
            let gone = GatewayError(.invalidRequest, "client went away", code: "client_disconnected")
            finish(exchange, status: 499, error: gone)
            return exchange.dialect.errorResponse(gone, requestID: exchange.id)
        }
        let gatewayError: GatewayError
        switch error {
        case let error as GatewayError: gatewayError = error
        case is CancellationError:
            gatewayError = GatewayError(.upstreamFailure, "The request was cancelled.", code: "cancelled")
        default:
            logger.error("unexpected failure", metadata: ["gatehouse.request.id": .string(exchange.id), "gatehouse.error.type": .string("\(type(of: error))")])
            gatewayError = GatewayError(.internalError, "The gateway failed to handle the request.", code: "internal")
        }
        finish(exchange, status: gatewayError.status, error: gatewayError)
        return exchange.dialect.errorResponse(gatewayError, requestID: exchange.id)
    }

    /// Reads a complete upstream answer within the size cap. A connection lost mid-body
    /// is the provider's failure (502), not the gateway's.
    func readUpstreamBody(_ response: EgressResponse) async throws -> ByteBuffer {
        do {
            return try await response.body.collect(upTo: limits.maxUpstreamBodyBytes)
        } catch let error as GatewayError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw GatewayError(.upstreamFailure, "The connection to the provider was lost before its answer was complete.", code: "upstream_incomplete")
        }
    }

    /// Reads an upstream error answer (bounded) and maps it; never forwards it raw.
    func upstreamError(_ response: EgressResponse, provider: any ChatProvider) async -> GatewayError {
        let body = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
        return provider.mapError(status: response.status, retryAfter: response.header("retry-after"), body: body)
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
