import GatehouseCore
import Testing

@testable import GatehousePolicy

@Suite("Deployment health: cooldown, half-open, unhealthy, retry-after")
struct DeploymentHealthTests {
    let policy = CooldownPolicy(failures: 3, window: .seconds(60), cooldown: .seconds(30))
    let start = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int64(seconds * 1000)) }

    /// Sends one attempt at `seconds` and fails it.
    func fail(_ health: inout DeploymentHealth, at seconds: Double, retryAfter: Duration? = nil) -> DeploymentHealth
        .Transition?
    {
        let availability = health.availability(at: at(seconds))
        health.started(probe: availability == .probe)
        return health.failed(code: "upstream_error", retryAfter: retryAfter, at: at(seconds), policy: policy)
    }

    @Test("stays healthy below the failure threshold, and cools down at it")
    func coolsDownAtThreshold() {
        var health = DeploymentHealth()
        #expect(fail(&health, at: 0) == nil)
        #expect(fail(&health, at: 1) == nil)
        #expect(health.availability(at: at(2)) == .open)
        #expect(fail(&health, at: 2) == .enteredCooldown)
        #expect(health.state == .coolingDown(until: at(32)))
        #expect(health.availability(at: at(31.9)) == .closed)
    }

    @Test("forgets failures older than the window")
    func windowSlides() {
        var health = DeploymentHealth()
        _ = fail(&health, at: 0)
        _ = fail(&health, at: 1)
        #expect(fail(&health, at: 61.5) == nil)
        #expect(health.state == .healthy)
    }

    @Test("after the cooldown one request probes; its success restores the deployment")
    func halfOpenProbeSucceeds() {
        var health = DeploymentHealth()
        for second in 0..<3 { _ = fail(&health, at: Double(second)) }
        #expect(health.availability(at: at(33)) == .probe)
        health.started(probe: true)
        #expect(health.state == .halfOpen(probing: true))
        // While the probe is out, no one else is sent.
        #expect(health.availability(at: at(33.1)) == .closed)
        #expect(health.succeeded(firstByte: .milliseconds(20), at: at(33.2)) == .restored)
        #expect(health.availability(at: at(33.3)) == .open)
    }

    @Test("a failed probe cools the deployment down again at once")
    func halfOpenProbeFails() {
        var health = DeploymentHealth()
        for second in 0..<3 { _ = fail(&health, at: Double(second)) }
        #expect(fail(&health, at: 40) == .enteredCooldown)
        #expect(health.state == .coolingDown(until: at(70)))
    }

    @Test("a probe that ends saying nothing (the caller left) passes the turn to the next request")
    func probeEndedNeutrally() {
        var health = DeploymentHealth()
        for second in 0..<3 { _ = fail(&health, at: Double(second)) }
        #expect(health.availability(at: at(40)) == .probe)
        health.started(probe: true)
        health.ended()
        #expect(health.availability(at: at(40.1)) == .probe)
        #expect(health.inFlight == 0)
    }

    @Test("refused credentials make it unhealthy at once, for a cooldown, with the reason kept")
    func credentialsRefused() {
        var health = DeploymentHealth()
        health.started(probe: false)
        #expect(health.refusedCredentials(code: "upstream_auth_failed", at: at(0), policy: policy) == .markedUnhealthy)
        #expect(health.state == .unhealthy(until: at(30)))
        #expect(health.lastError == "upstream_auth_failed")
        #expect(health.availability(at: at(29)) == .closed)
        #expect(health.availability(at: at(30)) == .probe)
    }

    @Test("retry-after keeps a healthy deployment from being asked before then")
    func retryAfter() {
        var health = DeploymentHealth()
        _ = fail(&health, at: 0, retryAfter: .seconds(7))
        #expect(health.state == .healthy)
        #expect(health.availability(at: at(6.9)) == .closed)
        #expect(health.availability(at: at(7)) == .open)
    }

    @Test("counts requests in flight")
    func inFlight() {
        var health = DeploymentHealth()
        health.started(probe: false)
        health.started(probe: false)
        #expect(health.inFlight == 2)
        _ = health.succeeded(firstByte: nil, at: at(0))
        #expect(health.inFlight == 1)
        health.ended()
        health.ended()
        #expect(health.inFlight == 0)
    }

    @Test("the latency average follows samples and decays while no sample comes")
    func latencyAverage() {
        var health = DeploymentHealth()
        health.started(probe: false)
        _ = health.succeeded(firstByte: .milliseconds(100), at: at(0))
        #expect(abs(health.decayedLatency(at: at(0)) - 0.1) < 1e-9)
        health.started(probe: false)
        _ = health.succeeded(firstByte: .milliseconds(200), at: at(0))
        #expect(abs(health.decayedLatency(at: at(0)) - 0.13) < 1e-9)
        #expect(abs(health.decayedLatency(at: at(30)) - 0.065) < 1e-6)
        #expect(DeploymentHealth().decayedLatency(at: at(0)) == 0)
    }
}
