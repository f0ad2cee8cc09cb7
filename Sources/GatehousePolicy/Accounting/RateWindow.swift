/// A rate limit as the generic cell rate algorithm (GCRA): `limit` units per `window`, with a
/// burst of the whole limit. One value of state, the theoretical arrival time (TAT); no
/// counter that resets at a boundary, so there is no fixed-window burst at the edge of a minute.
///
/// Units are requests for an RPM limit and tokens for a TPM limit. Leases take several units at
/// once: the ledger advances the shared TAT for a whole lease, and the instance spends the lease
/// locally. Over any interval of length `t`, at most `limit + t / interval` units are granted
/// (the burst, then the steady rate).
public struct RateWindow: Sendable, Equatable {
    public let limit: Int64
    /// The window, in nanoseconds (a minute for RPM and TPM).
    public let window: Int64

    public init(limit: Int64, window: Int64 = 60_000_000_000) {
        self.limit = max(1, limit)
        self.window = max(1, window)
    }

    /// The time one unit takes to come back, in nanoseconds.
    public var interval: Int64 { max(1, window / limit) }
    /// How far ahead of now the TAT may run: the burst.
    var tolerance: Int64 { window - interval }

    /// What a lease of up to `units` gets at `now` (nanoseconds on the ledger's clock).
    public struct Grant: Sendable, Equatable {
        /// Units granted (0 when the limit is reached).
        public var granted: Int64
        /// The state after the grant.
        public var tat: Int64
        /// Units still available at once after the grant.
        public var remaining: Int64
        /// Nanoseconds until the next unit is available (0 when some are).
        public var retryAfter: Int64
        /// Nanoseconds until the whole limit is available again.
        public var reset: Int64
    }

    /// Grants as many of `units` as conform, up to all of them.
    public func grant(_ units: Int64, tat: Int64, now: Int64) -> Grant {
        let start = max(tat, now)
        let headroom = now &+ tolerance &- start
        let available = headroom < 0 ? 0 : headroom / interval + 1
        let granted = max(0, min(units, available))
        let newTAT = start &+ granted &* interval
        return Grant(
            granted: granted, tat: newTAT, remaining: max(0, available - granted),
            retryAfter: available - granted > 0 ? 0 : max(1, newTAT &- tolerance &- now),
            reset: max(0, newTAT &- now))
    }

    /// Gives back `units` of a lease that were not used.
    public func giveBack(_ units: Int64, tat: Int64, now: Int64) -> Int64 {
        max(now, tat &- max(0, units) &* interval)
    }
}
