import ArgumentParser
import Foundation
import GatehouseCore
import GatehouseEgress
import GatehouseSecurity
import GatehouseServer
import GatehouseSimulator
import Logging
import ServiceLifecycle

/// `gatehouse serve`: runs the gateway. With no `--config`, runs out of the box
/// against a built-in simulator and prints a short-lived token to try it with.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway.",
        discussion: """
            With --config FILE, serves the providers and models the file declares. Without it, starts a built-in \
            provider simulator on loopback, seals a key for it, mints a one-hour token and prints a curl example.
            """)

    @Option(help: "YAML configuration file (see examples/gatehouse.yaml).")
    var config: String?

    @Option(help: "Address to listen on (overrides server.host).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free port (overrides server.port).")
    var port: Int?

    @OptionGroup var stateOptions: StateOptions

    func run() async throws {
        do {
            try await serve()
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("gatehouse: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    func serve() async throws {
        let logger = GatehouseLogging.bootstrap(label: "gatehouse.serve")
        let environment = ProcessInfo.processInfo.environment
        let state = stateOptions.resolve()
        try state.prepare()

        var services: [any Service] = []
        var gatewayConfig: GatewayConfig
        var quickstart: Quickstart?
        if let config {
            do {
                gatewayConfig = try GatewayConfig.load(file: config, environment: environment)
            } catch let error as GatewayConfig.LoadError {
                throw StartupError("configuration error: \(error)")
            }
        } else {
            let started = try await Quickstart.start(state: state, environment: environment, logger: logger)
            services.append(started.simulator)
            gatewayConfig = started.config
            quickstart = started
        }
        let listenHost = host ?? gatewayConfig.host ?? "127.0.0.1"
        let listenPort = port ?? gatewayConfig.port ?? 4000

        let verifier: TokenVerifier
        do {
            verifier = try TokenVerifier.load(from: state, audience: gatewayConfig.audience)
        } catch {
            throw StartupError(
                "cannot load trusted token keys from \(state.trustDirectory.path): \(error)\n"
                    + "Create the token authority first: gatehouse token mint --subject NAME --state \(state.url.path)")
        }
        var keyStore: SealedKeyStore?
        if gatewayConfig.providers.contains(where: { $0.keyName != nil }) {
            do {
                keyStore = SealedKeyStore(state: state, kek: try KeyEncryptionKey.load(from: state, environment: environment))
            } catch {
                throw StartupError("cannot load the master key: \(error)")
            }
        }
        let endpoints = try gatewayConfig.providers.map { provider in
            try ProviderEndpoint(name: provider.name, kind: provider.kind, baseURL: provider.baseURL, keyName: provider.keyName)
        }
        let keyholder: Keyholder
        do {
            keyholder = try Keyholder(endpoints: endpoints, keyStore: keyStore, logger: Logger(label: "gatehouse.egress"))
        } catch let error as EgressError {
            throw StartupError("\(config ?? "built-in configuration"): \(error)")
        }
        logger.info(
            "configuration loaded",
            metadata: [
                "gatehouse.config": .string(config ?? "(quickstart)"),
                "gatehouse.providers": .stringConvertible(endpoints.count),
                "gatehouse.models": .stringConvertible(gatewayConfig.models.count),
            ])

        let gateway = Gateway(
            verifier: verifier, catalog: ModelCatalog(gatewayConfig.models), egress: keyholder,
            limits: .init(maxBodyBytes: gatewayConfig.maxBodyBytes), logger: Logger(label: "gatehouse.request"))
        let announce = quickstart
        let app = GatewayApplication.make(gateway: gateway, host: listenHost, port: listenPort, logger: logger) { boundPort in
            Console.line("gatehouse serve listening on http://\(listenHost):\(boundPort)")
            announce?.printWelcome(host: listenHost, port: boundPort)
        }
        // Shut down in reverse order: the listener first (in-flight requests finish), then the rest.
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: ShutdownHook { try await keyholder.shutdown() })]
                    + services.map { .init(service: $0) } + [.init(service: app)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger))
        try await group.run()
    }
}

/// A reason the gateway cannot start, printed as one line without usage help.
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs an action once graceful shutdown begins (after the services started later have stopped).
struct ShutdownHook: Service {
    let action: @Sendable () async throws -> Void

    func run() async throws {
        try? await gracefulShutdown()
        try await action()
    }
}

enum Console {
    /// Writes one line to stdout and flushes, so a supervising process sees it at once.
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}

enum GatehouseLogging {
    /// Logs go to stderr (stdout carries only what scripts read); level from `GATEHOUSE_LOG_LEVEL`.
    static func bootstrap(label: String) -> Logger {
        let level = ProcessInfo.processInfo.environment["GATEHOUSE_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}
