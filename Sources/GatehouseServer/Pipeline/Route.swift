import GatehouseCore
import GatehousePolicy
import GatehouseSecurity
import NIOCore

extension Gateway {
    /// What the route settled on: the answer and the deployment that gave it.
    struct Routed {
        var answer: UpstreamAnswer
        var deployment: Deployment
    }

    /// Stage 4: attempts, retries and fallbacks around the provider call.
    ///
    /// Each model in the chain (the one asked, then its fallbacks the token allows) gets one
    /// attempt plus its `retries`, spread over its deployments by the router. A retriable
    /// failure (connection, timeout, 429, 5xx, malformed answer) tries again: at another
    /// deployment at once, at one already asked after a jittered, growing backoff. A provider
    /// saying the prompt is too long moves to the context-window fallbacks; anything else is
    /// the answer. Nothing here has reached the caller yet: a stream is committed only once
    /// its first piece has arrived.
    func route(_ call: inout Call, model primary: ModelRoute, exchange: inout Exchange) async throws -> Routed {
        var current = primary
        var queue = primary.fallbacks[...]
        var visited: Set<String> = [primary.name]
        var lastError: GatewayError?
        var lastRetryAfter: String?
        var deploymentsAsked = Set<Int>()
        var skippedAtLimit = 0
        while true {
            var tried: [Int] = []
            var atLimit: [Int] = []
            var left = 1 + current.retries
            attempts: while left > 0,
                let choice = router.choose(
                    in: current, tried: tried, isFirstAttempt: tried.isEmpty && atLimit.isEmpty, skipping: atLimit)
            {
                // A deployment at the provider's own limit is skipped, not asked (and not an attempt).
                let entry = current.deployments[choice.index]
                let admitted: Bool
                do {
                    admitted = try await admitDeployment(entry, call: call, exchange: &exchange)
                } catch {
                    router.ended(slot: choice.slot)
                    throw error
                }
                guard admitted else {
                    router.ended(slot: choice.slot)
                    atLimit.append(choice.slot)
                    skippedAtLimit += 1
                    metrics.attempts.add([current.name, entry.deployment.name, "at_limit"])
                    continue attempts
                }
                left -= 1
                if !exchange.attempts.isEmpty { metrics.retries.add([current.name]) }
                // Another deployment is asked at once; the same one again after a jittered backoff.
                if tried.contains(choice.slot) {
                    let wait = backoff.wait(retry: exchange.attempts.count, unit: router.unitDraw())
                    do {
                        if wait > .zero { try await Task.sleep(for: wait) }
                    } catch {
                        router.ended(slot: choice.slot)
                        throw error
                    }
                }
                tried.append(choice.slot)
                deploymentsAsked.insert(choice.slot)
                let deployment = current.deployments[choice.index].deployment
                exchange.deployment = deployment
                let started = ContinuousClock.now
                do {
                    let answer = try await attempt(
                        &call, deployment: deployment, timeouts: current.timeouts, exchange: &exchange)
                    let elapsed = ContinuousClock.now - started
                    if let transition = router.succeeded(slot: choice.slot, firstByte: elapsed) {
                        count(transition, model: current.name, deployment: deployment.name)
                    }
                    exchange.attempts.append(
                        .init(
                            model: current.name, deployment: deployment.name, outcome: "ok", status: 200,
                            duration: elapsed))
                    exchange.firstByte = ContinuousClock.now - exchange.started
                    metrics.attempts.add([current.name, deployment.name, "ok"])
                    return Routed(answer: answer, deployment: deployment)
                } catch {
                    let elapsed = ContinuousClock.now - started
                    if Task.isCancelled || error is CancellationError {
                        router.ended(slot: choice.slot)
                        throw error
                    }
                    let (failure, retryAfter) = Self.attemptError(error)
                    let kind = AttemptFailure.classify(failure)
                    if let transition = router.failed(
                        slot: choice.slot, failure: kind, code: failure.code, retryAfter: retryAfter)
                    {
                        count(transition, model: current.name, deployment: deployment.name)
                    }
                    exchange.attempts.append(
                        .init(
                            model: current.name, deployment: deployment.name, outcome: failure.code,
                            status: failure.status, duration: elapsed))
                    metrics.attempts.add([current.name, deployment.name, failure.code])
                    lastError = failure
                    if let value = failure.retryAfter { lastRetryAfter = value }
                    switch kind {
                    case .retriable, .transient:
                        continue attempts
                    case .contextWindow:
                        guard !current.contextWindowFallbacks.isEmpty else { throw failure }
                        queue = current.contextWindowFallbacks[...]
                        break attempts
                    case .credentialsRefused, .final:
                        throw failure
                    }
                }
            }
            guard let next = nextFallback(&queue, visited: &visited, principal: call.principal, exchange: &exchange)
            else { break }
            metrics.fallbacks.add([current.name, next.name])
            current = next
        }
        guard let lastError else {
            if skippedAtLimit > 0 {
                throw GatewayError(
                    .rateLimited,
                    "Every deployment of the model '\(primary.name)' is at its rate limit; retry shortly.",
                    code: .rateLimited, retryAfter: "1")
            }
            throw GatewayError(
                .upstreamUnavailable, "No deployment of the model '\(primary.name)' is available.",
                code: .noDeploymentAvailable)
        }
        // One deployment asked: its own error says the most. Several: the caller hears that all failed.
        guard deploymentsAsked.count > 1 else { throw lastError }
        throw GatewayError(
            .upstreamUnavailable,
            "No deployment of the model '\(primary.name)' could answer: \(exchange.attempts.count) attempts failed (the last with \(lastError.code)).",
            code: .noDeploymentAvailable, retryAfter: lastRetryAfter)
    }

    /// The next fallback the caller's token allows; others are skipped and noted (routing never widens a scope).
    private func nextFallback(
        _ queue: inout ArraySlice<String>, visited: inout Set<String>, principal: Principal, exchange: inout Exchange
    ) -> ModelRoute? {
        while let name = queue.popFirst() {
            guard visited.insert(name).inserted, let route = catalog.route(named: name) else { continue }
            guard principal.allows(model: name) else {
                exchange.skippedFallbacks.append(name)
                continue
            }
            return route
        }
        return nil
    }

    /// The error an attempt failed with, as the caller would see it, and the provider's retry-after.
    private static func attemptError(_ error: any Error) -> (GatewayError, Duration?) {
        switch error {
        case let refusal as UpstreamRefusal: return (refusal.error, refusal.retryAfter)
        case let error as GatewayError: return (error, nil)
        default:
            return (
                streamFailure(error)
                    ?? GatewayError(.upstreamFailure, "The provider call failed.", code: .upstreamError), nil
            )
        }
    }

    private func count(_ transition: Router.Transition, model: String, deployment: String) {
        switch transition {
        case .enteredCooldown: metrics.cooldowns.add([model, deployment, "cooldown"])
        case .markedUnhealthy: metrics.cooldowns.add([model, deployment, "unhealthy"])
        case .restored: metrics.cooldowns.add([model, deployment, "restored"])
        }
    }
}
