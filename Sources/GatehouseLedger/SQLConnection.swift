/// A value bound to, or read from, a statement's parameters and columns.
public enum SQLValue: Sendable, Equatable {
    case int(Int64)
    case text(String)
    case null

    public var int: Int64? {
        if case .int(let value) = self { return value }
        if case .text(let text) = self { return Int64(text) }
        return nil
    }

    public var text: String? {
        switch self {
        case .text(let value): value
        case .int(let value): String(value)
        case .null: nil
        }
    }
}

/// A failure of the store, naming the driver and what it was doing, never a bound value.
public struct LedgerStoreError: Error, CustomStringConvertible {
    public let driver: String
    public let message: String
    public init(driver: String, _ message: String) {
        self.driver = driver
        self.message = message
    }
    public var description: String { "\(driver): \(message)" }
}

/// One connection to the ledger's database. Statements take their values as bound parameters
/// only (`$1`, `$2`, … in order of first use, which both SQLite and PostgreSQL read the same
/// way); no value is ever spliced into SQL text.
public protocol SQLConnection: AnyObject {
    /// `sqlite` or `postgres`, for messages and the few statements that differ.
    var driver: String { get }
    /// Runs one statement and returns its rows.
    @discardableResult
    func query(_ sql: String, _ parameters: [SQLValue]) throws -> [[SQLValue]]
    /// Runs statements without parameters (schema changes), separated by semicolons.
    func execute(script: String) throws
    /// Starts a transaction that takes the write lock at once (so read-then-write is serialized).
    func beginWrite() throws
    func commit() throws
    func rollback()
}

extension SQLConnection {
    /// Runs `body` in a write transaction: committed if it returns, rolled back if it throws.
    public func writeTransaction<T>(_ body: () throws -> T) throws -> T {
        try beginWrite()
        do {
            let result = try body()
            try commit()
            return result
        } catch {
            rollback()
            throw error
        }
    }
}
