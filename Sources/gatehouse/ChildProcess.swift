import CGatehouseSandbox
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with `posix_spawn`, inheriting `environ` as it is (so a
/// variable the parent never read passes through without becoming a string in the
/// parent). Its standard input is a pipe the parent holds: closing it tells the child
/// to stop, and the parent's death closes it too. Its standard output is either the
/// parent's standard error or a pipe read line by line.
final class ChildProcess: @unchecked Sendable {
    let name: String
    let pid: pid_t
    private let input: Int32
    private let lock = NSLock()
    private var exitStatus: Int32?
    private var waiters: [UInt64: CheckedContinuation<Int32?, Never>] = [:]
    private var nextWaiter: UInt64 = 0
    /// Lines the child writes to standard output, when captured.
    let lines: AsyncStream<String>?

    private init(name: String, pid: pid_t, input: Int32, lines: AsyncStream<String>?) {
        self.name = name
        self.pid = pid
        self.input = input
        self.lines = lines
    }

    static func spawn(name: String, executable: String, arguments: [String], captureOutput: Bool = false) throws -> ChildProcess {
        var inputPipe: [Int32] = [0, 0]
        var outputPipe: [Int32] = [-1, -1]
        guard gatehouse_pipe_cloexec(&inputPipe) == 0 else { throw StartupError("cannot create a pipe for \(name)") }
        if captureOutput, gatehouse_pipe_cloexec(&outputPipe) != 0 { throw StartupError("cannot create a pipe for \(name)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, captureOutput ? outputPipe[1] : 2, 1)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(inputPipe[0])
        if captureOutput { close(outputPipe[1]) }
        guard result == 0 else {
            close(inputPipe[1])
            if captureOutput { close(outputPipe[0]) }
            throw StartupError("cannot start \(name) (\(executable)): \(String(cString: strerror(result)))")
        }
        var lines: AsyncStream<String>?
        if captureOutput {
            let (stream, continuation) = AsyncStream.makeStream(of: String.self)
            lines = stream
            let handle = FileHandle(fileDescriptor: outputPipe[0], closeOnDealloc: true)
            Thread.detachNewThread {
                var pending = Data()
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    pending.append(chunk)
                    while let newline = pending.firstIndex(of: 10) {
                        continuation.yield(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                        pending.removeSubrange(pending.startIndex...newline)
                    }
                }
                continuation.finish()
            }
        }
        let childPID = pid
        let child = ChildProcess(name: name, pid: childPID, input: inputPipe[1], lines: lines)
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

    func signal(_ number: Int32) {
        if !hasExited { kill(pid, number) }
    }

    /// Closes its input, sends SIGTERM, and kills it if it has not exited within `grace`.
    func stop(grace: Duration) async {
        guard !hasExited else { return }
        closeInput()
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while !hasExited && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if !hasExited { signal(SIGKILL) }
        await waitForExit()
    }

    private func exited(_ status: Int32) {
        let continuations = lock.withLock {
            exitStatus = status
            defer { waiters = [:] }
            return waiters
        }
        continuations.values.forEach { $0.resume(returning: status) }
    }

    /// Waits until the child exits and returns its wait status; `nil` if cancelled first.
    @discardableResult
    func waitForExit() async -> Int32? {
        let id = lock.withLock {
            nextWaiter += 1
            return nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32?, Never>) in
                let status: Int32?? = lock.withLock {
                    if let exitStatus { return .some(exitStatus) }
                    if Task.isCancelled { return .some(nil) }
                    waiters[id] = continuation
                    return .none
                }
                if let status { continuation.resume(returning: status) }
            }
        } onCancel: {
            let continuation = lock.withLock { waiters.removeValue(forKey: id) }
            continuation?.resume(returning: nil)
        }
    }
}
