import GatehousePolicy

/// The ledger's tables and the statements on them, the same for SQLite and PostgreSQL.
///
/// - `budget_spend`: per budget key and period, what has been leased out (spent, or held by an
///   instance as allowance). A lease is granted only if it fits under the limit, so the sum over
///   all instances never exceeds it.
/// - `rate_state`: per rate-limit key, the GCRA theoretical arrival time.
/// - `requests`: one row per request: metadata, tokens and cost, never text.
public final class LedgerStore {
    /// The schema versions, in order; version N is `migrations[N - 1]`.
    static let migrations: [String] = [
        """
        CREATE TABLE budget_spend (key TEXT NOT NULL, period TEXT NOT NULL, consumed_nusd BIGINT NOT NULL,
            PRIMARY KEY (key, period));
        CREATE TABLE rate_state (key TEXT PRIMARY KEY, tat_ns BIGINT NOT NULL);
        CREATE TABLE requests (request_id TEXT NOT NULL, at_ms BIGINT NOT NULL, principal TEXT, team TEXT,
            token_id TEXT, model TEXT, deployment TEXT, status INTEGER NOT NULL, prompt_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL, cost_nusd BIGINT NOT NULL,
            duration_ms BIGINT NOT NULL, ttfb_ms BIGINT);
        CREATE INDEX requests_at ON requests (at_ms)
        """
    ]

    public static var schemaVersion: Int { migrations.count }

    let connection: any SQLConnection

    public init(connection: any SQLConnection) {
        self.connection = connection
    }

    /// Applies the migrations this database lacks; refuses a database newer than this binary.
    public func migrate() throws {
        try connection.execute(script: "CREATE TABLE IF NOT EXISTS gatehouse_schema (version INTEGER NOT NULL)")
        try connection.writeTransaction {
            let current = try connection.query("SELECT MAX(version) FROM gatehouse_schema", []).first?.first?.int ?? 0
            guard current <= Self.schemaVersion else {
                throw LedgerStoreError(
                    driver: connection.driver,
                    "the database's schema is version \(current), newer than this gatehouse knows (\(Self.schemaVersion)); upgrade gatehouse"
                )
            }
            for version in Int(current)..<Self.schemaVersion {
                try connection.execute(script: Self.migrations[version])
                try connection.query("INSERT INTO gatehouse_schema (version) VALUES ($1)", [.int(Int64(version + 1))])
            }
        }
    }

    private var lockClause: String { connection.driver == "postgres" ? " FOR UPDATE" : "" }

    /// Leases up to `ask` (at least `need`) of a budget: granted only within the limit.
    public func leaseBudget(key: String, period: String, limit: Int64, need: Int64, ask: Int64) throws -> (
        granted: Int64, consumed: Int64
    ) {
        try connection.writeTransaction {
            try connection.query(
                "INSERT INTO budget_spend (key, period, consumed_nusd) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
                [.text(key), .text(period)])
            let consumed =
                try connection.query(
                    "SELECT consumed_nusd FROM budget_spend WHERE key = $1 AND period = $2" + lockClause,
                    [.text(key), .text(period)]
                ).first?.first?.int ?? 0
            let left = max(0, limit - consumed)
            guard left >= need else { return (0, consumed) }
            let granted = min(max(ask, need), left)
            try connection.query(
                "UPDATE budget_spend SET consumed_nusd = consumed_nusd + $1 WHERE key = $2 AND period = $3",
                [.int(granted), .text(key), .text(period)])
            return (granted, consumed + granted)
        }
    }

    /// Gives back what an instance leased and did not spend (or, negative, charges what it overspent).
    public func returnBudget(key: String, period: String, amount: Int64) throws {
        try connection.query(
            "UPDATE budget_spend SET consumed_nusd = consumed_nusd - $1 WHERE key = $2 AND period = $3",
            [.int(amount), .text(key), .text(period)])
    }

    /// What a budget has consumed in a period.
    public func consumed(key: String, period: String) throws -> Int64 {
        try connection.query(
            "SELECT consumed_nusd FROM budget_spend WHERE key = $1 AND period = $2", [.text(key), .text(period)]
        ).first?.first?.int ?? 0
    }

    /// Leases up to `ask` units of a rate limit.
    public func leaseRate(key: String, window: RateWindow, ask: Int64, now: Int64) throws -> RateWindow.Grant {
        try connection.writeTransaction {
            try connection.query(
                "INSERT INTO rate_state (key, tat_ns) VALUES ($1, 0) ON CONFLICT DO NOTHING", [.text(key)])
            let tat =
                try connection.query("SELECT tat_ns FROM rate_state WHERE key = $1" + lockClause, [.text(key)])
                .first?.first?.int ?? 0
            let grant = window.grant(ask, tat: tat, now: now)
            if grant.granted > 0 {
                try connection.query("UPDATE rate_state SET tat_ns = $1 WHERE key = $2", [.int(grant.tat), .text(key)])
            }
            return grant
        }
    }

    /// Gives back units of a rate lease that were not used.
    public func returnRate(key: String, window: RateWindow, units: Int64, now: Int64) throws {
        try connection.writeTransaction {
            let tat =
                try connection.query("SELECT tat_ns FROM rate_state WHERE key = $1" + lockClause, [.text(key)])
                .first?.first?.int ?? 0
            try connection.query(
                "UPDATE rate_state SET tat_ns = $1 WHERE key = $2",
                [.int(window.giveBack(units, tat: tat, now: now)), .text(key)])
        }
    }

    /// Writes request rows in one transaction.
    public func insert(_ rows: [UsageRow]) throws {
        guard !rows.isEmpty else { return }
        try connection.writeTransaction {
            for row in rows {
                try connection.query(
                    """
                    INSERT INTO requests (request_id, at_ms, principal, team, token_id, model, deployment, status,
                        prompt_tokens, completion_tokens, cached_tokens, cost_nusd, duration_ms, ttfb_ms)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                    """,
                    [
                        .text(row.requestID), .int(row.atMilliseconds), row.principal.map(SQLValue.text) ?? .null,
                        row.team.map(SQLValue.text) ?? .null, row.tokenID.map(SQLValue.text) ?? .null,
                        row.model.map(SQLValue.text) ?? .null, row.deployment.map(SQLValue.text) ?? .null,
                        .int(Int64(row.status)), .int(row.promptTokens), .int(row.completionTokens),
                        .int(row.cachedTokens), .int(row.cost.value), .int(row.durationMilliseconds),
                        row.firstByteMilliseconds.map(SQLValue.int) ?? .null,
                    ])
            }
        }
    }

    /// Requests, tokens and cost between two times (milliseconds since 1970, `to` excluded), grouped.
    public func usage(groupBy: UsageGrouping, from: Int64, to: Int64) throws -> [UsageGroup] {
        let rows = try connection.query(
            """
            SELECT \(groupBy.expression(driver: connection.driver)) AS g, COUNT(*), SUM(prompt_tokens),
                SUM(completion_tokens), SUM(cached_tokens), SUM(cost_nusd)
            FROM requests WHERE at_ms >= $1 AND at_ms < $2 GROUP BY g ORDER BY g
            """, [.int(from), .int(to)])
        return rows.map { row in
            UsageGroup(
                key: row[0].text ?? "", requests: row[1].int ?? 0, promptTokens: row[2].int ?? 0,
                completionTokens: row[3].int ?? 0, cachedTokens: row[4].int ?? 0, cost: Nanodollars(row[5].int ?? 0))
        }
    }

    /// Deletes request rows older than `before` (milliseconds since 1970).
    public func prune(before: Int64) throws {
        try connection.query("DELETE FROM requests WHERE at_ms < $1", [.int(before)])
    }
}

/// One request, as the usage store keeps it.
public struct UsageRow: Sendable, Equatable {
    public var requestID: String
    public var atMilliseconds: Int64
    public var principal: String?
    public var team: String?
    public var tokenID: String?
    public var model: String?
    public var deployment: String?
    public var status: Int
    public var promptTokens: Int64
    public var completionTokens: Int64
    public var cachedTokens: Int64
    public var cost: Nanodollars
    public var durationMilliseconds: Int64
    public var firstByteMilliseconds: Int64?

    public init(
        requestID: String, atMilliseconds: Int64, principal: String?, team: String?, tokenID: String?, model: String?,
        deployment: String?, status: Int, promptTokens: Int64, completionTokens: Int64, cachedTokens: Int64,
        cost: Nanodollars, durationMilliseconds: Int64, firstByteMilliseconds: Int64?
    ) {
        self.requestID = requestID
        self.atMilliseconds = atMilliseconds
        self.principal = principal
        self.team = team
        self.tokenID = tokenID
        self.model = model
        self.deployment = deployment
        self.status = status
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
        self.cost = cost
        self.durationMilliseconds = durationMilliseconds
        self.firstByteMilliseconds = firstByteMilliseconds
    }
}

/// How a usage report groups requests.
public enum UsageGrouping: String, Sendable, CaseIterable {
    case subject, team, model, day

    func expression(driver: String) -> String {
        switch self {
        case .subject: "COALESCE(principal, '')"
        case .team: "COALESCE(team, '')"
        case .model: "COALESCE(model, '')"
        case .day:
            driver == "postgres"
                ? "to_char(to_timestamp(at_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
                : "strftime('%Y-%m-%d', at_ms / 1000, 'unixepoch')"
        }
    }
}

/// One group of a usage report.
public struct UsageGroup: Sendable, Equatable {
    public var key: String
    public var requests: Int64
    public var promptTokens: Int64
    public var completionTokens: Int64
    public var cachedTokens: Int64
    public var cost: Nanodollars
}
