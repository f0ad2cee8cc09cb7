import CLibPQ
import Foundation

/// The shared store: one connection to PostgreSQL through its own client library (libpq), used
/// by one thread of the ledger. Values travel as text parameters of `PQexecParams`, never in the
/// statement's text.
public final class PostgresConnection: SQLConnection {
    public let driver = "postgres"
    private let connection: OpaquePointer

    /// Connects to `url` (`postgres://user@host:port/db`) with `password` given apart from it.
    public init(url: String, password: String?, connectTimeoutSeconds: Int = 5) throws {
        var keywords = ["dbname", "connect_timeout", "application_name"]
        var values = [url, String(connectTimeoutSeconds), "gatehouse-ledger"]
        if let password {
            keywords.append("password")
            values.append(password)
        }
        let connection = Self.withCStrings(keywords) { keywordPointers in
            Self.withCStrings(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else { throw LedgerStoreError(driver: "postgres", "cannot allocate a connection") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.message(connection)
            PQfinish(connection)
            throw LedgerStoreError(driver: "postgres", "cannot connect: \(message)")
        }
        self.connection = connection
        // Quiet notices (they would go to stderr) and a statement deadline, so a stuck server cannot hold the ledger.
        _ = PQsetNoticeProcessor(connection, { _, _ in }, nil)
        try execute(script: "SET statement_timeout = 10000")
    }

    deinit { PQfinish(connection) }

    /// libpq's last error, first line only, without anything the server echoed of a password.
    private static func message(_ connection: OpaquePointer?) -> String {
        guard let text = PQerrorMessage(connection) else { return "unknown error" }
        let line = String(cString: text).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return line.isEmpty ? "unknown error" : String(line.prefix(300))
    }

    private static func withCStrings<T>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> T) -> T {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        defer {
            for pointer in pointers { free(pointer) }
        }
        pointers.append(nil)
        return body(pointers.map { $0.map { UnsafePointer($0) } })
    }

    private func check(_ result: OpaquePointer?, _ what: String) throws -> OpaquePointer {
        guard let result else { throw LedgerStoreError(driver: driver, "\(what): \(Self.message(connection))") }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            return result
        default:
            let detail = PQresultErrorMessage(result).map { String(cString: $0) } ?? ""
            PQclear(result)
            let line = detail.split(whereSeparator: \.isNewline).first.map(String.init) ?? Self.message(connection)
            throw LedgerStoreError(driver: driver, "\(what): \(line.prefix(300))")
        }
    }

    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLValue]) throws -> [[SQLValue]] {
        let texts: [String?] = parameters.map { value in
            switch value {
            case .int(let number): String(number)
            case .text(let text): text
            case .null: nil
            }
        }
        var storage: [UnsafeMutablePointer<CChar>?] = texts.map { $0.map { strdup($0) } ?? nil }
        defer {
            for pointer in storage { free(pointer) }
        }
        let result = try storage.withUnsafeMutableBufferPointer { buffer in
            let values = buffer.map { $0.map { UnsafePointer($0) } }
            return try check(
                PQexecParams(connection, sql, Int32(values.count), nil, values, nil, nil, 0), "a statement failed")
        }
        defer { PQclear(result) }
        var rows: [[SQLValue]] = []
        let columns = PQnfields(result)
        for row in 0..<PQntuples(result) {
            var values: [SQLValue] = []
            for column in 0..<columns {
                if PQgetisnull(result, row, column) == 1 {
                    values.append(.null)
                    continue
                }
                let text = String(cString: PQgetvalue(result, row, column))
                // int2, int4, int8 come back as integers; everything else (numeric sums included) as text.
                switch PQftype(result, column) {
                case 20, 21, 23: values.append(Int64(text).map(SQLValue.int) ?? .text(text))
                default: values.append(.text(text))
                }
            }
            rows.append(values)
        }
        _ = storage
        return rows
    }

    public func execute(script: String) throws {
        PQclear(try check(PQexec(connection, script), "a schema statement failed"))
    }

    public func beginWrite() throws { try execute(script: "BEGIN") }
    public func commit() throws { try execute(script: "COMMIT") }
    public func rollback() { PQclear(PQexec(connection, "ROLLBACK")) }
}
