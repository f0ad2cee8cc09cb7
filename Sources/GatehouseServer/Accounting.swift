import Foundation
import GatehouseCore
import GatehousePolicy
import GatehouseSecurity
import Logging

/// The front's road to the ledger (in a deployed front: the keyholder link).
public protocol LedgerClient: Sendable {
    func askLedger(_ question: JSONValue) async throws -> JSONValue
}

/// Prices, budgets and rate limits on the front: what each deployment's answers cost, and the
/// instance's local allowances (leases from the ledger) that requests draw on.
public final class Accounting: Sendable {
    let policy: AccountingPolicy
    let ledger: (any LedgerClient)?
    /// Serve requests when the ledger cannot grant allowances (`state.on_unavailable: allow`).
    let failOpen: Bool
    let allowances = LocalAllowances()
    let logger: Logger
    /// Each deployment's price, by public name and provider model (nil: unpriced).
    private let prices: [String: ModelPrice]
    /// The dearest price among a model's deployments and fallbacks, for reservations.
    private let worstPrices: [String: ModelPrice]
    /// Models with a deployment that has no price.
    let unpriced: Set<String>

    /// How long a lease is held before its unused units go back.
    static let budgetLeaseTTL: Duration = .seconds(10)
    static let rateLeaseTTL: Duration = .seconds(2)

    public init(
        policy: AccountingPolicy = AccountingPolicy(), catalog: ModelCatalog, ledger: (any LedgerClient)? = nil,
        failOpen: Bool = false, logger: Logger = Logger(label: "gatehouse.accounting")
    ) {
        self.policy = policy
        self.ledger = ledger
        self.failOpen = failOpen
        self.logger = logger
        var prices: [String: ModelPrice] = [:]
        var unpriced = Set<String>()
        for model in catalog.models {
            for entry in model.deployments {
                let deployment = entry.deployment
                if let price = policy.prices.price(
                    publicName: deployment.publicName, upstreamModel: deployment.upstreamModel)
                {
                    prices[Self.priceKey(deployment)] = price
                } else {
                    unpriced.insert(model.name)
                }
            }
        }
        self.prices = prices
        self.unpriced = unpriced
        var worst: [String: ModelPrice] = [:]
        for model in catalog.models {
            var chain = [model.name] + model.fallbacks + model.contextWindowFallbacks
            chain = chain.filter { catalog.route(named: $0) != nil }
            let candidates = chain.compactMap(catalog.route(named:)).flatMap { $0.deployments }.compactMap {
                prices[Self.priceKey($0.deployment)]
            }
            guard var dearest = candidates.first else { continue }
            for price in candidates.dropFirst() {
                dearest.inputPerMTok = max(dearest.inputPerMTok, price.inputPerMTok)
                dearest.outputPerMTok = max(dearest.outputPerMTok, price.outputPerMTok)
                dearest.cachedInputPerMTok = max(dearest.cachedInputPerMTok, price.cachedInputPerMTok)
                dearest.cacheWritePerMTok = max(dearest.cacheWritePerMTok, price.cacheWritePerMTok)
                dearest.contextWindow = [dearest.contextWindow, price.contextWindow].compactMap { $0 }.max()
            }
            worst[model.name] = dearest
        }
        self.worstPrices = worst
        for name in unpriced.sorted() {
            switch policy.unknownPrice {
            case .zero:
                logger.warning(
                    "a deployment of this model has no price: its requests are counted at zero cost (set prices: or pricing.unknown: deny)",
                    metadata: ["gatehouse.model": .string(name)])
            case .deny:
                logger.warning(
                    "a deployment of this model has no price: its requests are refused (pricing.unknown: deny)",
                    metadata: ["gatehouse.model": .string(name)])
            }
        }
    }

    private static func priceKey(_ deployment: Deployment) -> String {
        deployment.publicName + "\u{0}" + deployment.name
    }

    /// What an answer from this deployment cost (zero when it has no price).
    func cost(of usage: Usage, deployment: Deployment) -> Nanodollars {
        prices[Self.priceKey(deployment)]?.cost(of: usage) ?? .zero
    }

    /// The dearest price the request could be charged at (nil: some deployment is unpriced and counted at zero).
    func worstPrice(model: String) -> ModelPrice? { worstPrices[model] }

    /// True when this request needs the accounting stage: some budget or limit may apply.
    func applies(to principal: Principal) -> Bool {
        policy.hasLimits || principal.limits.budgetUSD != nil || principal.limits.requestsPerMinute != nil
            || principal.limits.tokensPerMinute != nil
    }

    // MARK: Leases

    /// Hands back what expired leases did not use. Runs every second while the front serves.
    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            await settleReturns(allowances.sweep(now: .now))
        }
    }

    /// Hands back every lease (at shutdown), so a stopped instance holds no one's allowance.
    public func returnAll() async {
        await settleReturns(allowances.drainAll())
    }

    private func settleReturns(_ items: [(counter: LimitCounter, units: Int64)]) async {
        guard let ledger, !items.isEmpty else { return }
        var failed: [(counter: LimitCounter, units: Int64)] = []
        for item in items {
            let question: JSONValue
            switch item.counter {
            case .budget(let key, let period, _):
                question = .object([
                    "op": .string("return_budget"), "key": .string(key), "period": .string(period), "amount": .int(item.units),
                ])
            case .rate(let key, let limit):
                guard item.units > 0 else { continue }
                question = .object([
                    "op": .string("return_rate"), "key": .string(key), "limit": .int(limit),
                    "window_ns": .int(60_000_000_000), "amount": .int(item.units),
                ])
            }
            let answer = try? await ledger.askLedger(question)
            if answer?["ok"]?.boolValue != true { failed.append(item) }
        }
        if !failed.isEmpty { allowances.requeue(failed) }
    }
}
