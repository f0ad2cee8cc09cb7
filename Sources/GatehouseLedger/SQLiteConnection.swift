import CSQLite
import Foundation

/// The embedded store: one SQLite file, in WAL mode, used by one thread of the ledger.
public final class SQLiteConnection: SQLConnection {
    public let driver = "sqlite"
    private var handle: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]

    /// Opens (creating if needed) the file at `path`, mode 0600.
    public init(path: String, readOnly: Bool = false) throws {
        let flags =
            readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let previous = umask(0o077)
        let status = sqlite3_open_v2(path, &handle, flags | SQLITE_OPEN_NOMUTEX, nil)
        umask(previous)
        guard status == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(handle)
            handle = nil
            throw LedgerStoreError(driver: driver, "cannot open \(path): \(message)")
        }
        sqlite3_busy_timeout(handle, 5000)
        if !readOnly {
            try execute(script: "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON")
        }
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close(handle)
    }

    private func failure(_ what: String) -> LedgerStoreError {
        LedgerStoreError(driver: driver, "\(what): \(handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed")")
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            return statement
        }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw failure("cannot prepare a statement")
        }
        statements[sql] = statement
        return statement
    }

    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLValue]) throws -> [[SQLValue]] {
        let statement = try prepared(sql)
        defer { sqlite3_reset(statement) }
        for (index, value) in parameters.enumerated() {
            let position = Int32(index + 1)
            let status: Int32
            switch value {
            case .int(let number): status = sqlite3_bind_int64(statement, position, number)
            case .text(let text):
                // SQLITE_TRANSIENT: SQLite copies the text before this call returns.
                status = sqlite3_bind_text(statement, position, text, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
            case .null: status = sqlite3_bind_null(statement, position)
            }
            guard status == SQLITE_OK else { throw failure("cannot bind parameter \(position)") }
        }
        var rows: [[SQLValue]] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else { throw failure("a statement failed") }
            var row: [SQLValue] = []
            for column in 0..<sqlite3_column_count(statement) {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: row.append(.int(sqlite3_column_int64(statement, column)))
                case SQLITE_NULL: row.append(.null)
                default:
                    if let text = sqlite3_column_text(statement, column) {
                        row.append(.text(String(cString: text)))
                    } else {
                        row.append(.null)
                    }
                }
            }
            rows.append(row)
        }
        return rows
    }

    public func execute(script: String) throws {
        guard sqlite3_exec(handle, script, nil, nil, nil) == SQLITE_OK else { throw failure("a schema statement failed") }
    }

    public func beginWrite() throws { try execute(script: "BEGIN IMMEDIATE") }
    public func commit() throws { try execute(script: "COMMIT") }
    public func rollback() { _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
}
