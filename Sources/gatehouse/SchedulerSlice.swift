import CGatehouseSandbox
import Logging
import NIOCore
import NIOPosix

/// Asks the kernel for short scheduler slices on the event-loop threads of the front and the
/// keyholder (`server.scheduler_slice_us`, 100 µs unless configured).
///
/// Each request wakes a loop in both processes on its way out and again on its way back, and on
/// busy cores Linux's EEVDF scheduler makes a woken thread wait out the running one's slice, in
/// the caller's latency; a shorter slice lets it run sooner without changing its share of the CPU
/// (figures: bench/HISTORY.md). Kernels before 6.12 ignore the request; a thread the operator gave
/// a real-time or idle policy keeps it.
enum SchedulerSlice {
    static func request(microseconds: Int, logger: Logger) {
        guard microseconds > 0 else { return }
        let nanoseconds = CUnsignedLongLong(microseconds) * 1_000
        for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
            loop.execute {
                switch gatehouse_request_scheduler_slice(nanoseconds) {
                case 0: break
                case 1: logger.debug("event-loop thread has a scheduling policy of its own; its slice is left alone")
                case let failure:
                    logger.notice("the kernel refused a shorter scheduler slice", metadata: ["gatehouse.errno": "\(-failure)"])
                }
            }
        }
    }
}
