import Foundation
import GatehouseCore

/// When a deployment is taken out of rotation: after `failures` retriable failures within
/// `window`, for `cooldown`; then one request probes it (half-open).
public struct CooldownPolicy: Sendable, Equatable {
    public var failures: Int
    public var window: Duration
    public var cooldown: Duration

    public init(failures: Int = 3, window: Duration = .seconds(60), cooldown: Duration = .seconds(30)) {
        self.failures = max(1, failures)
        self.window = window
        self.cooldown = cooldown
    }
}

/// One deployment's health as the router sees it: a pure state machine over the outcomes
/// of the attempts sent to it (no clock of its own, no I/O), tested on its own.
///
/// healthy ──(N retriable failures in the window)──▶ cooling down ──(cooldown over)──▶ half-open
/// half-open ──(its one probe succeeds)──▶ healthy;  ──(the probe fails)──▶ cooling down again.
/// A 401/403 (the deployment's key is wrong) makes it unhealthy at once, for a cooldown, then half-open.
public struct DeploymentHealth: Sendable, Equatable {
    public typealias Instant = ContinuousClock.Instant

    public enum State: Sendable, Equatable {
        case healthy
        case coolingDown(until: Instant)
        case unhealthy(until: Instant)
        /// Out of its cooldown; `probing` while the one request that tests it is in flight.
        case halfOpen(probing: Bool)
    }

    /// Whether an attempt may be sent now.
    public enum Availability: Sendable, Equatable {
        case open
        /// Half-open: this attempt would be the probe.
        case probe
        case closed
    }

    /// What an outcome changed, for the metrics.
    public enum Transition: Sendable, Equatable {
        case enteredCooldown
        case markedUnhealthy
        case restored
    }

    public private(set) var state = State.healthy
    /// Times of the retriable failures within the window (at most the policy's `failures`).
    private(set) var failureTimes: [Instant] = []
    /// Not asked again before this (an upstream `retry-after`).
    public private(set) var notBefore: Instant?
    public private(set) var lastFailure: Instant?
    /// The error code of the last failure (a closed set: safe to show and to label).
    public private(set) var lastError: String?
    public private(set) var inFlight = 0
    /// Decaying average time to first byte, in seconds, and when it was last sampled.
    public private(set) var latency: Double?
    private(set) var latencySampled: Instant?

    /// Weight of a new time-to-first-byte sample in the average.
    static let smoothing = 0.3
    /// An average not refreshed for this long reads as half of itself, so that an idle
    /// deployment is tried (and measured) again.
    static let latencyHalfLife = 30.0

    public init() {}

    /// Ends an expired cooldown (to half-open) and says whether an attempt may go now.
    public mutating func availability(at now: Instant) -> Availability {
        switch state {
        case .coolingDown(let until), .unhealthy(let until):
            guard now >= until else { return .closed }
            state = .halfOpen(probing: false)
        case .halfOpen, .healthy: break
        }
        if let notBefore, now < notBefore { return .closed }
        switch state {
        case .healthy: return .open
        case .halfOpen(let probing): return probing ? .closed : .probe
        case .coolingDown, .unhealthy: return .closed
        }
    }

    /// Whether it is out of rotation (cooling down, unhealthy, or half-open with its probe out).
    public var isDown: Bool {
        switch state {
        case .healthy: return false
        case .halfOpen(let probing): return probing
        case .coolingDown, .unhealthy: return true
        }
    }

    /// An attempt was sent (as the half-open probe when `probe`).
    public mutating func started(probe: Bool) {
        inFlight += 1
        if probe { state = .halfOpen(probing: true) }
    }

    /// The attempt got an answer: the deployment is healthy, its failures forgotten.
    public mutating func succeeded(firstByte: Duration?, at now: Instant) -> Transition? {
        inFlight = max(0, inFlight - 1)
        if let firstByte {
            let sample = Double(firstByte.components.seconds) + Double(firstByte.components.attoseconds) / 1e18
            let previous = decayedLatency(at: now)
            latency = latency == nil ? sample : previous + Self.smoothing * (sample - previous)
            latencySampled = now
        }
        failureTimes.removeAll()
        let wasDown = state != .healthy
        state = .healthy
        return wasDown ? .restored : nil
    }

    /// A retriable failure (connection, timeout, 429, 5xx, malformed answer). `retryAfter`
    /// keeps it from being asked before then, whatever its state.
    public mutating func failed(code: String, retryAfter: Duration?, at now: Instant, policy: CooldownPolicy)
        -> Transition?
    {
        inFlight = max(0, inFlight - 1)
        lastFailure = now
        lastError = code
        if let retryAfter { notBefore = max(notBefore ?? now, now + retryAfter) }
        if case .halfOpen = state {
            state = .coolingDown(until: now + policy.cooldown)
            failureTimes.removeAll()
            return .enteredCooldown
        }
        guard state == .healthy else { return nil }
        failureTimes.removeAll { $0 <= now - policy.window }
        failureTimes.append(now)
        guard failureTimes.count >= policy.failures else { return nil }
        failureTimes.removeAll()
        state = .coolingDown(until: now + policy.cooldown)
        return .enteredCooldown
    }

    /// The provider refused the deployment's credentials: out at once, for a cooldown.
    public mutating func refusedCredentials(code: String, at now: Instant, policy: CooldownPolicy) -> Transition {
        inFlight = max(0, inFlight - 1)
        lastFailure = now
        lastError = code
        failureTimes.removeAll()
        state = .unhealthy(until: now + policy.cooldown)
        return .markedUnhealthy
    }

    /// The attempt ended in a way that says nothing about the deployment (the caller's own
    /// mistake, or the caller went away). A probe's turn passes to the next request.
    public mutating func ended() {
        inFlight = max(0, inFlight - 1)
        if state == .halfOpen(probing: true) { state = .halfOpen(probing: false) }
    }

    /// The average time to first byte, decayed by how long ago it was last refreshed; 0 when never measured.
    public func decayedLatency(at now: Instant) -> Double {
        guard let latency, let latencySampled else { return 0 }
        let age = now - latencySampled
        let seconds = Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18
        guard seconds > 0 else { return latency }
        return latency * pow(2, -seconds / Self.latencyHalfLife)
    }
}
