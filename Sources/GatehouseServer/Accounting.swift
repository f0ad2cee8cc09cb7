import Foundation
import GatehouseCore
import GatehousePolicy
import GatehouseSecurity
import Logging
import Synchronization

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
    /// Refills in flight, by counter: requests missing the same lease at once share one.
    private let refills = Mutex<[String: Task<JSONValue?, Never>]>([:])
    /// The current window of each budget period (calendar arithmetic once per period, not per request).
    private let windows = Mutex<[BudgetPeriod: (label: String, resetsAt: Date?, from: Date)]>([:])

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

    /// The period `date` falls in, from the cache while it lasts.
    func window(_ period: BudgetPeriod, at date: Date) -> (label: String, resetsAt: Date?) {
        if let cached = windows.withLock({ $0[period] }), date >= cached.from,
            cached.resetsAt.map({ date < $0 }) ?? true
        {
            return (cached.label, cached.resetsAt)
        }
        let window = period.window(at: date)
        windows.withLock { $0[period] = (window.label, window.resetsAt, date) }
        return window
    }

    // MARK: Leases

    /// Leases more of a counter from the ledger (one refill at a time per counter); the granted
    /// units land in the local allowance. Returns the ledger's answer, or nil when it cannot answer.
    func refill(_ counter: LimitCounter, units: Int64) async -> JSONValue? {
        let task: Task<JSONValue?, Never> = refills.withLock { tasks in
            if let running = tasks[counter.key] { return running }
            let task = Task { await self.lease(counter, units: units) }
            tasks[counter.key] = task
            return task
        }
        return await task.value
    }

    private func lease(_ counter: LimitCounter, units: Int64) async -> JSONValue? {
        defer { _ = refills.withLock { $0.removeValue(forKey: counter.key) } }
        guard let ledger else { return nil }
        let now = ContinuousClock.now
        let shortfall = allowances.shortfall(counter, units: units, now: now)
        let question: JSONValue
        let ttl: Duration
        switch counter {
        case .budget(let key, let period, let limit):
            question = .object([
                "op": .string("lease_budget"), "key": .string(key), "period": .string(period), "limit": .int(limit),
                "need": .int(shortfall), "ask": .int(max(shortfall, limit / 50)),
            ])
            ttl = Self.budgetLeaseTTL
        case .rate(let key, let limit):
            question = .object([
                "op": .string("lease_rate"), "key": .string(key), "limit": .int(limit),
                "window_ns": .int(60_000_000_000), "ask": .int(max(shortfall, limit / 20)),
            ])
            ttl = Self.rateLeaseTTL
        }
        guard let answer = try? await ledger.askLedger(question), answer["error"] == nil,
            let granted = answer["granted"]?.intValue
        else { return nil }
        if granted > 0 {
            _ = allowances.grant(
                counter, granted: Int64(granted), take: 0, remainingElsewhere: Int64(answer["remaining"]?.intValue ?? 0),
                resetAt: answer["reset_ns"]?.intValue.map { now + .nanoseconds($0) }, ttl: ttl, now: now)
        }
        return answer
    }

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
