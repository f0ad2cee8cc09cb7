import ArgumentParser
import Foundation
import GatehouseCore
import GatehouseLedger
import GatehousePolicy
import GatehouseSecurity
import GatehouseServer

/// `gatehouse usage`: requests, tokens and cost from the usage store, grouped, read directly
/// from the ledger's database (the gateway need not run).
struct UsageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract: "Report requests, tokens and cost from the usage store, grouped by subject, team, model or day.",
        discussion:
            "Reads the store named by --config (its state: section), or the SQLite file in the state directory."
    )

    @Option(help: "Group by subject, team, model or day.")
    var by: String = "subject"

    @Option(help: "How far back: 30m, 24h, 7d or a number of seconds (default 30d).")
    var since: String = "30d"

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Print CSV.")
    var csv = false

    @Option(help: "The gateway configuration whose state: section names the store.")
    var config: String?

    @OptionGroup var options: StateOptions

    func validate() throws {
        guard UsageGrouping(rawValue: by) != nil else {
            throw ValidationError("--by must be subject, team, model or day")
        }
        guard TokenLifetime.parse(since) != nil else {
            throw ValidationError("--since must look like 30m, 24h, 7d or a number of seconds")
        }
        guard !(json && csv) else { throw ValidationError("give --json or --csv, not both") }
    }

    func run() throws {
        let state = options.resolve()
        var stateConfig = LedgerStateConfig()
        if let config {
            do {
                stateConfig = try GatewayConfig.load(file: config, environment: ProcessEnvironment.safeVariables()).state
            } catch {
                FileHandle.standardError.write(Data("gatehouse usage: configuration error: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }
        let groups: [UsageGroup]
        let now = Date()
        let from = now.addingTimeInterval(-(TokenLifetime.parse(since) ?? 0))
        do {
            let store: LedgerStore
            switch stateConfig.driver {
            case .sqlite:
                let path = LedgerWiring.sqlitePath(stateConfig, state: state)
                guard FileManager.default.fileExists(atPath: path) else {
                    FileHandle.standardError.write(Data("gatehouse usage: no usage store at \(path)\n".utf8))
                    throw ExitCode.failure
                }
                store = LedgerStore(connection: try SQLiteConnection(path: path, readOnly: true))
            case .postgres:
                // The operator's CLI unseals the database password as `gatehouse keys` would.
                var password: Secret?
                if let name = stateConfig.passwordKey {
                    let kek = try KeyEncryptionKey.load(from: state, environment: ProcessInfo.processInfo.environment)
                    password = try SealedKeyStore(state: state, kek: kek).unseal(name: name)
                }
                store = try LedgerWiring.opener(stateConfig, state: state, password: password)()
            }
            groups = try store.usage(
                groupBy: UsageGrouping(rawValue: by) ?? .subject, from: Int64(from.timeIntervalSince1970 * 1000),
                to: Int64(now.timeIntervalSince1970 * 1000) + 1000)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("gatehouse usage: \(error)\n".utf8))
            throw ExitCode.failure
        }
        if json {
            print(JSONValue.object(["group_by": .string(by), "data": .array(groups.map(Ledger.json))]).compactText())
        } else if csv {
            print("\(by),requests,prompt_tokens,completion_tokens,cached_tokens,cost_usd")
            for group in groups {
                print(
                    "\(Self.csvField(group.key)),\(group.requests),\(group.promptTokens),\(group.completionTokens),\(group.cachedTokens),\(group.cost)"
                )
            }
        } else {
            let rows =
                [[by, "requests", "prompt", "completion", "cached", "cost_usd"]]
                + groups.map {
                    [
                        $0.key.isEmpty ? "-" : $0.key, String($0.requests), String($0.promptTokens),
                        String($0.completionTokens), String($0.cachedTokens), $0.cost.description,
                    ]
                }
            let widths = (0..<6).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(
                    row.enumerated().map { index, cell in
                        index == 0
                            ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                            : String(repeating: " ", count: widths[index] - cell.count) + cell
                    }.joined(separator: "  "))
            }
        }
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
