import Foundation
import GatehouseCore
import GatehouseEgress
import GatehouseLedger
import GatehouseLink
import GatehouseSecurity
import GatehouseServer
import Logging

extension Ledger: KeyholderLedger {}
extension KeyholderLink: LedgerClient {}

enum LedgerWiring {
    /// The SQLite file when the config names none: `ledger.sqlite` in the state directory.
    static func sqlitePath(_ config: LedgerStateConfig, state: StateDirectory) -> String {
        config.path ?? state.url.appendingPathComponent("ledger.sqlite").path
    }

    /// Opens the ledger's store as configured (and migrates it).
    static func opener(_ config: LedgerStateConfig, state: StateDirectory, password: Secret? = nil)
        -> () throws -> LedgerStore
    {
        switch config.driver {
        case .sqlite:
            let path = sqlitePath(config, state: state)
            return {
                let store = LedgerStore(connection: try SQLiteConnection(path: path))
                try store.migrate()
                return store
            }
        case .postgres:
            let url = config.url ?? ""
            return {
                let connection = try password.map { secret in
                    try secret.withUnsafeString { try PostgresConnection(url: url, password: $0) }
                } ?? PostgresConnection(url: url, password: nil)
                let store = LedgerStore(connection: connection)
                try store.migrate()
                return store
            }
        }
    }

    /// The keyholder's ledger, started: a store that cannot be opened stops the start.
    static func start(
        _ config: LedgerStateConfig, state: StateDirectory, keyholder: Keyholder, password: Secret?, logger: Logger
    ) throws -> Ledger {
        let ledger = Ledger(
            retentionMilliseconds: config.retentionSeconds.map { Int64($0) * 1000 }, logger: logger,
            onOutage: { message in
                keyholder.record(.ledgerUnavailable, ["error": .string(message)])
            }, open: opener(config, state: state, password: password))
        try ledger.start()
        return ledger
    }
}
