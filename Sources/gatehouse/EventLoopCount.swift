import NIOCore

/// How many event-loop threads the front and the keyholder each run (`server.event_loops`).
///
/// Every request passes through both processes, which do about the same work for it, so by
/// default each takes half the cores (at least one): on 2 cores one loop each, where NIO's
/// default gave each as many loops as cores, four busy threads for two cores. Measured on this
/// 2-core machine under `wrk` at 64 connections, alternating builds: 1.45–1.56 context switches
/// per request across the three processes against 1.84–2.02, and 0.148–0.158 ms of CPU per
/// request against 0.158–0.172 (four pairs). Latency at 1,000 req/s did not differ beyond the
/// machine's noise. Must run before anything uses NIO's shared event-loop group.
enum EventLoopCount {
    static func apply(configured: Int) {
        NIOSingletons.groupLoopCountSuggestion = configured > 0 ? configured : max(1, System.coreCount / 2)
    }
}
