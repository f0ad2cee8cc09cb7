import Foundation
import GatehouseCore
import GatehousePolicy
import GatehouseSecurity

extension Gateway {
    /// What a request holds of each limit that applies to it, to settle when it ends.
    struct Admission {
        enum Unit {
            /// Nanodollars reserved for the worst case.
            case budget
            case requests
            /// Tokens reserved on the prompt's estimate (the answer's are charged after).
            case tokens
        }

        struct Hold {
            var counter: LimitCounter
            var unit: Unit
            var units: Int64
            /// A deployment's own limit: charged the answer's tokens only if that deployment answered.
            var deployment: String? = nil
        }

        var holds: [Hold] = []
        /// The rate-limit headers for the answer, in the caller's dialect.
        var headers: [(name: String, value: String)] = []
    }

    /// One limit that applies to a request.
    private struct Need {
        var counter: LimitCounter
        var unit: Admission.Unit
        var units: Int64
        /// Who the limit is for, as the caller may read it (`the token`, `team 'red'`).
        var owner: String
        var budget: (amount: Nanodollars, period: BudgetPeriod, resetsAt: Date?)?
    }

    /// Stage 4c: budgets and rate limits. Each limit that applies (the token's claims, the
    /// config's per subject, team and model: all of them, so the strictest decides) gives up
    /// its units from the instance's local allowance, leased from the ledger in batches; only
    /// a shortfall waits on the ledger. A refusal gives back what was taken.
    func admit(_ call: inout Call, model: ModelRoute, exchange: inout Exchange) async throws {
        let principal = call.principal
        if accounting.policy.unknownPrice == .deny, accounting.unpriced.contains(model.name) {
            throw GatewayError(
                .forbidden,
                "The model '\(model.name)' has no price on this gateway, and unpriced models are refused.",
                code: .priceUnknown, param: "model")
        }
        guard accounting.applies(to: principal) else { return }
        let needs = try needs(&call, model: model)
        guard !needs.isEmpty else { return }
        var admission = Admission()
        let now = ContinuousClock.now
        var tightestRequests: (limit: Int64, remaining: Int64, reset: Duration)?
        var tightestTokens: (limit: Int64, remaining: Int64, reset: Duration)?
        do {
            for need in needs {
                let lease: LocalAllowances.Lease?
                do {
                    lease = try await take(need, now: now)
                } catch let error as GatewayError {
                    // A refusal by a rate limit says so in the headers too: none left, and when.
                    if case .rate(_, let limit) = need.counter, error.code == GatewayError.Code.rateLimited.rawValue {
                        let wait = Duration.seconds(Int(error.retryAfter ?? "1") ?? 1)
                        if need.unit == .requests { tightestRequests = (limit, 0, wait) }
                        if need.unit == .tokens { tightestTokens = (limit, 0, wait) }
                        exchange.admission = Admission(
                            headers: Self.rateHeaders(
                                requests: tightestRequests, tokens: tightestTokens, dialect: call.dialect))
                    }
                    throw error
                }
                admission.holds.append(.init(counter: need.counter, unit: need.unit, units: need.units))
                guard let lease, case .rate(_, let limit) = need.counter else { continue }
                let remaining = max(0, min(limit, lease.remainingElsewhere + lease.units))
                let reset = lease.resetAt.map { max(.zero, $0 - now) } ?? .zero
                if need.unit == .requests, remaining < (tightestRequests?.remaining ?? .max) {
                    tightestRequests = (limit, remaining, reset)
                }
                if need.unit == .tokens, remaining < (tightestTokens?.remaining ?? .max) {
                    tightestTokens = (limit, remaining, reset)
                }
            }
        } catch {
            release(admission)
            throw error
        }
        admission.headers = Self.rateHeaders(
            requests: tightestRequests, tokens: tightestTokens, dialect: call.dialect)
        exchange.admission = admission
    }

    /// Takes a need's units locally, leasing the shortfall from the ledger. Requests that miss the
    /// same lease at once share one refill (one ledger question), then take from what it brought.
    private func take(_ need: Need, now: ContinuousClock.Instant) async throws -> LocalAllowances.Lease? {
        let allowances = accounting.allowances
        if let lease = allowances.take(need.counter, units: need.units, now: now) { return lease }
        guard accounting.ledger != nil else { return nil }
        for _ in 0..<4 {
            guard let answer = await accounting.refill(need.counter, units: need.units) else {
                return try unavailable()
            }
            if let lease = allowances.take(need.counter, units: need.units, now: .now) { return lease }
            if (answer["granted"]?.intValue ?? 0) == 0 {
                throw refusal(need, retryAfterNanoseconds: answer["retry_after_ns"]?.intValue)
            }
            // Others took what the refill brought first: ask again.
        }
        throw refusal(need, retryAfterNanoseconds: nil)
    }

    /// The ledger could not answer: refuse (fail closed), or serve with a warning.
    private func unavailable() throws -> LocalAllowances.Lease? {
        guard accounting.failOpen else {
            throw GatewayError(
                .upstreamUnavailable,
                "The gateway cannot check budgets and rate limits right now; try again shortly.",
                code: .accountingUnavailable, retryAfter: "1")
        }
        accounting.logger.warning("ledger unreachable: request served without its limits (state.on_unavailable: allow)")
        return nil
    }

    private func refusal(_ need: Need, retryAfterNanoseconds: Int?) -> GatewayError {
        if let budget = need.budget {
            let per = budget.period == .total ? "in total" : "per \(budget.period.rawValue)"
            var message = "The budget of \(need.owner) ($\(budget.amount) \(per)) does not cover this request"
            if let resetsAt = budget.resetsAt {
                message += "; it resets at \(resetsAt.formatted(Date.ISO8601FormatStyle()))."
                var error = GatewayError(.rateLimited, message, code: .budgetExceeded)
                error.retryAfter = String(max(1, Int(resetsAt.timeIntervalSinceNow.rounded(.up))))
                return error
            }
            return GatewayError(.rateLimited, message + ".", code: .budgetExceeded)
        }
        let seconds = max(1, Int((Double(retryAfterNanoseconds ?? 1_000_000_000) / 1e9).rounded(.up)))
        let what = need.unit == .tokens ? "tokens" : "requests"
        guard case .rate(_, let limit) = need.counter else {
            return GatewayError(.rateLimited, "Rate limit reached.", code: .rateLimited, retryAfter: String(seconds))
        }
        return GatewayError(
            .rateLimited,
            "The rate limit of \(need.owner) (\(limit) \(what) per minute) is reached; retry in \(seconds) s.",
            code: .rateLimited, retryAfter: String(seconds))
    }

    /// Gives back what an admission took (the request was refused before it cost anything).
    func release(_ admission: Admission) {
        for hold in admission.holds { accounting.allowances.credit(hold.counter, units: hold.units) }
    }

    /// Settles an admission once the request ended: the budget gets back what the answer did not
    /// cost, the token rate is charged the answer's real size.
    func settle(_ admission: Admission, cost: Nanodollars, usage: Usage?, answeredBy deployment: Deployment?) {
        for hold in admission.holds {
            switch hold.unit {
            case .budget: accounting.allowances.credit(hold.counter, units: hold.units - cost.value)
            case .requests: continue
            case .tokens:
                let answered = hold.deployment == nil || hold.deployment == deployment.map(Self.deploymentKey)
                let used = answered ? Int64(usage?.totalTokens ?? 0) : 0
                accounting.allowances.credit(hold.counter, units: hold.units - used)
            }
        }
    }

    static func deploymentKey(_ deployment: Deployment) -> String {
        "deployment:" + deployment.publicName + "/" + deployment.name
    }

    /// A deployment's own RPM/TPM limit (`limits:` on it, the provider's): true when it may be
    /// asked now, its units held by the request; false when it is at its limit (the router skips it).
    func admitDeployment(_ entry: RouteDeployment, call: Call, exchange: inout Exchange) async throws -> Bool {
        guard entry.requestsPerMinute != nil || entry.tokensPerMinute != nil else { return true }
        let key = Self.deploymentKey(entry.deployment)
        let owner = "deployment '\(entry.deployment.publicName)/\(entry.deployment.name)'"
        var needs: [Need] = []
        if let rpm = entry.requestsPerMinute {
            needs.append(Need(counter: .rate(key: key + ":rpm", limit: rpm), unit: .requests, units: 1, owner: owner))
        }
        if let tpm = entry.tokensPerMinute {
            let estimate = Int64(TokenEstimate.tokens(inUTF8Bytes: call.body.readableBytes))
            needs.append(
                Need(counter: .rate(key: key + ":tpm", limit: tpm), unit: .tokens, units: max(1, min(estimate, tpm)),
                    owner: owner))
        }
        var held: [Admission.Hold] = []
        let now = ContinuousClock.now
        for need in needs {
            do {
                _ = try await take(need, now: now)
                held.append(.init(counter: need.counter, unit: need.unit, units: need.units, deployment: key))
            } catch let error as GatewayError where error.code == GatewayError.Code.rateLimited.rawValue {
                release(Admission(holds: held))
                return false
            } catch {
                release(Admission(holds: held))
                throw error
            }
        }
        var admission = exchange.admission ?? Admission()
        admission.holds += held
        exchange.admission = admission
        return true
    }

    /// The limits that apply to this request, and the units each needs.
    private func needs(_ call: inout Call, model: ModelRoute) throws -> [Need] {
        let principal = call.principal
        let claims = principal.limits
        let policy = accounting.policy
        let now = Date()
        let bodyBytes = Int64(call.body.readableBytes)
        let estimate = Int64(TokenEstimate.tokens(inUTF8Bytes: call.body.readableBytes))
        let maxOutput = Int64(try maxOutputTokens(&call, model: model))
        var needs: [Need] = []

        // Budgets: the worst case at the dearest price the route could reach.
        var worstCase: Nanodollars?
        func addBudget(key: String, owner: String, amount: Nanodollars, period: BudgetPeriod) {
            if worstCase == nil {
                // Every body byte counted as a token is an upper bound for byte-level BPE tokenizers.
                worstCase =
                    accounting.worstPrice(model: model.name)?.worstCase(
                        promptTokens: Int(bodyBytes), maxOutputTokens: Int(maxOutput)) ?? .zero
            }
            let window = accounting.window(period, at: now)
            needs.append(
                Need(
                    counter: .budget(key: key, period: window.label, limit: amount.value), unit: .budget,
                    units: max(1, worstCase?.value ?? 1), owner: owner,
                    budget: (amount, period, window.resetsAt)))
        }
        if let text = claims.budgetUSD {
            guard let amount = Nanodollars(parsing: text),
                let period = BudgetPeriod(rawValue: claims.budgetPeriod ?? "total")
            else {
                throw GatewayError(
                    .forbidden, "This token's budget is not one this gateway understands.", code: .budgetExceeded)
            }
            addBudget(key: "token:" + principal.tokenID, owner: "this token", amount: amount, period: period)
        }
        let scopes: [(AccountingPolicy.Scope, String?, String)] = [
            (.subject, principal.subject, "subject '\(principal.subject)'"),
            (.team, claims.team, "team '\(claims.team ?? "")'"), (.model, model.name, "model '\(model.name)'"),
        ]
        for (scope, name, owner) in scopes {
            guard let name, let budget = policy.budgets[scope]?[name] else { continue }
            addBudget(key: "\(scope.rawValue):\(name)", owner: owner, amount: budget.amount, period: budget.period)
        }

        // Rates: one request, and the prompt's estimated tokens (the answer's are charged when it ends).
        func addRates(key: String, owner: String, rpm: Int64?, tpm: Int64?) {
            if let rpm {
                needs.append(
                    Need(counter: .rate(key: key + ":rpm", limit: rpm), unit: .requests, units: 1, owner: owner))
            }
            if let tpm {
                needs.append(
                    Need(
                        counter: .rate(key: key + ":tpm", limit: tpm), unit: .tokens, units: max(1, min(estimate, tpm)),
                        owner: owner))
            }
        }
        addRates(
            key: "token:" + principal.tokenID, owner: "this token", rpm: claims.requestsPerMinute,
            tpm: claims.tokensPerMinute)
        for (scope, name, owner) in scopes {
            guard let name, let rates = policy.rates[scope]?[name] else { continue }
            addRates(
                key: "\(scope.rawValue):\(name)", owner: owner, rpm: rates.requestsPerMinute,
                tpm: rates.tokensPerMinute)
        }
        return needs
    }

    /// The largest answer the request allows: its own `max_tokens` (or `max_completion_tokens`),
    /// else the deployment's default, bounded by the model's context window.
    private func maxOutputTokens(_ call: inout Call, model: ModelRoute) throws -> Int {
        guard call.operation == .chat else { return 0 }
        for field in ["max_completion_tokens", "max_tokens"] {
            if let value = call.members.value(of: field, in: call.body)?.intValue, value > 0 { return value }
        }
        let fallback = model.deployments.map(\.deployment.defaultMaxTokens).max() ?? accounting.policy.defaultMaxTokens
        let window = accounting.worstPrice(model: model.name)?.contextWindow ?? Int.max
        return min(max(fallback, accounting.policy.defaultMaxTokens), window)
    }

    /// `x-ratelimit-*` (OpenAI) or `anthropic-ratelimit-*` headers for the tightest limits.
    static func rateHeaders(
        requests: (limit: Int64, remaining: Int64, reset: Duration)?,
        tokens: (limit: Int64, remaining: Int64, reset: Duration)?, dialect: IngressDialect
    ) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        for (what, figures) in [("requests", requests), ("tokens", tokens)] {
            guard let figures else { continue }
            switch dialect {
            case .openAI:
                headers.append(("x-ratelimit-limit-\(what)", String(figures.limit)))
                headers.append(("x-ratelimit-remaining-\(what)", String(figures.remaining)))
                headers.append(("x-ratelimit-reset-\(what)", Self.goDuration(figures.reset)))
            case .anthropic:
                headers.append(("anthropic-ratelimit-\(what)-limit", String(figures.limit)))
                headers.append(("anthropic-ratelimit-\(what)-remaining", String(figures.remaining)))
                let at = Date().addingTimeInterval(Double(figures.reset.milliseconds) / 1000)
                headers.append(("anthropic-ratelimit-\(what)-reset", at.formatted(Date.ISO8601FormatStyle())))
            }
        }
        return headers
    }

    /// A duration as OpenAI writes it in `x-ratelimit-reset-*`: `120ms`, `12s`, `1.5s`, `6m0s`.
    static func goDuration(_ duration: Duration) -> String {
        let milliseconds = max(0, duration.milliseconds)
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        let minutes = milliseconds / 60_000
        let rest = milliseconds % 60_000
        var seconds = String(rest / 1000)
        if rest % 1000 != 0 {
            var fraction = String(rest % 1000)
            fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
            while fraction.last == "0" { fraction.removeLast() }
            seconds += "." + fraction
        }
        return minutes > 0 ? "\(minutes)m\(seconds)s" : "\(seconds)s"
    }
}
