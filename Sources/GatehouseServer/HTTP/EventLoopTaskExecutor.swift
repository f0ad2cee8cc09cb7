import NIOCore

/// Runs a task's jobs on one event loop. A request's task prefers the loop of the
/// connection it came on, so reading the request, asking the keyholder (over a link
/// connection on the same loop) and writing the answer happen on one thread: no wake-up
/// of another thread anywhere on the path.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
