import Foundation
import GatehouseCore
import GatehouseSecurity
import GatehouseServer
import Logging

/// The out-of-the-box setup of `gatehouse serve` without a configuration file: a
/// simulator (`gatehouse simulate`) on a free loopback port, a generated configuration
/// routing three models to it, a sealed key for it (created by the keyholder), and a
/// one-hour token (minted by a separate `gatehouse token mint` process, so the signing
/// key never enters the front or the supervisor).
enum Quickstart {
    static let keyName = "quickstart-simulator"

    static func configuration(port: Int) -> String {
        let base = "http://127.0.0.1:\(port)"
        return """
            # Written by `gatehouse serve` (no --config): the built-in simulator on a free port.
            providers:
              sim-openai: {kind: openai, base_url: "\(base)/v1", key: \(keyName)}
              sim-anthropic: {kind: anthropic, base_url: "\(base)", key: \(keyName)}
              sim-gemini: {kind: gemini, base_url: "\(base)/v1beta", key: \(keyName)}
            models:
              - {name: sim-gpt, provider: sim-openai, model: sim-gpt}
              - {name: sim-claude, provider: sim-anthropic, model: sim-claude}
              - {name: sim-gemini, provider: sim-gemini, model: sim-gemini}
            # The simulated models are priced like the models they stand in for, so answers show a cost.
            prices:
              sim-gpt: {input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075}
              sim-claude: {input_per_mtok: 3, output_per_mtok: 15, cached_input_per_mtok: 0.30, cache_write_per_mtok: 3.75}
              sim-gemini: {input_per_mtok: 0.30, output_per_mtok: 2.50, cached_input_per_mtok: 0.075}

            """
    }

    struct Welcome: Sendable {
        let token: String
        let expiresAt: String

        func print(url: String) {
            Console.line(
                """

                Gatehouse is running with its built-in provider simulator (models: sim-gpt, sim-claude, sim-gemini).
                A token for you, valid until \(expiresAt):

                \(token)

                Try it:
                curl -s \(url)/v1/chat/completions -H "Authorization: Bearer \(token)" -H 'content-type: application/json' -d '{"model":"sim-gpt","messages":[{"role":"user","content":"Hello"}]}'

                """)
        }
    }

    /// Runs `gatehouse token mint` as its own process and reads the token it prints.
    static func mintToken(executable: String, state: StateDirectory) throws -> Welcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["token", "mint", "--subject", "quickstart", "--ttl", "1h", "--json", "--state", state.url.path]
        process.environment = ProcessEnvironment.safeVariables()
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let value = JSONValue.parse(String(decoding: data, as: UTF8.self)),
            let token = value["token"]?.stringValue
        else {
            throw StartupError("could not mint the quickstart token (gatehouse token mint failed)")
        }
        return Welcome(token: token, expiresAt: value["expires_at"]?.stringValue ?? "in one hour")
    }
}

