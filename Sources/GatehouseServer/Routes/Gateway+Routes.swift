import GatehouseCore
import GatehousePolicy
import GatehouseSecurity
import NIOCore

extension Gateway {
    /// `GET /v1/gatehouse/routes` (a token with the `admin` scope): each model's deployments,
    /// their state, requests in flight and average time to first byte. Names only: never a
    /// URL or a key.
    func routes(_ request: FrontRequest) async -> FrontResponse {
        var exchange = Exchange(dialect: .openAI)
        do {
            let principal = try authenticate(request, exchange: &exchange)
            guard principal.scopes.contains(.admin) else {
                refused("scope_required", exchange: exchange, principal: principal)
                throw GatewayError(.forbidden, "This token does not have the 'admin' scope.", code: .scopeRequired)
            }
            let now = ContinuousClock.now
            let models: [JSONValue] = catalog.models.map { model in
                let deployments: [JSONValue] = model.deployments.map { entry in
                    let status = router.status(slot: entry.slot, at: now)
                    var object: [String: JSONValue] = [
                        "name": .string(entry.deployment.name), "provider": .string(entry.deployment.provider),
                        "model": .string(entry.deployment.upstreamModel), "weight": .int(Int64(entry.weight)),
                        "state": .string(status.state.rawValue), "in_flight": .int(Int64(status.inFlight)),
                        "latency_ms": status.latencyMilliseconds.map { .double(($0 * 10).rounded() / 10) } ?? .null,
                        "last_error": status.lastError.map(JSONValue.string) ?? .null,
                    ]
                    if let rank = entry.costRank { object["cost_rank"] = .int(Int64(rank)) }
                    if let until = status.until { object["until_ms"] = .int((until - now).milliseconds) }
                    if let notBefore = status.notBefore {
                        object["retry_after_ms"] = .int((notBefore - now).milliseconds)
                    }
                    return .object(object)
                }
                return .object([
                    "name": .string(model.name), "strategy": .string(model.strategy.rawValue),
                    "retries": .int(Int64(model.retries)),
                    "fallbacks": .array(model.fallbacks.map(JSONValue.string)),
                    "context_window_fallbacks": .array(model.contextWindowFallbacks.map(JSONValue.string)),
                    "deployments": .array(deployments),
                ])
            }
            finish(exchange, status: 200)
            return .json(
                .ok, JSONValue.object(["object": .string("list"), "data": .array(models)]).encodedBuffer(),
                requestID: exchange.id)
        } catch {
            return failure(error, exchange: exchange)
        }
    }
}
