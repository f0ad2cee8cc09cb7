import GatehouseServer
import Logging
import NIOCore

/// How many event-loop threads the front and the keyholder each run (`server.event_loops`).
///
/// Every request passes through both processes, which do about the same work for it, so by
/// default each takes half the cores (at least one): on 2 cores one loop each, where NIO's
/// default gave each as many loops as cores, four busy threads for two cores. Measured on this
/// 2-core machine, alternating builds (the load generator and the simulator on the same cores):
/// - `wrk`, 64 connections: 1.45–1.56 context switches per request across the three processes
///   against 1.84–2.02, and 0.148–0.158 ms of CPU per request against 0.158–0.172 (four pairs);
/// - one connection, closed loop: slower in four pairs of five (1,108–1,261 req/s against
///   1,212–1,296);
/// - 1,000 req/s, open loop: added latency no different beyond the machine's noise.
/// An earlier round measured the same and kept NIO's default for the one-connection case; the
/// throughput target that is missed is at 64 connections, and the one-connection ratio has room.
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
