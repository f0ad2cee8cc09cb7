/// What the operator configured about money and rates: prices, the unknown-price policy, and
/// budgets and limits per subject, team and model (`prices:`, `pricing:`, `budgets:`, `limits:`).
/// A token's own claims add their limits on top; every limit that applies is checked, so the
/// strictest decides.
public struct AccountingPolicy: Sendable {
    /// What happens to a request for a model without a price.
    public enum UnknownPrice: String, Sendable {
        /// Refused (`price_unknown`), so nothing is spent that cannot be accounted for.
        case deny
        /// Served and counted at zero cost, with a warning once per model.
        case zero
    }

    /// Whom a configured budget or limit applies to.
    public enum Scope: String, Sendable, CaseIterable {
        case subject, team, model

        /// The config section's name (`subjects`, `teams`, `models`).
        public var section: String { rawValue + "s" }
    }

    public struct Budget: Sendable, Equatable {
        public var amount: Nanodollars
        public var period: BudgetPeriod
        public init(amount: Nanodollars, period: BudgetPeriod) {
            self.amount = amount
            self.period = period
        }
    }

    public struct Rates: Sendable, Equatable {
        public var requestsPerMinute: Int64?
        public var tokensPerMinute: Int64?
        public init(requestsPerMinute: Int64? = nil, tokensPerMinute: Int64? = nil) {
            self.requestsPerMinute = requestsPerMinute
            self.tokensPerMinute = tokensPerMinute
        }
    }

    public var prices = PriceTable()
    public var unknownPrice = UnknownPrice.zero
    /// The answer size a budget reserves for when the caller sets no `max_tokens` (and the model's
    /// context window is larger).
    public var defaultMaxTokens = 4096
    public var budgets: [Scope: [String: Budget]] = [:]
    public var rates: [Scope: [String: Rates]] = [:]

    public init() {}

    /// True when some budget or limit is configured (the token's claims aside).
    public var hasLimits: Bool {
        budgets.values.contains { !$0.isEmpty } || rates.values.contains { !$0.isEmpty }
    }
}
