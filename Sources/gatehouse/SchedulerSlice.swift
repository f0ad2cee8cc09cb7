import CGatehouseSandbox
import Logging
import NIOCore
import NIOPosix

/// Asks the kernel for short scheduler slices on the event-loop threads of the front and the
/// keyholder (`server.scheduler_slice_us`, 100 µs unless configured).
///
/// Each request wakes a loop in both processes on its way out and again on its way back. On a
/// machine whose cores are busy (with the load generator and the provider simulator, in the
/// benchmark; with other services, in production), Linux's EEVDF scheduler lets the running
/// thread finish its slice (1.4 ms here) before a woken one runs, and each wait lands in the
/// caller's latency. A thread with a shorter slice gets an earlier deadline when it wakes and
/// runs sooner; its share of the CPU stays what it was. Measured on 2 cores at 1,000 req/s with
/// the benchmark's open-loop client (`bench/loadgen.py rate`), three runs each: added latency at
/// the median +0.12–0.13 ms against +0.22–0.30 ms without, at p99 +0.76–0.98 against +1.43–1.52
/// ms; throughput under `wrk` unchanged. Kernels before 6.12 ignore the request; a thread the
/// operator gave a real-time or idle policy keeps it.
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
