import Synchronization

/// What one limit is, as the ledger knows it: a budget in a period, or a rate window.
public enum LimitCounter: Sendable, Hashable {
    /// Nanodollars of `key` in `period` (a ``BudgetPeriod`` label), at most `limit`.
    case budget(key: String, period: String, limit: Int64)
    /// Units (requests or tokens) of `key` per minute, at most `limit`.
    case rate(key: String, limit: Int64)

    public var key: String {
        switch self {
        case .budget(let key, let period, _): key + "@" + period
        case .rate(let key, _): key
        }
    }
}

/// The instance's local share of each limit: units leased from the ledger and not yet used.
///
/// A request takes its units here without a round trip while the lease covers them; only a
/// shortfall asks the ledger for more. Units a request did not use (a reservation larger than
/// the cost) come back to the lease; a lease that outlives its time, and anything credited
/// after that, is handed back to the ledger by ``sweep(now:)``. A negative balance is a debt
/// (a request cost more than it reserved) that the next lease pays first.
public final class LocalAllowances: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public struct Lease: Sendable, Equatable {
        public var counter: LimitCounter
        /// Units on hand (negative: owed).
        public var units: Int64
        public var expires: Instant
        /// What the ledger said was left besides this lease when it granted it.
        public var remainingElsewhere: Int64
        /// When the whole limit is available again (rates) or the period ends, as the ledger said.
        public var resetAt: Instant?
    }

    private struct State {
        var leases: [String: Lease] = [:]
        /// Units to hand back (or, negative, to charge) for leases no longer held.
        var returns: [String: (counter: LimitCounter, units: Int64)] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Takes `units` from the lease if it has them; returns the lease after the take.
    public func take(_ counter: LimitCounter, units: Int64, now: Instant) -> Lease? {
        state.withLock { state in
            guard var lease = state.leases[counter.key], lease.counter == counter, lease.expires > now,
                lease.units >= units
            else { return nil }
            lease.units -= units
            state.leases[counter.key] = lease
            return lease
        }
    }

    /// How many units must be leased before `units` can be taken (the debt included).
    public func shortfall(_ counter: LimitCounter, units: Int64, now: Instant) -> Int64 {
        state.withLock { state in
            guard let lease = state.leases[counter.key], lease.counter == counter, lease.expires > now else {
                return units
            }
            return max(0, units - lease.units)
        }
    }

    /// Adds granted units to the lease (renewing it), then takes `units` if it now has them.
    public func grant(
        _ counter: LimitCounter, granted: Int64, take units: Int64, remainingElsewhere: Int64, resetAt: Instant?,
        ttl: Duration, now: Instant
    ) -> Lease? {
        state.withLock { state in
            var lease: Lease
            if let existing = state.leases[counter.key], existing.counter == counter, existing.expires > now {
                lease = existing
                lease.units += granted
            } else {
                // An expired or different lease goes back before this one replaces it.
                if let old = state.leases[counter.key] { Self.queueReturn(old.counter, old.units, in: &state) }
                lease = Lease(counter: counter, units: granted, expires: now, remainingElsewhere: 0, resetAt: nil)
            }
            lease.expires = now + ttl
            lease.remainingElsewhere = remainingElsewhere
            lease.resetAt = resetAt
            guard lease.units >= units else {
                state.leases[counter.key] = lease
                return nil
            }
            lease.units -= units
            state.leases[counter.key] = lease
            return lease
        }
    }

    /// Puts units back (a refused request's, a reservation's unused part) or, negative, charges
    /// what a request used beyond its reservation.
    public func credit(_ counter: LimitCounter, units: Int64) {
        guard units != 0 else { return }
        state.withLock { state in
            if var lease = state.leases[counter.key], lease.counter == counter {
                lease.units += units
                state.leases[counter.key] = lease
            } else {
                Self.queueReturn(counter, units, in: &state)
            }
        }
    }

    private static func queueReturn(_ counter: LimitCounter, _ units: Int64, in state: inout State) {
        guard units != 0 else { return }
        let previous = state.returns[counter.key]?.units ?? 0
        state.returns[counter.key] = (counter, previous + units)
    }

    /// Removes expired leases; returns what to hand back to the ledger (positive) or charge (negative).
    public func sweep(now: Instant) -> [(counter: LimitCounter, units: Int64)] {
        state.withLock { state in
            for (key, lease) in state.leases where lease.expires <= now {
                state.leases[key] = nil
                Self.queueReturn(lease.counter, lease.units, in: &state)
            }
            let out = state.returns.values.map { ($0.counter, $0.units) }
            state.returns = [:]
            return out
        }
    }

    /// Gives up every lease (at shutdown).
    public func drainAll() -> [(counter: LimitCounter, units: Int64)] {
        state.withLock { state in
            for lease in state.leases.values { Self.queueReturn(lease.counter, lease.units, in: &state) }
            state.leases = [:]
            let out = state.returns.values.map { ($0.counter, $0.units) }
            state.returns = [:]
            return out
        }
    }

    /// Puts back returns the ledger could not take (it was unreachable), to try again later.
    public func requeue(_ items: [(counter: LimitCounter, units: Int64)]) {
        state.withLock { state in
            for item in items { Self.queueReturn(item.counter, item.units, in: &state) }
        }
    }
}
