import Foundation
import GatehouseCore
import GatehouseSecurity
import GatehouseServer
import GatehouseSimulator
import Logging
import ServiceLifecycle

/// The out-of-the-box setup of `gatehouse serve` without a configuration file: a
/// simulator on a free loopback port, a sealed key for it, and a short-lived token.
///
/// Minting happens here, in the operator's CLI process, before the server starts; the
/// gateway itself is built from the public keys in `trust/` only and cannot mint.
struct Quickstart {
    static let keyName = "quickstart-simulator"

    let simulator: any Service
    let config: GatewayConfig
    let token: MintedToken

    static func start(state: StateDirectory, environment: [String: String], logger: Logger) async throws -> Quickstart {
        let kek = try KeyEncryptionKey.load(from: state, environment: environment)
        let store = SealedKeyStore(state: state, kek: kek)
        let simulatorKey: Secret
        if (try? store.info(name: keyName)) != nil {
            simulatorKey = try store.unseal(name: keyName)
        } else {
            var generator = SystemRandomNumberGenerator()
            let random = (0..<4).map { _ in String(generator.next(), radix: 36) }.joined()
            simulatorKey = Secret(utf8: "sim-quickstart-" + random)
            _ = try store.add(name: keyName, secret: simulatorKey, replace: true)
        }
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let options = simulatorKey.withUnsafeString { key in SimulatorOptions(host: "127.0.0.1", port: 0, apiKeys: [key]) }
        let simulator = Simulator.makeService(options: options, logger: Logger(label: "gatehouse.simulator")) { port in
            portContinuation.yield(port)
            portContinuation.finish()
        }
        // The simulator runs in `runner` until the service group stops it (see `RunningTask`).
        let runner = Task {
            defer { portContinuation.finish() }
            try await simulator.run()
        }
        var bound: Int?
        for await port in portStream {
            bound = port
            break
        }
        guard let port = bound else {
            runner.cancel()
            throw QuickstartError("the built-in simulator did not start")
        }
        let config = quickstartConfig(port: port)
        let authority = try TokenAuthority.loadOrCreate(in: state)
        let token = try authority.mint(subject: "quickstart", models: ["*"], ttl: 3600)
        return Quickstart(simulator: RunningTask(task: runner), config: config, token: token)
    }

    static func quickstartConfig(port: Int) -> GatewayConfig {
        var config = GatewayConfig()
        let base = "http://127.0.0.1:\(port)"
        config.providers = [
            .init(name: "sim-openai", kind: .openAI, baseURL: base + "/v1", keyName: keyName),
            .init(name: "sim-anthropic", kind: .anthropic, baseURL: base, keyName: keyName),
            .init(name: "sim-gemini", kind: .gemini, baseURL: base + "/v1beta", keyName: keyName),
        ]
        config.models = [
            Deployment(publicName: "sim-gpt", provider: "sim-openai", kind: .openAI, upstreamModel: "sim-gpt"),
            Deployment(publicName: "sim-claude", provider: "sim-anthropic", kind: .anthropic, upstreamModel: "sim-claude"),
            Deployment(publicName: "sim-gemini", provider: "sim-gemini", kind: .gemini, upstreamModel: "sim-gemini"),
        ]
        return config
    }

    func printWelcome(host: String, port: Int) {
        let url = "http://\(host):\(port)"
        Console.line(
            """

            Gatehouse is running with its built-in provider simulator (models: sim-gpt, sim-claude, sim-gemini).
            A token for you, valid until \(ISO8601DateFormatter().string(from: token.expiresAt)):

            \(token.token)

            Try it:
            curl -s \(url)/v1/chat/completions -H "Authorization: Bearer \(token.token)" -H 'content-type: application/json' -d '{"model":"sim-gpt","messages":[{"role":"user","content":"Hello"}]}'

            """)
    }
}

struct QuickstartError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A service wrapping a task that was started early; graceful shutdown cancels it.
struct RunningTask: Service {
    let task: Task<Void, any Error>

    func run() async throws {
        try? await gracefulShutdown()
        task.cancel()
        _ = await task.result
    }
}
