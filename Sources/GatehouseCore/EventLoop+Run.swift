import NIOCore

extension EventLoop {
    /// Runs `body` now when on this loop, else schedules it there.
    @inlinable
    public func run(_ body: @escaping @Sendable () -> Void) {
        if inEventLoop { body() } else { execute(body) }
    }
}
