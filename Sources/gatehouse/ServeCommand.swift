import ArgumentParser
import CGatehouseSandbox
import Foundation
import GatehouseCore
import GatehouseLink
import GatehouseSecurity
import GatehouseServer
import Logging
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// `gatehouse serve`: runs the gateway as two processes — the front, which parses and
/// translates requests and holds no provider key, and the keyholder (`gatehouse egress`),
/// the only process that unseals keys and reaches providers. With no `--config`, runs out
/// of the box against a built-in simulator and prints a short-lived token.
///
/// With `--egress-socket`, runs only the front, against a keyholder started separately
/// (for deployments that give the front no network at all).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway (front and keyholder, privilege-separated).",
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

    @Option(
        name: .customLong("egress-socket"),
        help: "Run only the front, using the keyholder listening on this Unix socket (see `gatehouse egress`).")
    var egressSocket: String?

    @Option(name: .customLong("egress-secret-file"), help: "With --egress-socket: file holding the link secret.")
    var egressSecretFile: String?

    @Option(
        name: .customLong("listen-unix"),
        help: "With --egress-socket: listen on this Unix socket instead of TCP (a front with no network at all).")
    var listenUnix: String?

    @Flag(name: .customLong("egress-secret-stdin"), help: .hidden)
    var egressSecretStdin = false

    @Flag(
        name: .customLong("unsandboxed"),
        help: "Start the front even where the seccomp sandbox (no network sockets once listening) is unavailable.")
    var unsandboxed = false

    func run() async throws {
        let logger = GatehouseLogging.bootstrap(label: egressSocket == nil ? "gatehouse.supervisor" : "gatehouse.serve")
        do {
            if let egressSocket {
                try await runFront(socketPath: egressSocket, logger: logger)
            } else {
                try await Supervisor(
                    config: config, host: host, port: port, stateOption: stateOptions.state, unsandboxed: unsandboxed,
                    logger: logger
                ).run()
            }
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("gatehouse: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// The front: authenticates, translates and routes; its one road out is the keyholder link.
    func runFront(socketPath: String, logger: Logger) async throws {
        // Drop anything secret-looking from our environment before any code reads it.
        ProcessEnvironment.scrub()
        let environment = ProcessEnvironment.safeVariables()
        let state =
            stateOptions.state.map(StateDirectory.init(path:))
            ?? StateDirectory.resolveDefault(environment: environment)
        guard let config else { throw StartupError("--egress-socket needs --config") }
        let gatewayConfig: GatewayConfig
        do {
            gatewayConfig = try GatewayConfig.load(file: config, environment: environment)
        } catch let error as GatewayConfig.LoadError {
            throw StartupError("configuration error: \(error)")
        }
        EventLoops.configure(gatewayConfig, logger: logger)
        let secret = try LinkSecret.read(
            fromStandardInput: egressSecretStdin, file: egressSecretFile,
            missing: "--egress-socket needs --egress-secret-file")
        let credentials: CredentialsWatcher
        do {
            credentials = try CredentialsWatcher(
                state: state, audience: gatewayConfig.audience, logger: Logger(label: "gatehouse.credentials"))
        } catch {
            throw StartupError(
                "cannot load trusted token keys from \(state.trustDirectory.path): \(error)\n"
                    + "Create the token authority first: gatehouse token mint --subject NAME --state \(state.url.path)")
        }
        guard unsandboxed || gatehouse_sandbox_supported() != 0 else {
            throw StartupError(
                "the front's sandbox (seccomp) is not available here; pass --unsandboxed to run without it")
        }
        // The filesystem sandbox was installed before `main` (see landlock.c); refuse to run without it.
        let landlock = gatehouse_landlock_status()
        guard unsandboxed || landlock == 1 else {
            throw StartupError(
                "the front's filesystem sandbox (Landlock) could not be installed (status \(landlock)); "
                    + "pass --unsandboxed to run without it")
        }
        let link = KeyholderLink(socketPath: socketPath, secret: secret)
        let listenHost = host ?? gatewayConfig.host ?? "127.0.0.1"
        let listenPort = port ?? gatewayConfig.port ?? 4000
        logger.info(
            "configuration loaded",
            metadata: [
                "gatehouse.config": .string(config),
                "gatehouse.providers": .stringConvertible(gatewayConfig.providers.count),
                "gatehouse.models": .stringConvertible(gatewayConfig.routes.count),
            ])
        // The front writes no audit log itself: what it witnesses goes to the keyholder's.
        let forwarder = LinkAuditForwarder(link: link)
        let metrics = GatewayMetrics()
        let catalog = ModelCatalog(routes: gatewayConfig.routes)
        let accounting = Accounting(
            policy: gatewayConfig.accounting, catalog: catalog, ledger: link, failOpen: gatewayConfig.state.failOpen,
            logger: Logger(label: "gatehouse.accounting"))
        let gateway = Gateway(
            credentials: credentials, catalog: catalog, egress: link,
            limits: .init(maxBodyBytes: gatewayConfig.maxBodyBytes), logger: Logger(label: "gatehouse.request"),
            audit: forwarder, metrics: metrics,
            extraMetrics: {
                let keyholder = try? await link.fetchMetrics()
                return MetricsText.gauge(
                    "gatehouse_keyholder_up", help: "Whether the keyholder answered this scrape.",
                    keyholder == nil ? 0 : 1)
                    + MetricsText.gauge(
                        "gatehouse_audit_front_queue", help: "Audit records the front holds for the keyholder.",
                        Int64(forwarder.pending))
                    + (keyholder ?? "")
            }, cooldown: gatewayConfig.cooldown, backoff: gatewayConfig.backoff,
            guardrails: GuardrailSettings(
                policies: gatewayConfig.guardrailPolicies, defaultPolicy: gatewayConfig.defaultGuardrails,
                byModel: gatewayConfig.modelGuardrails), accounting: accounting)
        let sandboxed = !unsandboxed
        let unixSocket = listenUnix
        if let unixSocket { try? FileManager.default.removeItem(atPath: unixSocket) }
        let app = GatewayApplication.make(
            gateway: gateway, host: listenHost, port: listenPort, unixSocket: unixSocket, logger: logger
        ) { boundPort in
            if sandboxed {
                // The listener is bound; from here on no thread of this process can open a network socket.
                let result = gatehouse_sandbox_deny_network_sockets()
                guard result == 0 else {
                    logger.critical(
                        "cannot install the sandbox; stopping",
                        metadata: ["gatehouse.errno": .stringConvertible(-result)])
                    Glibc.exit(1)
                }
                logger.info("sandbox on: the front can no longer open network sockets or read keys")
            }
            #if GATEHOUSE_ATTACK_HOOK
                AttackHook.runIfRequested(link: link, statePath: state.url.path)
            #endif
            if let unixSocket {
                Console.line("gatehouse serve listening on unix:\(unixSocket)")
            } else {
                Console.line("gatehouse serve listening on http://\(listenHost):\(boundPort)")
            }
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: credentials), .init(service: AuditForwarding(forwarder: forwarder)),
                    .init(service: SandboxWatch(audit: forwarder, metrics: metrics, logger: logger)),
                    .init(service: HeapTrimService()), .init(service: AccountingLeases(accounting: accounting)),
                    .init(service: app),
                ], gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [],
                logger: logger))
        if egressSecretStdin {
            // Our standard input is held by the supervisor: when it closes, the supervisor is gone.
            Task {
                await EgressCommand.waitForEOF()
                await group.triggerGracefulShutdown()
            }
        }
        try await group.run()
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
        let level =
            ProcessInfo.processInfo.environment["GATEHOUSE_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}
