import GatehouseCore
import GatehousePolicy
import GatehouseSecurity

/// Where the ledger keeps its state (`state:`).
public struct LedgerStateConfig: Sendable, Equatable {
    public enum Driver: String, Sendable {
        case sqlite, postgres
    }

    public var driver = Driver.sqlite
    /// The SQLite file (default: `ledger.sqlite` in the state directory).
    public var path: String?
    /// A PostgreSQL URL without a password (`postgres://user@host:5432/db`).
    public var url: String?
    /// The sealed key that holds the PostgreSQL password.
    public var passwordKey: String?
    /// What requests get while the ledger cannot grant allowances: refused (the default) or served.
    public var failOpen = false
    /// How long request rows are kept, in seconds (nil: forever).
    public var retentionSeconds: Int?

    public init() {}
}

extension GatewayConfig.Reader {
    /// A number of dollars or tokens: an integer or a plain decimal.
    func number(_ value: Any?, _ key: String) throws -> Double? {
        guard let value, !(value is GatewayConfig.Null) else { return nil }
        let parsed: Double?
        switch value {
        case let integer as GatewayConfig.Integer: parsed = Double(integer.value)
        case let string as String: parsed = Double(try interpolate(string, key))
        default: parsed = nil
        }
        guard let parsed, parsed.isFinite, parsed >= 0, parsed < 1e9 else {
            throw fail(key, "must be a number from 0 to 1000000000")
        }
        return parsed
    }

    func readPrices(_ value: Any, into policy: inout AccountingPolicy) throws {
        guard let models = value as? [String: Any] else { throw fail("prices", "must be a mapping of model names to prices") }
        var table: [String: ModelPrice] = [:]
        for name in models.keys.sorted() {
            let key = "prices.\(name)"
            let entry = try mapping(
                models[name], key,
                allowed: [
                    "input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok", "context_window",
                ])
            guard let input = try number(entry["input_per_mtok"], "\(key).input_per_mtok") else {
                throw fail("\(key).input_per_mtok", "is required")
            }
            guard let output = try number(entry["output_per_mtok"], "\(key).output_per_mtok") else {
                throw fail("\(key).output_per_mtok", "is required")
            }
            table[name] = ModelPrice(
                inputPerMTok: input, outputPerMTok: output,
                cachedInputPerMTok: try number(entry["cached_input_per_mtok"], "\(key).cached_input_per_mtok"),
                cacheWritePerMTok: try number(entry["cache_write_per_mtok"], "\(key).cache_write_per_mtok"),
                contextWindow: try int(entry["context_window"], "\(key).context_window", range: 1...100_000_000))
        }
        policy.prices = PriceTable(configured: table)
    }

    func readPricing(_ value: Any, into policy: inout AccountingPolicy) throws {
        let pricing = try mapping(value, "pricing", allowed: ["unknown", "default_max_tokens"])
        if let unknown = try string(pricing["unknown"], "pricing.unknown") {
            guard let parsed = AccountingPolicy.UnknownPrice(rawValue: unknown) else {
                throw fail("pricing.unknown", "must be deny or zero")
            }
            policy.unknownPrice = parsed
        }
        policy.defaultMaxTokens =
            try int(pricing["default_max_tokens"], "pricing.default_max_tokens", range: 1...10_000_000)
            ?? policy.defaultMaxTokens
    }

    func readBudgets(_ value: Any, into policy: inout AccountingPolicy) throws {
        try readScoped(value, section: "budgets") { scope, name, entry, key in
            let fields = try mapping(entry, key, allowed: ["usd", "period"])
            guard let usd = try number(fields["usd"], "\(key).usd"), let amount = Nanodollars(usd: usd) else {
                throw fail("\(key).usd", "is required: the budget in US dollars")
            }
            let periodName = try string(fields["period"], "\(key).period") ?? "month"
            guard let period = BudgetPeriod(rawValue: periodName) else {
                throw fail("\(key).period", "must be day, week, month or total")
            }
            policy.budgets[scope, default: [:]][name] = .init(amount: amount, period: period)
        }
    }

    func readLimits(_ value: Any, into policy: inout AccountingPolicy) throws {
        try readScoped(value, section: "limits") { scope, name, entry, key in
            policy.rates[scope, default: [:]][name] = try readRates(entry, key: key)
        }
    }

    /// A `subjects:`/`teams:`/`models:` mapping of names to entries, each handed to `read`.
    private func readScoped(
        _ value: Any, section: String,
        _ read: (AccountingPolicy.Scope, String, Any?, String) throws -> Void
    ) throws {
        let sections = try mapping(value, section, allowed: Set(AccountingPolicy.Scope.allCases.map(\.section)))
        for scope in AccountingPolicy.Scope.allCases {
            guard let entries = sections[scope.section] else { continue }
            let base = "\(section).\(scope.section)"
            guard let named = entries as? [String: Any] else { throw fail(base, "must be a mapping of names to entries") }
            for name in named.keys.sorted() { try read(scope, name, named[name], "\(base).\(name)") }
        }
    }

    func readRates(_ value: Any?, key: String) throws -> AccountingPolicy.Rates {
        let entry = try mapping(value, key, allowed: ["rpm", "tpm"])
        let rates = AccountingPolicy.Rates(
            requestsPerMinute: try int(entry["rpm"], "\(key).rpm", range: 1...1_000_000_000).map(Int64.init),
            tokensPerMinute: try int(entry["tpm"], "\(key).tpm", range: 1...1_000_000_000).map(Int64.init))
        guard rates.requestsPerMinute != nil || rates.tokensPerMinute != nil else {
            throw fail(key, "must set rpm, tpm or both")
        }
        return rates
    }

    func readState(_ value: Any) throws -> LedgerStateConfig {
        let state = try mapping(
            value, "state", allowed: ["driver", "path", "url", "password_key", "on_unavailable", "retention"])
        var result = LedgerStateConfig()
        if let driver = try string(state["driver"], "state.driver") {
            guard let parsed = LedgerStateConfig.Driver(rawValue: driver) else {
                throw fail("state.driver", "must be sqlite or postgres")
            }
            result.driver = parsed
        }
        result.path = try string(state["path"], "state.path")
        if let path = result.path, !path.hasPrefix("/") { throw fail("state.path", "must be an absolute path") }
        result.url = try string(state["url"], "state.url")
        result.passwordKey = try string(state["password_key"], "state.password_key")
        if let name = result.passwordKey, !SealedKeyStore.isValidName(name) {
            throw fail("state.password_key", "must name a sealed key (see `gatehouse keys list`), not contain one")
        }
        switch result.driver {
        case .sqlite:
            if result.url != nil { throw fail("state.url", "applies to driver postgres only") }
        case .postgres:
            guard let url = result.url else { throw fail("state.url", "is required for driver postgres") }
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw fail("state.url", "must be a postgres:// URL")
            }
            if let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@"),
                url[scheme.upperBound..<at].contains(":")
            {
                throw fail("state.url", "must not hold a password: name a sealed key in state.password_key")
            }
            if result.path != nil { throw fail("state.path", "applies to driver sqlite only") }
        }
        switch try string(state["on_unavailable"], "state.on_unavailable") {
        case nil, "deny": result.failOpen = false
        case "allow": result.failOpen = true
        default: throw fail("state.on_unavailable", "must be deny or allow")
        }
        if let retention = try string(state["retention"], "state.retention") {
            guard let seconds = TokenLifetime.parse(retention).map({ Int($0) }) else {
                throw fail("state.retention", "must look like 90d, 12h or a number of seconds")
            }
            result.retentionSeconds = seconds
        }
        return result
    }
}
