import GatehouseCore
import GatehouseSecurity
import Logging

extension Gateway {
    /// Stage 7: ends a request. Counts it, records it in the audit log (who, what, where, every
    /// attempt, how it ended, and the digests of what was asked and answered — never the
    /// text), and, at `debug` level (off by default), writes a log line.
    func finish(_ exchange: Exchange, status: Int, error: GatewayError? = nil) {
        record(exchange, status: status, error: error)
        guard logger.logLevel <= .debug else { return }
        var metadata: Logger.Metadata = [
            "gatehouse.request.id": .string(exchange.id), "gatehouse.dialect": .string(exchange.dialect.rawValue),
            "gatehouse.status": .stringConvertible(status),
            "gatehouse.duration_ms": .stringConvertible((ContinuousClock.now - exchange.started).milliseconds),
        ]
        if let principal = exchange.principal {
            metadata["gatehouse.principal"] = .string(principal.subject)
            metadata["gatehouse.token.id"] = .string(principal.tokenID)
        }
        if let model = exchange.model { metadata["gatehouse.model"] = .string(model) }
        if let deployment = exchange.deployment {
            metadata["gatehouse.provider"] = .string(deployment.provider)
            metadata["gatehouse.deployment"] = .string(deployment.publicName + "/" + deployment.name)
            metadata["gatehouse.mode"] = .string(exchange.mode)
        }
        if exchange.attempts.count > 1 { metadata["gatehouse.attempts"] = .string(exchange.attemptLog) }
        if let usage = exchange.usage {
            metadata["gatehouse.usage.prompt_tokens"] = .stringConvertible(usage.promptTokens)
            metadata["gatehouse.usage.completion_tokens"] = .stringConvertible(usage.completionTokens)
        }
        if let error { metadata["gatehouse.error.code"] = .string(error.code) }
        logger.debug("request", metadata: metadata)
    }

    func record(_ exchange: Exchange, status: Int, error: GatewayError?) {
        var exchange = exchange
        if let usage = exchange.usage, let deployment = exchange.deployment {
            exchange.cost = accounting.cost(of: usage, deployment: deployment)
        }
        if let admission = exchange.admission {
            settle(admission, cost: exchange.cost ?? .zero, usage: exchange.usage, answeredBy: exchange.deployment)
        }
        exchange.digestPrompt()
        if let answer = exchange.answer { exchange.sent(answer) }
        let elapsed = ContinuousClock.now - exchange.started
        let provider = exchange.deployment?.provider ?? "none"
        metrics.requests.add([exchange.dialect.rawValue, provider, String(status)])
        metrics.duration.observe([exchange.dialect.rawValue], Double(elapsed.milliseconds) / 1000)
        if let usage = exchange.usage {
            metrics.tokens.add([provider, "prompt"], Int64(usage.promptTokens))
            metrics.tokens.add([provider, "completion"], Int64(usage.completionTokens))
        }
        var fields: AuditFields = [
            "request_id": .string(exchange.id), "dialect": .string(exchange.dialect.rawValue), "status": .int(status),
            "duration_ms": .int(elapsed.milliseconds),
        ]
        if let principal = exchange.principal {
            fields["principal"] = .string(principal.subject)
            fields["token_id"] = .string(principal.tokenID)
            if let team = principal.limits.team { fields["team"] = .string(team) }
        }
        if let model = exchange.model { fields["model"] = .string(String(model.prefix(200))) }
        if let deployment = exchange.deployment {
            fields["provider"] = .string(deployment.provider)
            fields["deployment"] = .string(deployment.publicName + "/" + deployment.name)
            fields["mode"] = .string(exchange.mode)
        }
        if !exchange.attempts.isEmpty {
            fields["attempts"] = .int(exchange.attempts.count)
            fields["attempt_log"] = .string(exchange.attemptLog)
        }
        if let verdict = exchange.guardrails, !verdict.isEmpty {
            fields["guardrails"] = .string(verdict.summary)
            fields["guardrail_action"] = .string(verdict.action.rawValue)
            countVerdict(verdict)
        }
        if !exchange.skippedFallbacks.isEmpty {
            fields["fallbacks_skipped"] = .string(exchange.skippedFallbacks.joined(separator: ","))
        }
        if let usage = exchange.usage {
            fields["prompt_tokens"] = .int(usage.promptTokens)
            fields["completion_tokens"] = .int(usage.completionTokens)
            if usage.cachedPromptTokens > 0 { fields["cached_tokens"] = .int(usage.cachedPromptTokens) }
        }
        if let cost = exchange.cost { fields["cost_usd"] = .string(cost.description) }
        if let firstByte = exchange.firstByte { fields["ttfb_ms"] = .int(firstByte.milliseconds) }
        if let prompt = exchange.prompt { fields["prompt_sha256"] = prompt }
        if exchange.completion.byteCount > 0 { fields["completion_sha256"] = exchange.completion.finalize() }
        if let error { fields["error"] = .string(error.code) }
        audit.record(.request, fields: fields)
    }

    /// A request that ended before an answer: recorded, and rendered in the caller's dialect.
    func failure(_ error: any Error, exchange: Exchange) -> FrontResponse {
        // The caller went away (its connection closed, which cancels the request's task):
        // whatever the exchange failed with after that, what happened is the disconnect.
        if Task.isCancelled {
            let gone = GatewayError(.invalidRequest, "client went away", code: .clientDisconnected)
            finish(exchange, status: 499, error: gone)
            return exchange.dialect.errorResponse(gone, requestID: exchange.id)
        }
        let gatewayError: GatewayError
        switch error {
        case let error as GatewayError: gatewayError = error
        case let refusal as UpstreamRefusal: gatewayError = refusal.error
        case is CancellationError:
            gatewayError = GatewayError(.upstreamFailure, "The request was cancelled.", code: .cancelled)
        default:
            logger.error(
                "unexpected failure",
                metadata: [
                    "gatehouse.request.id": .string(exchange.id), "gatehouse.error.type": .string("\(type(of: error))"),
                ])
            gatewayError = GatewayError(
                .internalError, "The gateway failed to handle the request.", code: .internalFailure)
        }
        finish(exchange, status: gatewayError.status, error: gatewayError)
        var response = exchange.dialect.errorResponse(gatewayError, requestID: exchange.id)
        for header in exchange.admission?.headers ?? [] { response.headers.add(name: header.name, value: header.value) }
        // A spent budget does not come back by retrying: the SDKs' own retry logic reads this.
        if gatewayError.code == GatewayError.Code.budgetExceeded.rawValue {
            response.headers.add(name: "x-should-retry", value: "false")
        }
        if let deployment = exchange.deployment, !exchange.attempts.isEmpty {
            response.headers.add(name: "x-gatehouse-deployment", value: deployment.publicName + "/" + deployment.name)
            response.headers.add(name: "x-gatehouse-attempts", value: String(exchange.attempts.count))
        }
        return response
    }
}
