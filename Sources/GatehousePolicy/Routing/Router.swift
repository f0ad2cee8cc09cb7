import GatehouseCore
import Synchronization

/// Chooses a deployment for each attempt and keeps every deployment's health.
///
/// One lock guards the health of all deployments; it is held for a choice or an outcome,
/// never across an await. Health is per deployment of a model and lives in this process:
/// each gateway instance learns its upstreams' health by itself.
public final class Router: Sendable {
    public typealias Instant = ContinuousClock.Instant

    /// The deployment picked for an attempt.
    public struct Choice: Sendable, Equatable {
        /// Index into the model's `deployments`.
        public var index: Int
        public var slot: Int
        /// The half-open deployment's probe.
        public var isProbe: Bool
        /// Every deployment was down: this one failed least recently, and is tried rather than refusing.
        public var isForced: Bool
    }

    /// What the routes view shows of one deployment.
    public struct Status: Sendable, Equatable {
        public enum State: String, Sendable {
            case healthy
            case coolingDown = "cooling_down"
            case unhealthy
            case halfOpen = "half_open"
        }
        public var state: State
        /// When a cooldown (or an unhealthy spell) ends.
        public var until: Instant?
        /// Not asked before this (the provider's retry-after).
        public var notBefore: Instant?
        public var inFlight: Int
        /// Decaying average time to first byte, in milliseconds (nil before a first answer).
        public var latencyMilliseconds: Double?
        /// The code of the last failure.
        public var lastError: String?
    }

    /// What changed a deployment's state, for the metrics.
    public typealias Transition = DeploymentHealth.Transition

    public let policy: CooldownPolicy

    private struct State {
        var health: [DeploymentHealth]
        var random: SplitMix64
    }
    private let state: Mutex<State>

    public init(slots: Int, policy: CooldownPolicy = CooldownPolicy(), seed: UInt64? = nil) {
        self.policy = policy
        var system = SystemRandomNumberGenerator()
        let random = SplitMix64(seed: seed ?? system.next())
        state = Mutex(State(health: Array(repeating: DeploymentHealth(), count: slots), random: random))
    }

    /// Picks the deployment for the next attempt of `route` and counts it in flight, or `nil`
    /// when none may be asked. `tried` are the slots this request already asked. Untried
    /// available deployments come first, then tried ones again; when every deployment is down
    /// and this is the model's first attempt, the least recently failed one is tried anyway.
    public func choose(
        in route: ModelRoute, tried: [Int], isFirstAttempt: Bool, skipping: [Int] = [], at now: Instant = .now
    ) -> Choice? {
        state.withLock { state in
            var fresh: [(index: Int, probe: Bool)] = []
            var again: [(index: Int, probe: Bool)] = []
            for (index, deployment) in route.deployments.enumerated() where !skipping.contains(deployment.slot) {
                let availability = state.health[deployment.slot].availability(at: now)
                guard availability != .closed else { continue }
                let candidate = (index, availability == .probe)
                if tried.contains(deployment.slot) { again.append(candidate) } else { fresh.append(candidate) }
            }
            let candidates = fresh.isEmpty ? again : fresh
            if !candidates.isEmpty {
                let pick = Self.pick(candidates.map(\.index), in: route, state: &state, at: now)
                let probe = candidates.first { $0.index == pick }?.probe ?? false
                let slot = route.deployments[pick].slot
                state.health[slot].started(probe: probe)
                return Choice(index: pick, slot: slot, isProbe: probe, isForced: false)
            }
            guard isFirstAttempt, skipping.isEmpty, !route.deployments.isEmpty else { return nil }
            let forced =
                route.deployments.indices.min { a, b in
                    let first = state.health[route.deployments[a].slot].lastFailure
                    let second = state.health[route.deployments[b].slot].lastFailure
                    switch (first, second) {
                    case (nil, _): return second != nil || a < b
                    case (_, nil): return false
                    case (let x?, let y?): return x < y
                    }
                } ?? 0
            let slot = route.deployments[forced].slot
            state.health[slot].started(probe: false)
            return Choice(index: forced, slot: slot, isProbe: false, isForced: true)
        }
    }

    /// The strategy's pick among candidate indices (at least one).
    private static func pick(_ candidates: [Int], in route: ModelRoute, state: inout State, at now: Instant) -> Int {
        guard candidates.count > 1 else { return candidates[0] }
        switch route.strategy {
        case .ordered:
            return candidates[0]
        case .weighted:
            return weighted(candidates, in: route, random: &state.random)
        case .leastBusy:
            let least = candidates.map { state.health[route.deployments[$0].slot].inFlight }.min() ?? 0
            let idlest = candidates.filter { state.health[route.deployments[$0].slot].inFlight == least }
            return idlest[Int(state.random.next() % UInt64(idlest.count))]
        case .latency:
            // Power of two choices: one fast deployment does not take all the load, and an idle
            // one, whose average decays, is drawn and measured again.
            let first = Int(state.random.next() % UInt64(candidates.count))
            var second = Int(state.random.next() % UInt64(candidates.count - 1))
            if second >= first { second += 1 }
            let a = state.health[route.deployments[candidates[first]].slot].decayedLatency(at: now)
            let b = state.health[route.deployments[candidates[second]].slot].decayedLatency(at: now)
            return a <= b ? candidates[first] : candidates[second]
        case .cost:
            let rank = { (index: Int) in route.deployments[index].costRank ?? Int.max }
            let cheapest = candidates.map(rank).min() ?? Int.max
            return weighted(candidates.filter { rank($0) == cheapest }, in: route, random: &state.random)
        }
    }

    private static func weighted(_ candidates: [Int], in route: ModelRoute, random: inout SplitMix64) -> Int {
        let total = candidates.reduce(0) { $0 + route.deployments[$1].weight }
        var draw = Int(random.next() % UInt64(max(1, total)))
        for index in candidates {
            draw -= route.deployments[index].weight
            if draw < 0 { return index }
        }
        return candidates[candidates.count - 1]
    }

    // MARK: Outcomes

    /// The attempt was answered (for a stream: its first chunk arrived).
    @discardableResult
    public func succeeded(slot: Int, firstByte: Duration?, at now: Instant = .now) -> Transition? {
        state.withLock { $0.health[slot].succeeded(firstByte: firstByte, at: now) }
    }

    /// The attempt failed as `failure` says, with the error's code and the provider's retry-after.
    @discardableResult
    public func failed(
        slot: Int, failure: AttemptFailure, code: String, retryAfter: Duration?, at now: Instant = .now
    ) -> Transition? {
        state.withLock { state in
            switch failure {
            case .retriable:
                return state.health[slot].failed(code: code, retryAfter: retryAfter, at: now, policy: policy)
            case .credentialsRefused:
                return state.health[slot].refusedCredentials(code: code, at: now, policy: policy)
            case .transient, .contextWindow, .final:
                state.health[slot].ended()
                return nil
            }
        }
    }

    /// The attempt ended saying nothing about the deployment (the caller went away).
    public func ended(slot: Int) {
        state.withLock { $0.health[slot].ended() }
    }

    /// A draw in 0..<1 (for backoff jitter), from the router's generator.
    public func unitDraw() -> Double {
        state.withLock { Double($0.random.next() >> 11) / Double(1 << 53) }
    }

    public func status(slot: Int, at now: Instant = .now) -> Status {
        state.withLock { state in
            _ = state.health[slot].availability(at: now)
            let health = state.health[slot]
            let latency = health.latency.map { _ in health.decayedLatency(at: now) * 1000 }
            let kind: Status.State
            var until: Instant?
            switch health.state {
            case .healthy: kind = .healthy
            case .coolingDown(let end):
                kind = .coolingDown
                until = end
            case .unhealthy(let end):
                kind = .unhealthy
                until = end
            case .halfOpen: kind = .halfOpen
            }
            let notBefore = health.notBefore.flatMap { $0 > now ? $0 : nil }
            return Status(
                state: kind, until: until, notBefore: notBefore, inFlight: health.inFlight,
                latencyMilliseconds: latency,
                lastError: health.lastError)
        }
    }
}

/// A small, fast generator for load-balancing draws (not for secrets): SplitMix64.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
