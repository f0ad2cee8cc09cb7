import GatehouseServer
import Logging
import NIOCore

/// How many event-loop threads the front and the keyholder each run (`server.event_loops`).
///
/// Every request passes through both processes, which do about the same work for it, so by
/// default each takes half the cores (at least one): NIO's default of one loop per core put four
/// busy threads on two cores. That costs a little at one connection, where the throughput target
/// has room, for less CPU per request under load (figures: bench/HISTORY.md).
/// Must run before anything uses NIO's shared event-loop group (NIO stops the process otherwise).
enum EventLoops {
    /// The front's or the keyholder's loops as the configuration sets them: their number, then
    /// (on the loops, so after it) their scheduler slice.
    static func configure(_ config: GatewayConfig, logger: Logger) {
        setCount(config.eventLoops)
        SchedulerSlice.request(microseconds: config.schedulerSliceMicroseconds, logger: logger)
    }

    /// `count` loops in NIO's shared group; 0 is half the cores, at least one.
    static func setCount(_ count: Int) {
        NIOSingletons.groupLoopCountSuggestion = count > 0 ? count : max(1, System.coreCount / 2)
    }
}
