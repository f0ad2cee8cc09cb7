import ArgumentParser
import Foundation
import GatehouseCore
import GatehouseEgress
import GatehouseLink
import GatehouseSecurity
import GatehouseServer
import GatehouseSimulator
import Logging
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

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
        // Read only non-secret variables: a provider key or the master key in our environment
        // must never become a Swift string in the front.
        let environment = ProcessEnvironment.safeVariables()
        let state = stateOptions.state.map(StateDirectory.init(path:)) ?? StateDirectory.resolveDefault(environment: environment)
        try state.prepare()
        let runDirectory = state.url.appendingPathComponent("run", isDirectory: true)
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])

        var services: [any Service] = []
        let gatewayConfig: GatewayConfig
        let configPath: String
        var quickstart = false
        if let config {
            do {
                gatewayConfig = try GatewayConfig.load(file: config, environment: environment)
            } catch let error as GatewayConfig.LoadError {
                throw StartupError("configuration error: \(error)")
            }
            configPath = config
        } else {
            let started = try await Quickstart.start(runDirectory: runDirectory, logger: logger)
            services.append(started.simulator)
            gatewayConfig = started.config
            configPath = started.configPath
            quickstart = true
        }
        let listenHost = host ?? gatewayConfig.host ?? "127.0.0.1"
        let listenPort = port ?? gatewayConfig.port ?? 4000

        // The keyholder: a child process that alone unseals keys and reaches providers.
        let secret = LinkSecret.generate()
        let socketPath = runDirectory.appendingPathComponent("egress-\(getpid()).sock").path
        let link = KeyholderLink(socketPath: socketPath, secret: secret)
        var egressArguments = ["egress", "--socket", socketPath, "--config", configPath, "--secret-stdin", "--state", state.url.path]
        if quickstart { egressArguments += ["--ensure-key", Quickstart.keyName] }
        let supervisor = KeyholderSupervisor(
            executable: try Self.executablePath(), arguments: egressArguments, secret: secret, link: link,
            logger: Logger(label: "gatehouse.supervisor"))
        try await supervisor.start()
        // The keyholder has what it needs; remove secret-looking variables from our own environment.
        let scrubbed = ProcessEnvironment.scrub()
        if !scrubbed.isEmpty {
            logger.notice("removed secret-looking variables from the front's environment", metadata: ["gatehouse.env.removed": .string(scrubbed.joined(separator: ","))])
        }

        let verifier: TokenVerifier
        do {
            verifier = try TokenVerifier.load(from: state, audience: gatewayConfig.audience)
        } catch {
            if !quickstart {
                supervisor.stop()
                throw StartupError(
                    "cannot load trusted token keys from \(state.trustDirectory.path): \(error)\n"
                        + "Create the token authority first: gatehouse token mint --subject NAME --state \(state.url.path)")
            }
            verifier = TokenVerifier(publicKeys: [:], audience: gatewayConfig.audience)
        }
        var welcome: Quickstart.Welcome?
        var activeVerifier = verifier
        if quickstart {
            // Minted by a separate `gatehouse token mint` process: the signing key never enters the front.
            welcome = try Quickstart.mintToken(executable: try Self.executablePath(), state: state)
            activeVerifier = try TokenVerifier.load(from: state, audience: gatewayConfig.audience)
        }
        logger.info(
            "configuration loaded",
            metadata: [
                "gatehouse.config": .string(config ?? "(quickstart)"),
                "gatehouse.providers": .stringConvertible(gatewayConfig.providers.count),
                "gatehouse.models": .stringConvertible(gatewayConfig.models.count),
            ])

        let gateway = Gateway(
            verifier: activeVerifier, catalog: ModelCatalog(gatewayConfig.models), egress: link,
            limits: .init(maxBodyBytes: gatewayConfig.maxBodyBytes), logger: Logger(label: "gatehouse.request"))
        let announce = welcome
        let app = GatewayApplication.make(gateway: gateway, host: listenHost, port: listenPort, logger: logger) { boundPort in
            Console.line("gatehouse serve listening on http://\(listenHost):\(boundPort)")
            announce?.print(host: listenHost, port: boundPort)
        }
        // Shut down in reverse order: the listener first (in-flight requests finish), then the rest.
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: supervisor)] + services.map { .init(service: $0) } + [.init(service: app)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger))
        do {
            try await group.run()
        } catch {
            supervisor.stop()
            throw error
        }
    }

    /// This binary's path, so the keyholder runs the same code as the front.
    static func executablePath() throws -> String {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            throw StartupError("cannot find this executable's path (/proc/self/exe)")
        }
        return path
    }
}

/// A reason the gateway cannot start, printed as one line without usage help.
struct StartupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
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
