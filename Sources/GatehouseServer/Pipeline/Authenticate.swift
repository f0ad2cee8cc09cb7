import GatehouseCore
import GatehouseSecurity

extension Gateway {
    /// Stage 1: who is calling. Reads the token from `Authorization: Bearer` or `x-api-key`
    /// and verifies it; every later stage gets the principal, never an optional. The caller
    /// learns only that the token was refused; the reason goes to the log and the audit record.
    func authenticate(_ request: FrontRequest, exchange: inout Exchange) throws -> Principal {
        var token: Substring?
        if let authorization = request.header("authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { token = parts[1] }
        }
        if token == nil, let apiKey = request.header("x-api-key") { token = Substring(apiKey) }
        guard let token, !token.isEmpty else {
            refused("missing_token", exchange: exchange)
            throw GatewayError(
                .unauthorized, "Missing credentials: send a Gatehouse token as 'Authorization: Bearer' or 'x-api-key'.",
                code: .missingToken)
        }
        let principal: Principal
        do {
            principal = try credentials.verifier.verify(token)
        } catch {
            refused(error.code, exchange: exchange)
            throw GatewayError(.unauthorized, "The token is invalid or expired.", code: .invalidToken)
        }
        guard !credentials.isRevoked(principal) else {
            refused("revoked", exchange: exchange, principal: principal)
            throw GatewayError(.unauthorized, "The token is invalid or expired.", code: .invalidToken)
        }
        exchange.principal = principal
        return principal
    }

    /// Logs, counts and records a refused caller. The token itself is never recorded: only
    /// the refusal's code and, once the signature is known good, its subject and id.
    func refused(_ reason: String, exchange: Exchange, principal: Principal? = nil, model: String? = nil) {
        logger.info(
            "caller refused",
            metadata: ["gatehouse.request.id": .string(exchange.id), "gatehouse.auth.refusal": .string(reason)])
        metrics.authRefusals.add([reason])
        var fields: AuditFields = [
            "request_id": .string(exchange.id), "reason": .string(reason),
            "dialect": .string(exchange.dialect.rawValue),
        ]
        if let principal {
            fields["principal"] = .string(principal.subject)
            fields["token_id"] = .string(principal.tokenID)
        }
        if let model { fields["model"] = .string(String(model.prefix(200))) }
        audit.record(.authRefused, fields: fields)
    }
}
