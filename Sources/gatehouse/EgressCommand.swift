import ArgumentParser
import Foundation
import GatehouseCore
import GatehouseEgress
import GatehouseLedger
import GatehouseSecurity
import GatehouseServer
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `gatehouse egress`: the keyholder. The only process that unseals provider keys and
/// talks to providers. `gatehouse serve` starts it as a supervised child by default;
/// operators can run it on its own, under another user, for a front with no network.
struct EgressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "egress",
        abstract: "Run the keyholder: unseals provider keys and sends the front's requests to configured providers.",
        discussion: """
            Listens on a Unix socket (created 0600). A connection must come from an allowed user id and present the \
            link secret: a line of 64 hex digits read from --secret-file, or from standard input with --secret-stdin \
            (then the keyholder also exits when standard input closes, which is how `gatehouse serve` ties its \
            child's life to its own).
            """)

    @Option(help: "Unix socket path to listen on.")
    var socket: String

    @Option(help: "The gateway configuration (providers are read from it).")
    var config: String

    @Option(name: .customLong("secret-file"), help: "File holding the link secret (64 hex digits).")
    var secretFile: String?

    @Flag(name: .customLong("secret-stdin"), help: "Read the link secret from standard input; exit when it closes.")
    var secretStdin = false

    @Option(name: .customLong("allow-uid"), help: "Also accept connections from this user id (repeatable).")
    var allowUID: [UInt32] = []

    @Flag(
        name: .customLong("group-socket"),
        help: "Make the socket group-writable (0660), for a front running as another user in the socket's group.")
    var groupSocket = false

    @Option(
        name: .customLong("max-response-bytes"),
        help: "The most bytes of one provider answer passed on (default 256 MiB).")
    var maxResponseBytes: Int?

    @Option(name: .customLong("previous-exit"), help: .hidden)
    var previousExit: Int?

    @Option(name: .customLong("ensure-key"), help: .hidden)
    var ensureKey: String?

    @OptionGroup var stateOptions: StateOptions

    func run() async throws {
        umask(0o077)
        let logger = GatehouseLogging.bootstrap(label: "gatehouse.egress")
        do {
            try await serve(logger: logger)
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("gatehouse egress: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    func serve(logger: Logger) async throws {
        let secret = try LinkSecret.read(
            fromStandardInput: secretStdin, file: secretFile, missing: "give --secret-stdin or --secret-file")

        let environment = ProcessEnvironment.safeVariables()
        let state = stateOptions.resolve()
        let gatewayConfig: GatewayConfig
        do {
            gatewayConfig = try GatewayConfig.load(file: config, environment: environment)
        } catch {
            throw StartupError("configuration error: \(error)")
        }
        EventLoops.configure(gatewayConfig, logger: logger)
        var keyStore: SealedKeyStore?
        let egressTargets = gatewayConfig.providers + gatewayConfig.webhookEndpoints
        if egressTargets.contains(where: { $0.keyName != nil }) || ensureKey != nil
            || gatewayConfig.state.passwordKey != nil
        {
            do {
                // The key-encryption key may come from GATEHOUSE_MASTER_KEY: read it, then wipe it from the environment.
                let kek = try KeyEncryptionKey.load(from: state, environment: ProcessInfo.processInfo.environment)
                keyStore = SealedKeyStore(state: state, kek: kek)
            } catch {
                throw StartupError("cannot load the master key: \(error)")
            }
        }
        ProcessEnvironment.scrub()
        if let ensureKey, let keyStore, (try? keyStore.info(name: ensureKey)) == nil {
            var generator = SystemRandomNumberGenerator()
            let random = (0..<4).map { _ in String(generator.next(), radix: 36) }.joined()
            _ = try keyStore.add(name: ensureKey, secret: Secret(utf8: "sim-quickstart-" + random))
        }
        let endpoints: [ProviderEndpoint]
        let keyholder: Keyholder
        do {
            endpoints = try egressTargets.map { provider in
                try ProviderEndpoint(
                    name: provider.name, kind: provider.kind, baseURL: provider.baseURL, keyName: provider.keyName,
                    caFile: provider.caFile)
            }
            let audit: AuditWriter
            do {
                audit = try AuditWriter.open(state: state, actor: "keyholder")
            } catch {
                throw StartupError("cannot open the audit log: \(error)")
            }
            var limits = Keyholder.Limits()
            if let maxResponseBytes { limits.maxResponseBytes = max(1024, maxResponseBytes) }
            keyholder = try Keyholder(
                endpoints: endpoints, keyStore: keyStore, audit: audit, limits: limits,
                logger: Logger(label: "gatehouse.egress"))
            keyholder.record(
                .configLoaded,
                [
                    "config": .string(config),
                    "providers": .string(endpoints.map { "\($0.name)=\($0.origin)" }.joined(separator: ",")),
                    "config_sha256": .sha256((try? Data(contentsOf: URL(fileURLWithPath: config))) ?? Data()),
                ])
            if let previousExit {
                keyholder.record(.keyholderRestarted, ["previous_exit_status": .int(previousExit)])
            }
        } catch let error as EgressError {
            throw StartupError("\(config): \(error)")
        }
        let ledger: Ledger
        do {
            // The database password is a sealed key like a provider's, unsealed here only.
            let password = try gatewayConfig.state.passwordKey.map { name in
                guard let keyStore else { throw StartupError("state.password_key: no key store") }
                do {
                    return try keyStore.unseal(name: name)
                } catch {
                    throw StartupError("state.password_key: cannot unseal the key '\(name)': \(error)")
                }
            }
            ledger = try LedgerWiring.start(
                gatewayConfig.state, state: state, keyholder: keyholder, password: password,
                logger: Logger(label: "gatehouse.ledger"))
        } catch {
            keyholder.record(.ledgerUnavailable, ["error": .string("\(error)")])
            throw StartupError("cannot open the ledger's store: \(error)")
        }
        let server = KeyholderServer(
            keyholder: keyholder, socketPath: socket, secret: secret, allowedUIDs: Set([getuid()] + allowUID),
            logger: logger, socketMode: groupSocket ? 0o660 : 0o600, ledger: ledger)
        logger.info(
            "keyholder starting",
            metadata: [
                "gatehouse.egress.providers": .string(
                    endpoints.map { "\($0.name)=\($0.origin)" }.joined(separator: ","))
            ])

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await server.run {
                    Console.line("gatehouse egress listening on unix:\(socket)")
                }
            }
            if secretStdin {
                group.addTask {
                    // The supervising front holds our standard input open; when it closes, the front is gone.
                    await Self.waitForEOF()
                    logger.info("standard input closed; keyholder stopping")
                }
            }
            group.addTask {
                // Provider keys rotated with `gatehouse keys rotate` take effect within seconds.
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(2))
                    keyholder.reloadRotatedKeys()
                }
            }
            group.addTask {
                // Provider host names are re-resolved and re-checked every 10 s, off the event loops.
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(10))
                    await keyholder.refreshPinsInBackground()
                }
            }
            group.addTask {
                await HeapTrim.run()
                try Task.checkCancellation()
            }
            group.addTask {
                await Self.waitForSignal()
                logger.info("signal received; keyholder stopping")
            }
            _ = try await group.next()
            group.cancelAll()
        }
        try await keyholder.shutdown()
        ledger.stop()
        try? keyholder.audit?.close()
    }

    /// Returns when standard input reaches end of file, or when cancelled.
    static func waitForEOF() async {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        Thread.detachNewThread {
            while readLine() != nil {}
            continuation.yield()
            continuation.finish()
        }
        for await _ in stream { return }
    }

    /// Returns on SIGTERM or SIGINT, or when cancelled.
    static func waitForSignal() async {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber)
            source.setEventHandler { continuation.yield(signalNumber) }
            source.resume()
            SignalSources.keep(source)
        }
        for await _ in stream { return }
    }
}

/// The link secret: 32 random bytes, shared by the front and the keyholder for one boot.
enum LinkSecret {
    static func generate() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Reads the secret from standard input's first line or from a file, as the options say.
    static func read(fromStandardInput: Bool, file: String?, missing: String) throws -> [UInt8] {
        if fromStandardInput {
            guard let line = readLine(strippingNewline: true), let bytes = parse(line) else {
                throw StartupError("no link secret on standard input")
            }
            return bytes
        }
        guard let file else { throw StartupError(missing) }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
            let bytes = parse(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw StartupError("cannot read a link secret (64 hex digits) from \(file)") }
        return bytes
    }

    static func parse(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count == 64 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: 64, by: 2) {
            guard let byte = UInt8(String(decoding: characters[index..<index + 2], as: UTF8.self), radix: 16) else {
                return nil
            }
            bytes.append(byte)
        }
        return bytes
    }
}

/// Keeps dispatch signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    private static let lock = NSLock()

    static func keep(_ source: any DispatchSourceSignal) {
        lock.withLock { sources.append(source) }
    }
}
