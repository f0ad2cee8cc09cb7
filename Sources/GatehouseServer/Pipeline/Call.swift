import GatehouseCore
import GatehouseProviders
import GatehouseSecurity
import NIOCore

extension Gateway {
    /// Stage 2: what an authenticated caller asked for. The body is read within its limit and
    /// scanned (validated, not decoded: a pass-through needs only the model and the stream
    /// flag); a translation decodes it once, when a deployment first needs it.
    struct Call {
        enum Operation {
            case chat
            case embeddings
        }

        let operation: Operation
        let dialect: IngressDialect
        let principal: Principal
        private(set) var body: ByteBuffer
        private(set) var members: JSONTopLevel
        let model: String
        let stream: Bool
        /// Caller headers a same-dialect provider receives (Anthropic's version and beta flags).
        let forwardedHeaders: [(name: String, value: String)]
        /// The request in the gateway's vocabulary, decoded on first use.
        private(set) var chat: ChatRequest?
        private(set) var embedding: EmbeddingRequest?
        /// What the input guardrails left for the answer (nil: no policy applies).
        var guardrails: Guard?

        /// Replaces the body (the input guardrails redacted it or planted a canary).
        mutating func replaceBody(_ new: ByteBuffer) throws {
            members = try Gateway.scanBody(new)
            body = new
            chat = nil
            embedding = nil
        }

        mutating func decodedChat() throws -> ChatRequest {
            if let chat { return chat }
            let decoded: ChatRequest
            switch dialect {
            case .openAI: decoded = try OpenAIDialect.decodeChatRequest(body)
            case .anthropic: decoded = try AnthropicDialect.decodeChatRequest(body)
            }
            chat = decoded
            return decoded
        }

        mutating func decodedEmbedding() throws -> EmbeddingRequest {
            if let embedding { return embedding }
            let decoded = try OpenAIDialect.decodeEmbeddingRequest(body)
            embedding = decoded
            return decoded
        }
    }

    /// Reads and scans the request body, and refuses any attempt to pick the upstream.
    func parse(
        _ request: FrontRequest, operation: Call.Operation, principal: Principal, exchange: inout Exchange
    ) async throws -> Call {
        let body = try await readBody(request)
        exchange.received(body)
        let members = try Self.scanBody(body)
        try refuseRoutingOverrides(request, members: members)
        let model = try Self.model(in: members, body: body)
        exchange.model = model
        var stream = false
        if operation == .chat {
            switch members.value(of: "stream", in: body) {
            case nil, .null?: stream = false
            case .bool(let flag)?: stream = flag
            default: throw GatewayError.invalidField("stream", "expected a boolean")
            }
        }
        var forwarded: [(name: String, value: String)] = []
        for name in ["anthropic-version", "anthropic-beta"] {
            if let value = request.header(name) { forwarded.append((name, value)) }
        }
        return Call(
            operation: operation, dialect: exchange.dialect, principal: principal, body: body, members: members,
            model: model,
            stream: stream, forwardedHeaders: forwarded)
    }

    func readBody(_ request: FrontRequest) async throws -> ByteBuffer {
        let tooLarge = GatewayError(
            .payloadTooLarge, "The request body exceeds the limit of \(limits.maxBodyBytes) bytes.",
            code: .bodyTooLarge)
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

    /// Request fields and headers with which callers of other gateways pick the upstream URL or key
    /// (LiteLLM's `api_base` sent keys to a caller's host, CVE-2024-6587). Gatehouse refuses them outright.
    static let routingOverrideFields: Set<String> = [
        "api_base", "base_url", "api_key", "api_url", "custom_llm_provider", "provider_url", "endpoint_url",
    ]
    static let routingOverrideHeaders = [
        "x-base-url", "x-api-base", "x-gatehouse-base-url", "x-provider-url", "x-api-key-override",
    ]

    /// Fails closed on any attempt to choose where the request goes or which key it carries.
    func refuseRoutingOverrides(_ request: FrontRequest, members: JSONTopLevel) throws {
        if let field = members.members.first(where: { Self.routingOverrideFields.contains($0.key) })?.key {
            logger.warning("caller tried to choose the upstream", metadata: ["gatehouse.refusal.field": .string(field)])
            throw GatewayError(
                .invalidRequest, "The field '\(field)' is not accepted: callers cannot choose the provider URL or key.",
                code: .routingOverrideRefused, param: field)
        }
        for name in Self.routingOverrideHeaders {
            if request.headers.contains(name: name) {
                logger.warning(
                    "caller tried to choose the upstream", metadata: ["gatehouse.refusal.header": .string(name)])
                throw GatewayError(
                    .invalidRequest,
                    "The header '\(name)' is not accepted: callers cannot choose the provider URL or key.",
                    code: .routingOverrideRefused, param: name)
            }
        }
    }

    /// Scans a request body: a JSON object without repeated top-level fields (fully validated, not decoded).
    static func scanBody(_ body: ByteBuffer) throws -> JSONTopLevel {
        do {
            return try JSONTopLevel(scanning: body)
        } catch .duplicateKey(let key) {
            throw GatewayError(
                .invalidRequest, "The request body repeats the field '\(key)'.", code: .duplicateField, param: key)
        } catch .notAnObject {
            throw GatewayError(.invalidRequest, "The request body must be a JSON object.", code: .invalidJSON)
        } catch .malformed(let offset) {
            throw GatewayError.invalidJSON("malformed at byte \(offset)")
        }
    }

    /// The `model` member: present, a non-empty string.
    static func model(in members: JSONTopLevel, body: ByteBuffer) throws -> String {
        guard let value = members.value(of: "model", in: body), value != .null else {
            throw GatewayError.missingField("model")
        }
        guard let model = value.stringValue else { throw GatewayError.invalidField("model", "expected a string") }
        guard !model.isEmpty else { throw GatewayError.missingField("model") }
        return model
    }
}
