import GatehouseCore
import GatehouseSecurity

extension Gateway {
    /// Stage 3: may this caller use this model. Out-of-scope is 403 before existence is
    /// revealed; unknown is 404. (Budgets and rate limits join this stage.)
    func authorize(_ call: Call, exchange: Exchange) throws -> ModelRoute {
        guard call.principal.allows(model: call.model) else {
            refused("model_not_allowed", exchange: exchange, principal: call.principal, model: call.model)
            throw GatewayError(
                .forbidden, "This token does not allow the model '\(call.model)'.", code: .modelNotAllowed,
                param: "model")
        }
        guard let route = catalog.route(named: call.model) else {
            throw GatewayError(
                .notFound, "The model '\(call.model)' does not exist on this gateway.", code: .modelNotFound,
                param: "model")
        }
        return route
    }
}
