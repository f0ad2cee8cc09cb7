import Foundation
import GatehouseCore
import GatehouseLink
import GatehouseSecurity
import GatehouseServer
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// What `gatehouse serve` runs by default: a small supervisor that starts the keyholder
/// (`gatehouse egress`) and the front (`gatehouse serve --egress-socket …`) as two child
/// processes joined by a Unix socket, restarts either if it dies, and stops both on
/// SIGTERM/SIGINT (the front first, so in-flight requests finish).
///
/// The supervisor itself reads no key: the keyholder inherits the environment as it was
/// (a `GATEHOUSE_MASTER_KEY` reaches it untouched), then the supervisor wipes
/// secret-looking variables before starting the front, which never sees them. The front
/// starts no process and, once listening, cannot open network sockets (seccomp).
struct Supervisor {
    let config: String?
    let host: String?
    let port: Int?
    let stateOption: String?
    let unsandboxed: Bool
    let logger: Logger

    func run() async throws {
        // The supervisor's only network work is probing the keyholder's link: one event loop.
        EventLoops.setCount(1)
        let executable = try Self.executablePath()
        let environment = ProcessEnvironment.safeVariables()
        let state = stateOption.map(StateDirectory.init(path:)) ?? StateDirectory.resolveDefault(environment: environment)
        try state.prepare()
        // The front's sandbox is granted these directories at start, so they must exist before it.
        try state.prepareRevocations()
        let runDirectory = state.url.appendingPathComponent("run", isDirectory: true)
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])

        var simulator: ChildProcess?
        let configPath: String
        if let config {
            do {
                _ = try GatewayConfig.load(file: config, environment: environment)
            } catch let error as GatewayConfig.LoadError {
                throw StartupError("configuration error: \(error)")
            }
            configPath = config
        } else {
            let (child, port) = try await Self.startSimulator(executable: executable)
            simulator = child
            let configURL = runDirectory.appendingPathComponent("quickstart.yaml")
            try Data(Quickstart.configuration(port: port).utf8).write(to: configURL, options: .atomic)
            configPath = configURL.path
        }

        let secret = LinkSecret.generate()
        let socketPath = runDirectory.appendingPathComponent("egress-\(getpid()).sock").path
        let link = KeyholderLink(socketPath: socketPath, secret: secret)
        var egressArguments = ["egress", "--socket", socketPath, "--config", configPath, "--secret-stdin", "--state", state.url.path]
        if config == nil { egressArguments += ["--ensure-key", Quickstart.keyName] }
        let startKeyholder = { (previousExit: Int32?) async throws -> ChildProcess in
            let arguments = egressArguments + (previousExit.map { ["--previous-exit", String($0)] } ?? [])
            let child = try ChildProcess.spawn(name: "keyholder", executable: executable, arguments: arguments)
            child.writeLine(LinkSecret.hex(secret))
            for _ in 0..<200 {
                if await link.probe() { return child }
                if child.hasExited { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            await child.stop(grace: .seconds(1))
            throw StartupError("the keyholder (gatehouse egress) did not start; see the messages above")
        }
        var keyholder: ChildProcess
        do {
            keyholder = try await startKeyholder(nil)
        } catch {
            await simulator?.stop(grace: .seconds(1))
            throw error
        }

        // The keyholder has what it needs: nothing secret-looking is passed on to the front.
        let scrubbed = ProcessEnvironment.scrub()
        if !scrubbed.isEmpty {
            logger.notice(
                "removed secret-looking variables before starting the front",
                metadata: ["gatehouse.env.removed": .string(scrubbed.joined(separator: ","))])
        }
        var welcome: Quickstart.Welcome?
        if config == nil {
            welcome = try Quickstart.mintToken(executable: executable, state: state)
        }

        var frontArguments = ["serve", "--config", configPath, "--state", state.url.path, "--egress-socket", socketPath, "--egress-secret-stdin"]
        if let host { frontArguments += ["--host", host] }
        if let port { frontArguments += ["--port", String(port)] }
        if unsandboxed { frontArguments.append("--unsandboxed") }
        let announce = welcome
        let startFront = { () throws -> ChildProcess in
            let child = try ChildProcess.spawn(name: "front", executable: executable, arguments: frontArguments, captureOutput: true)
            child.writeLine(LinkSecret.hex(secret))
            if let lines = child.lines {
                Task {
                    for await line in lines {
                        Console.line(line)
                        if let announce, line.hasPrefix("gatehouse serve listening on "),
                            let url = line.split(separator: " ").last
                        {
                            announce.print(url: String(url))
                        }
                    }
                }
            }
            return child
        }
        var front = try startFront()
        var frontStarted = ContinuousClock.now
        var keyholderStarted = ContinuousClock.now
        var backoff = Duration.milliseconds(100)

        let signals = SignalLatch.termination()
        enum Event { case frontExited(Int32), keyholderExited(Int32), signal }
        while true {
            let currentFront = front
            let currentKeyholder = keyholder
            let event: Event = await withTaskGroup(of: Event?.self) { group in
                group.addTask { await currentFront.waitForExit().map(Event.frontExited) }
                group.addTask { await currentKeyholder.waitForExit().map(Event.keyholderExited) }
                group.addTask { await signals.wait() ? .signal : nil }
                var first: Event?
                while first == nil, let next = await group.next() { first = next }
                group.cancelAll()
                return first ?? .signal
            }
            switch event {
            case .signal:
                logger.info("stopping: front first, then the keyholder")
                currentFront.signal(SIGTERM)
                await currentFront.stop(grace: .seconds(35))
                await currentKeyholder.stop(grace: .seconds(5))
                await simulator?.stop(grace: .seconds(2))
                return
            case .frontExited(let status):
                if ContinuousClock.now - frontStarted < .seconds(2) {
                    await currentKeyholder.stop(grace: .seconds(5))
                    await simulator?.stop(grace: .seconds(2))
                    throw StartupError("the front exited during start (status \(status)); see the messages above")
                }
                logger.error("the front exited unexpectedly; restarting", metadata: ["gatehouse.exit_status": .stringConvertible(status)])
                try await Task.sleep(for: backoff)
                front = try startFront()
                frontStarted = .now
            case .keyholderExited(let status):
                logger.error("the keyholder exited unexpectedly; restarting", metadata: ["gatehouse.exit_status": .stringConvertible(status)])
                if ContinuousClock.now - keyholderStarted < .seconds(2) { backoff = min(backoff * 2, .seconds(5)) }
                try await Task.sleep(for: backoff)
                keyholder = try await startKeyholder(status)
                keyholderStarted = .now
            }
        }
    }

    /// Starts `gatehouse simulate` on a free loopback port and returns it with the port.
    static func startSimulator(executable: String) async throws -> (ChildProcess, Int) {
        let child = try ChildProcess.spawn(
            name: "simulator", executable: executable, arguments: ["simulate", "--host", "127.0.0.1", "--port", "0"],
            captureOutput: true)
        guard let lines = child.lines else { throw StartupError("the built-in simulator did not start") }
        let port: Int? = try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                for await line in lines {
                    if line.hasPrefix("gatehouse simulate listening on "), let colon = line.lastIndex(of: ":"),
                        let port = Int(line[line.index(after: colon)...])
                    {
                        return port
                    }
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let port else {
            await child.stop(grace: .seconds(1))
            throw StartupError("the built-in simulator did not start")
        }
        return (child, port)
    }

    /// This binary's path, so every part runs the same code.
    static func executablePath() throws -> String {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            throw StartupError("cannot find this executable's path (/proc/self/exe)")
        }
        return path
    }
}

/// Remembers that SIGTERM or SIGINT arrived; any number of tasks can wait for it.
final class SignalLatch: @unchecked Sendable {
    private let lock = NSLock()
    private var fired = false
    private var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
    private var nextID: UInt64 = 0

    static func termination() -> SignalLatch {
        let latch = SignalLatch()
        for signalNumber in [SIGTERM, SIGINT] {
            Glibc.signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber)
            source.setEventHandler { latch.fire() }
            source.resume()
            SignalSources.keep(source)
        }
        return latch
    }

    func fire() {
        let continuations = lock.withLock {
            fired = true
            defer { waiters = [:] }
            return waiters
        }
        continuations.values.forEach { $0.resume(returning: true) }
    }

    /// True when the signal arrived; false if the waiting task was cancelled first.
    func wait() async -> Bool {
        let id = lock.withLock {
            nextID += 1
            return nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = lock.withLock {
                    if fired { return true }
                    if Task.isCancelled { return false }
                    waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let continuation = lock.withLock { waiters.removeValue(forKey: id) }
            continuation?.resume(returning: false)
        }
    }
}
