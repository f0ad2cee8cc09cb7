import Foundation
import GatehouseCore
import Testing

@testable import GatehousePolicy

@Suite("Prices, costs, budget periods and the GCRA rate window")
struct AccountingTests {
    @Test("cost prices cached input as cached and cache writes as writes, rounded up to the nanodollar")
    func cost() {
        let price = ModelPrice(inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75)
        // 1,000 input tokens of which 600 read from cache and 100 written: 300×3 + 600×0.3 + 100×3.75 (per million) + 50×15.
        let usage = Usage(promptTokens: 1000, completionTokens: 50, cachedPromptTokens: 600, cacheWriteTokens: 100)
        let expected = (300 * 3.0 + 600 * 0.3 + 100 * 3.75 + 50 * 15.0) / 1e6
        #expect(abs(price.cost(of: usage).usd - expected) < 1e-9)
        #expect(price.cost(of: Usage(promptTokens: 0, completionTokens: 0)) == .zero)
        // A provider reporting more cached tokens than prompt tokens is clamped, not credited.
        let odd = Usage(promptTokens: 10, completionTokens: 0, cachedPromptTokens: 50)
        #expect(price.cost(of: odd) == Nanodollars(3000))
        #expect(ModelPrice(inputPerMTok: 0.02, outputPerMTok: 0).cost(of: Usage(promptTokens: 1, completionTokens: 0)) == Nanodollars(20))
    }

    @Test("the worst case takes every input token at the dearest input price and the whole answer")
    func worstCase() {
        let price = ModelPrice(inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75)
        #expect(price.worstCase(promptTokens: 1000, maxOutputTokens: 100) == Nanodollars(3_750_000 + 1_500_000))
    }

    @Test("lookup: operator's public name, operator's provider name, shipped provider name; dated names; models/ prefix")
    func lookup() {
        let mine = ModelPrice(inputPerMTok: 1, outputPerMTok: 2)
        let table = PriceTable(configured: ["chat": mine, "my-finetune": ModelPrice(inputPerMTok: 9, outputPerMTok: 9)])
        #expect(table.price(publicName: "chat", upstreamModel: "gpt-4o") == mine)
        #expect(table.price(publicName: "x", upstreamModel: "my-finetune")?.inputPerMTok == 9)
        #expect(table.price(publicName: "x", upstreamModel: "gpt-4o-2024-08-06")?.inputPerMTok == 2.5)
        #expect(table.price(publicName: "x", upstreamModel: "gpt-4o-mini-2024-07-18")?.inputPerMTok == 0.15)
        #expect(table.price(publicName: "x", upstreamModel: "claude-sonnet-4-20250514")?.outputPerMTok == 15)
        #expect(table.price(publicName: "x", upstreamModel: "claude-sonnet-4-5-20250929")?.cacheWritePerMTok == 3.75)
        #expect(table.price(publicName: "x", upstreamModel: "models/gemini-2.5-flash")?.outputPerMTok == 2.5)
        // A version that is not a date is a different model, not a cheaper one.
        #expect(table.price(publicName: "x", upstreamModel: "claude-sonnet-4-9") == nil)
        #expect(table.price(publicName: "x", upstreamModel: "gpt-4o-sim") == nil)
        // Providers without a cache price charge the input price for it.
        #expect(ShippedPrices.table["gpt-3.5-turbo"]?.cachedInputPerMTok == 0.5)
    }

    @Test("nanodollars print and parse as decimal dollars")
    func money() {
        #expect(Nanodollars(1_500).description == "0.0000015")
        #expect(Nanodollars(2_000_000_000).description == "2")
        #expect(Nanodollars(0).description == "0")
        #expect(Nanodollars(parsing: "0.0000015") == Nanodollars(1_500))
        #expect(Nanodollars(parsing: "12") == Nanodollars(12_000_000_000))
        for bad in ["", ".5", "1.", "1.0000000001", "-1", "1e3", "0x10", "１"] {
            #expect(Nanodollars(parsing: bad) == nil, "\(bad)")
        }
        #expect(Nanodollars(usd: 0.25) == Nanodollars(250_000_000))
        #expect(Nanodollars(usd: -1) == nil)
        #expect(Nanodollars(usd: .infinity) == nil)
    }

    @Test("periods are UTC calendar periods with their reset time")
    func periods() throws {
        let date = try #require(ISO8601DateFormatter().date(from: "2026-12-07T16:30:00Z"))
        #expect(BudgetPeriod.day.window(at: date).label == "2026-12-07")
        #expect(BudgetPeriod.day.window(at: date).resetsAt == ISO8601DateFormatter().date(from: "2026-12-08T00:00:00Z"))
        #expect(BudgetPeriod.month.window(at: date).label == "2026-12")
        #expect(BudgetPeriod.month.window(at: date).resetsAt == ISO8601DateFormatter().date(from: "2027-01-01T00:00:00Z"))
        #expect(BudgetPeriod.week.window(at: date).label == "2026-W50")
        #expect(BudgetPeriod.week.window(at: date).resetsAt == ISO8601DateFormatter().date(from: "2026-12-14T00:00:00Z"))
        #expect(BudgetPeriod.total.window(at: date).label == "total")
        #expect(BudgetPeriod.total.window(at: date).resetsAt == nil)
    }

    @Test("GCRA: a burst of the whole limit, then one unit per interval; the sixth of five is refused with its wait")
    func gcra() {
        let window = RateWindow(limit: 5)
        let second: Int64 = 1_000_000_000
        var tat: Int64 = 0
        let now = 1_000 * second
        for expectedRemaining in (0..<5).reversed() {
            let grant = window.grant(1, tat: tat, now: now)
            #expect(grant.granted == 1)
            #expect(grant.remaining == Int64(expectedRemaining))
            tat = grant.tat
        }
        let refused = window.grant(1, tat: tat, now: now)
        #expect(refused.granted == 0)
        #expect(refused.retryAfter == 12 * second)
        #expect(refused.reset == 60 * second)
        // Twelve seconds later exactly one more unit conforms.
        let later = window.grant(3, tat: tat, now: now + 12 * second)
        #expect(later.granted == 1)
        #expect(later.remaining == 0)
        // A lease takes what conforms, no more; giving units back makes room again.
        let fresh = window.grant(9, tat: 0, now: now)
        #expect(fresh.granted == 5)
        let back = window.giveBack(2, tat: fresh.tat, now: now)
        #expect(window.grant(9, tat: back, now: now).granted == 2)
    }

    @Test("GCRA never grants more than the limit plus the elapsed time's worth, however leases are sized")
    func gcraBound() {
        let window = RateWindow(limit: 100)
        var random = SystemRandomNumberGenerator()
        var tat: Int64 = 0
        var granted: Int64 = 0
        let start: Int64 = 5_000_000_000_000
        var now = start
        for _ in 0..<10_000 {
            now += Int64.random(in: 0...50_000_000, using: &random)
            let grant = window.grant(Int64.random(in: 1...20, using: &random), tat: tat, now: now)
            tat = grant.tat
            granted += grant.granted
        }
        #expect(granted <= 100 + (now - start) / window.interval + 1)
    }

    @Test("local leases: takes within the lease, shortfalls, credits, debts, and what expiry hands back")
    func leases() {
        let allowances = LocalAllowances()
        let counter = LimitCounter.budget(key: "token:t", period: "total", limit: 1000)
        let now = ContinuousClock.now
        #expect(allowances.take(counter, units: 10, now: now) == nil)
        #expect(allowances.shortfall(counter, units: 10, now: now) == 10)
        let lease = allowances.grant(
            counter, granted: 100, take: 10, remainingElsewhere: 0, resetAt: nil, ttl: .seconds(10), now: now)
        #expect(lease?.units == 90)
        #expect(allowances.take(counter, units: 90, now: now)?.units == 0)
        #expect(allowances.shortfall(counter, units: 5, now: now) == 5)
        // A request that cost more than it reserved leaves a debt the next lease pays first.
        allowances.credit(counter, units: -7)
        #expect(allowances.shortfall(counter, units: 5, now: now) == 12)
        allowances.credit(counter, units: 27)
        #expect(allowances.take(counter, units: 20, now: now)?.units == 0)
        allowances.credit(counter, units: 30)
        // Expired: the unused units go back to the ledger, and a later credit is queued for it too.
        let back = allowances.sweep(now: now + .seconds(11))
        #expect(back.map(\.units) == [30])
        allowances.credit(counter, units: 4)
        #expect(allowances.sweep(now: now + .seconds(12)).map(\.units) == [4])
        #expect(allowances.sweep(now: now + .seconds(13)).isEmpty)
        // A different limit under the same key (the config changed) is a different lease.
        let changed = LimitCounter.budget(key: "token:t", period: "total", limit: 2000)
        _ = allowances.grant(counter, granted: 50, take: 0, remainingElsewhere: 0, resetAt: nil, ttl: .seconds(10), now: now)
        #expect(allowances.take(changed, units: 1, now: now) == nil)
        #expect(allowances.drainAll().map(\.units) == [50])
    }
}
