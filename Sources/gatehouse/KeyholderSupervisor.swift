import Foundation
import GatehouseLink
import Logging
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// Starts `gatehouse egress` as a child process and keeps it running: restarts it if it
/// dies, and stops it when the front stops (closing its standard input, then SIGTERM).
///
/// The child inherits the front's environment as it was at start (so a
/// `GATEHOUSE_MASTER_KEY` reaches the keyholder without the front ever reading it) and
/// receives the link secret on its standard input, never in arguments or the environment.
final class KeyholderSupervisor: Service, @unchecked Sendable {
    let executable: String
    let arguments: [String]
    let secret: [UInt8]
    let link: KeyholderLink
    let logger: Logger
    private let lock = NSLock()
    private var child: ChildProcess?
    private var stopping = false

    init(executable: String, arguments: [String], secret: [UInt8], link: KeyholderLink, logger: Logger) {
        self.executable = executable
        self.arguments = arguments
        self.secret = secret
        self.link = link
        self.logger = logger
    }

    /// Starts the keyholder and waits until it accepts the link secret.
    func start() async throws {
        try launch()
        for _ in 0..<200 {
            if await link.probe() { return }
            if let child = lock.withLock({ child }), child.hasExited {
                throw StartupError("the keyholder (gatehouse egress) exited during start; see the messages above")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw StartupError("the keyholder (gatehouse egress) did not start within 10 s")
    }

    private func launch() throws {
        let process = try ChildProcess.spawn(executable: executable, arguments: arguments)
        process.writeLine(LinkSecret.hex(secret))
        lock.withLock { child = process }
    }

    func run() async throws {
        var backoff = Duration.milliseconds(100)
        while true {
            guard let current = lock.withLock({ child }) else { return }
            let status: Int32? = await withTaskGroup(of: Int32?.self) { group in
                group.addTask { await current.waitForExit() }
                group.addTask {
                    // On shutdown (or cancellation) stop the child; its exit then ends the other task.
                    try? await gracefulShutdown()
                    guard !Task.isCancelled else { return nil }
                    self.stop()
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            if lock.withLock({ stopping }) || Task.isCancelled { break }
            logger.error(
                "keyholder exited unexpectedly; restarting",
                metadata: ["gatehouse.egress.exit_status": .stringConvertible(status ?? -1)])
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
            do {
                try launch()
            } catch {
                logger.error("keyholder restart failed", metadata: ["gatehouse.error": .string("\(error)")])
            }
        }
        stop()
    }

    /// Asks the child to stop and waits briefly.
    func stop() {
        let current = lock.withLock {
            stopping = true
            return child
        }
        guard let current, !current.hasExited else { return }
        current.closeInput()
        current.terminate(after: .seconds(5))
    }
}

/// A child process started with `posix_spawn`, inheriting `environ` untouched.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private let input: Int32
    private let lock = NSLock()
    private var exitStatus: Int32?
    private var waiters: [CheckedContinuation<Int32, Never>] = []

    private init(pid: pid_t, input: Int32) {
        self.pid = pid
        self.input = input
    }

    static func spawn(executable: String, arguments: [String]) throws -> ChildProcess {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw StartupError("cannot create a pipe for the keyholder") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[0], 0)
        posix_spawn_file_actions_adddup2(&actions, 2, 1)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[1])
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(pipeEnds[0])
        guard result == 0 else {
            close(pipeEnds[1])
            throw StartupError("cannot start the keyholder \(executable): \(String(cString: strerror(result)))")
        }
        _ = fcntl(pipeEnds[1], F_SETFD, FD_CLOEXEC)
        let childPID = pid
        let child = ChildProcess(pid: childPID, input: pipeEnds[1])
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(childPID, &status, 0) == -1 && errno == EINTR {}
            child.exited(status)
        }
        return child
    }

    var hasExited: Bool { lock.withLock { exitStatus != nil } }

    func writeLine(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
    }

    func closeInput() { close(input) }

    func terminate(after grace: Duration) {
        let deadline = ContinuousClock.now + grace
        while !hasExited && ContinuousClock.now < deadline { usleep(20_000) }
        if !hasExited { kill(pid, SIGKILL) }
    }

    private func exited(_ status: Int32) {
        let continuations = lock.withLock {
            exitStatus = status
            defer { waiters = [] }
            return waiters
        }
        continuations.forEach { $0.resume(returning: status) }
    }

    /// Waits until the child exits; returns its wait status.
    func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            let status: Int32? = lock.withLock {
                if let exitStatus { return exitStatus }
                waiters.append(continuation)
                return nil
            }
            if let status { continuation.resume(returning: status) }
        }
    }
}
