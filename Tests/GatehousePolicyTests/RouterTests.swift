import GatehouseCore
import Testing

@testable import GatehousePolicy

@Suite("Router: strategies and the choice among healthy deployments")
struct RouterTests {
    func route(_ strategy: RoutingStrategy, weights: [Int] = [1, 1, 1], ranks: [Int?]? = nil) -> ModelRoute {
        let deployments = weights.enumerated().map { index, weight in
            RouteDeployment(
                Deployment(
                    publicName: "m", name: "d\(index)", provider: "p\(index)", kind: .openAI, upstreamModel: "u"),
                weight: weight, costRank: ranks?[index])
        }
        return ModelCatalog(routes: [ModelRoute(name: "m", strategy: strategy, deployments: deployments)]).models[0]
    }

    /// Counts which deployment each of `count` first attempts goes to (each answered at once).
    func distribution(_ route: ModelRoute, router: Router, count: Int) -> [Int] {
        var counts = Array(repeating: 0, count: route.deployments.count)
        for _ in 0..<count {
            guard let choice = router.choose(in: route, tried: [], isFirstAttempt: true) else { continue }
            counts[choice.index] += 1
            router.succeeded(slot: choice.slot, firstByte: .milliseconds(10))
        }
        return counts
    }

    @Test("weighted spreads attempts in proportion to the weights")
    func weighted() {
        let route = route(.weighted, weights: [3, 1])
        let counts = distribution(route, router: Router(slots: 2, seed: 7), count: 4000)
        #expect(abs(Double(counts[0]) / 4000 - 0.75) < 0.03)
    }

    @Test("ordered always asks the first healthy deployment")
    func ordered() {
        let route = route(.ordered)
        let router = Router(slots: 3, seed: 1)
        #expect(distribution(route, router: router, count: 50) == [50, 0, 0])
    }

    @Test("ordered moves to the next deployment while the first cools down")
    func orderedSkipsCoolingDown() {
        let route = route(.ordered)
        let router = Router(slots: 3, policy: CooldownPolicy(failures: 1), seed: 1)
        let first = router.choose(in: route, tried: [], isFirstAttempt: true)
        #expect(first?.index == 0)
        router.failed(slot: 0, failure: .retriable, code: "upstream_error", retryAfter: nil)
        #expect(router.choose(in: route, tried: [], isFirstAttempt: true)?.index == 1)
    }

    @Test("deployments skipped at their own rate limit are never chosen, not even as a last resort")
    func skipping() {
        let route = route(.ordered)
        let router = Router(slots: 3, seed: 1)
        #expect(router.choose(in: route, tried: [], isFirstAttempt: true, skipping: [0])?.index == 1)
        #expect(router.choose(in: route, tried: [1], isFirstAttempt: false, skipping: [0, 2])?.index == 1)
        #expect(router.choose(in: route, tried: [], isFirstAttempt: true, skipping: [0, 1, 2]) == nil)
    }

    @Test("least-busy picks the deployment with the fewest requests in flight")
    func leastBusy() {
        let route = route(.leastBusy)
        let router = Router(slots: 3, seed: 3)
        var picked: [Int] = []
        for _ in 0..<3 {
            if let choice = router.choose(in: route, tried: [], isFirstAttempt: true) { picked.append(choice.index) }
        }
        // Nothing finished: each of the three got one.
        #expect(picked.sorted() == [0, 1, 2])
    }

    @Test("latency prefers the faster of two, without starving the others")
    func latency() {
        let route = route(.latency, weights: [1, 1])
        let router = Router(slots: 2, seed: 5)
        for _ in 0..<20 {
            if let choice = router.choose(in: route, tried: [], isFirstAttempt: true) {
                router.succeeded(
                    slot: choice.slot, firstByte: choice.index == 0 ? .milliseconds(5) : .milliseconds(200))
            }
        }
        #expect(distribution(route, router: router, count: 100)[0] == 100)
    }

    @Test("cost picks the cheapest rank and spreads by weight among equals")
    func cost() {
        let route = route(.cost, weights: [1, 1, 1], ranks: [2, 1, 1])
        let counts = distribution(route, router: Router(slots: 3, seed: 11), count: 1000)
        #expect(counts[0] == 0)
        #expect(counts[1] > 400 && counts[2] > 400)
    }

    @Test("untried deployments come before one already tried in this request")
    func untriedFirst() {
        let route = route(.ordered)
        let router = Router(slots: 3, seed: 1)
        let choice = router.choose(in: route, tried: [0], isFirstAttempt: false)
        #expect(choice?.index == 1)
        let again = router.choose(in: route, tried: [0, 1, 2], isFirstAttempt: false)
        #expect(again?.index == 0)
    }

    @Test("when every deployment is down, the first attempt goes to the least recently failed")
    func allDownTriesLeastRecentlyFailed() {
        let route = route(.weighted, weights: [1, 1])
        let router = Router(slots: 2, policy: CooldownPolicy(failures: 1), seed: 1)
        let now = ContinuousClock.now
        _ = router.choose(in: route, tried: [], isFirstAttempt: true, at: now)
        router.failed(slot: 1, failure: .retriable, code: "upstream_error", retryAfter: nil, at: now)
        router.failed(slot: 0, failure: .retriable, code: "upstream_error", retryAfter: nil, at: now + .seconds(1))
        let forced = router.choose(in: route, tried: [], isFirstAttempt: true, at: now + .seconds(2))
        #expect(forced?.index == 1)
        #expect(forced?.isForced == true)
        // A retry within the request is not forced onto a deployment that is down.
        #expect(router.choose(in: route, tried: [1], isFirstAttempt: false, at: now + .seconds(2)) == nil)
    }

    @Test("a deployment that asked for retry-after is not asked again before then, another one is")
    func retryAfterRoutesElsewhere() {
        let route = route(.weighted, weights: [1, 1])
        let router = Router(slots: 2, seed: 9)
        let now = ContinuousClock.now
        router.failed(slot: 0, failure: .retriable, code: "upstream_rate_limited", retryAfter: .seconds(5), at: now)
        for offset in 0..<50 {
            let choice = router.choose(
                in: route, tried: [], isFirstAttempt: true, at: now + .milliseconds(Int64(offset * 10)))
            #expect(choice?.index == 1)
            if let choice { router.succeeded(slot: choice.slot, firstByte: nil) }
        }
        #expect(router.status(slot: 0, at: now).notBefore != nil)
    }

    @Test("a single-deployment model cools down too, and shows it")
    func singleDeploymentCoolsDown() {
        let route = route(.weighted, weights: [1])
        let router = Router(slots: 1, seed: 1)
        for _ in 0..<3 {
            _ = router.choose(in: route, tried: [], isFirstAttempt: true)
            router.failed(slot: 0, failure: .retriable, code: "upstream_unreachable", retryAfter: nil)
        }
        let status = router.status(slot: 0)
        #expect(status.state == .coolingDown)
        #expect(status.lastError == "upstream_unreachable")
    }
}
