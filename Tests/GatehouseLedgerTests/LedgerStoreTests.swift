import Foundation
import GatehouseCore
import GatehousePolicy
import GatehouseSecurity
import Testing

@testable import GatehouseLedger

@Suite("The ledger's store on SQLite: migrations, budget and rate leases, usage rows")
struct LedgerStoreTests {
    func temporaryStore() throws -> (LedgerStore, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("ledger.sqlite").path
        let store = LedgerStore(connection: try SQLiteConnection(path: path))
        try store.migrate()
        return (store, path)
    }

    @Test("migrations apply once; a database newer than the binary is refused with its version")
    func migrations() throws {
        let (store, path) = try temporaryStore()
        try store.migrate()
        let again = LedgerStore(connection: try SQLiteConnection(path: path))
        try again.migrate()
        try again.connection.query("INSERT INTO gatehouse_schema (version) VALUES ($1)", [.int(99)])
        let newer = LedgerStore(connection: try SQLiteConnection(path: path))
        #expect(throws: LedgerStoreError.self) { try newer.migrate() }
        do {
            try newer.migrate()
        } catch {
            #expect("\(error)".contains("version 99"))
        }
        _ = store
    }

    @Test("budget leases never exceed the limit; returns make room; a lease smaller than the need is refused")
    func budgets() throws {
        let (store, _) = try temporaryStore()
        let first = try store.leaseBudget(key: "token:a", period: "2026-12", limit: 1000, need: 100, ask: 600)
        #expect(first.granted == 600)
        let second = try store.leaseBudget(key: "token:a", period: "2026-12", limit: 1000, need: 100, ask: 600)
        #expect(second.granted == 400)
        let third = try store.leaseBudget(key: "token:a", period: "2026-12", limit: 1000, need: 1, ask: 1)
        #expect(third.granted == 0)
        #expect(third.consumed == 1000)
        try store.returnBudget(key: "token:a", period: "2026-12", amount: 250)
        #expect(try store.consumed(key: "token:a", period: "2026-12") == 750)
        #expect(try store.leaseBudget(key: "token:a", period: "2026-12", limit: 1000, need: 300, ask: 300).granted == 0)
        #expect(try store.leaseBudget(key: "token:a", period: "2026-12", limit: 1000, need: 200, ask: 300).granted == 250)
        // Another period starts from nothing.
        #expect(try store.leaseBudget(key: "token:a", period: "2027-01", limit: 1000, need: 1, ask: 5).granted == 5)
    }

    @Test("rate leases follow the GCRA in the store's row")
    func rates() throws {
        let (store, _) = try temporaryStore()
        let window = RateWindow(limit: 5)
        let now: Int64 = 1_000_000_000_000
        #expect(try store.leaseRate(key: "token:a:rpm", window: window, ask: 3, now: now).granted == 3)
        #expect(try store.leaseRate(key: "token:a:rpm", window: window, ask: 3, now: now).granted == 2)
        #expect(try store.leaseRate(key: "token:a:rpm", window: window, ask: 1, now: now).granted == 0)
        try store.returnRate(key: "token:a:rpm", window: window, units: 1, now: now)
        #expect(try store.leaseRate(key: "token:a:rpm", window: window, ask: 3, now: now).granted == 1)
    }

    @Test("usage rows group by subject, team, model and day; values are bound, not spliced")
    func usage() throws {
        let (store, _) = try temporaryStore()
        let day: Int64 = 1_796_601_600_000  // 2026-12-07T00:00:00Z
        func row(_ id: String, _ who: String, _ team: String?, _ model: String, _ cost: Int64, at: Int64) -> UsageRow {
            UsageRow(
                requestID: id, atMilliseconds: at, principal: who, team: team, tokenID: "t", model: model,
                deployment: "\(model)/d", status: 200, promptTokens: 10, completionTokens: 5, cachedTokens: 2,
                cost: Nanodollars(cost), durationMilliseconds: 3, firstByteMilliseconds: 1)
        }
        try store.insert([
            row("1", "alice", "red", "m1", 100, at: day + 1000),
            row("2", "alice", "red", "m2", 200, at: day + 2000),
            row("3", "bob'); DROP TABLE requests; --", nil, "m1", 400, at: day + 86_400_000 + 5),
        ])
        let bySubject = try store.usage(groupBy: .subject, from: 0, to: Int64.max)
        #expect(bySubject.map(\.key) == ["alice", "bob'); DROP TABLE requests; --"])
        #expect(bySubject[0].cost == Nanodollars(300))
        #expect(bySubject[0].requests == 2)
        #expect(bySubject[0].cachedTokens == 4)
        #expect(try store.usage(groupBy: .team, from: 0, to: Int64.max).map(\.key) == ["", "red"])
        #expect(try store.usage(groupBy: .model, from: 0, to: Int64.max).map(\.cost) == [Nanodollars(500), Nanodollars(200)])
        #expect(try store.usage(groupBy: .day, from: 0, to: Int64.max).map(\.key) == ["2026-12-07", "2026-12-08"])
        #expect(try store.usage(groupBy: .subject, from: day, to: day + 1500).map(\.requests) == [1])
        try store.prune(before: day + 1500)
        #expect(try store.usage(groupBy: .model, from: 0, to: Int64.max).map(\.requests) == [1, 1])
    }

    @Test("a request record for a model becomes a usage row; records without an id, status or model are not rows")
    func rows() {
        let fields: GatehouseSecurity.AuditFields = [
            "request_id": "r1", "status": 200, "principal": "alice", "team": "red", "model": "m",
            "prompt_tokens": 7, "completion_tokens": 3, "cached_tokens": 1, "cost_usd": "0.000012", "duration_ms": 4,
        ]
        let row = Ledger.row(from: fields, at: 5)
        #expect(row?.cost == Nanodollars(12_000))
        #expect(row?.team == "red")
        #expect(row?.promptTokens == 7)
        #expect(Ledger.row(from: ["status": 200], at: 5) == nil)
        #expect(Ledger.row(from: ["request_id": "r2", "status": 200], at: 5) == nil)
    }
}
