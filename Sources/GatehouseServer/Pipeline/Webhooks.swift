import GatehouseCore
import GatehousePolicy
import NIOCore

extension Gateway {
    /// Stage 4b: the policy's input webhooks, asked with the prompt's texts as the provider will
    /// see them (after the input guardrails' redactions). A flagged answer acts as the webhook's
    /// `action` says; a service that fails refuses the request unless it is set to fail open.
    func inputWebhooks(_ call: inout Call, model: ModelRoute, exchange: inout Exchange) async throws {
        guard var state = call.guardrails else { return }
        let hooks = state.policy.webhooks(.input)
        guard !hooks.isEmpty else { return }
        var texts: [String] = []
        _ = PromptTexts.map(try JSONValue.decode(call.body), operation: call.operation, dialect: call.dialect) {
            texts.append($0)
            return $0
        }
        for hook in hooks {
            state.verdict = state.verdict.merged(
                with: try await askWebhook(hook, texts: texts, policy: state.policy.name, model: model.name))
        }
        exchange.guardrails = state.verdict
        call.guardrails = state
        if let blocked = state.verdict.blocked { throw Self.refusal(blocked, policy: state.policy.name) }
    }

    /// One webhook, asked once: what it found. Throws `guardrail_unavailable` when the service
    /// fails and the webhook fails closed; the failure is in the verdict either way.
    func askWebhook(_ hook: GuardrailWebhook, texts: [String], policy: String, model: String) async throws
        -> GuardrailVerdict
    {
        var verdict = GuardrailVerdict()
        var request = EgressRequest(
            provider: hook.endpoint, pathSegments: [], headers: [("content-type", "application/json")],
            body: GuardrailWebhook.requestBody(direction: hook.direction, policy: policy, model: model, texts: texts)
                .encodedBuffer())
        request.timeouts = RouteTimeouts(
            connect: hook.timeout, firstByte: hook.timeout, idle: hook.timeout, total: hook.timeout)
        let answer: GuardrailWebhook.Answer?
        do {
            let response = try await egress.send(request)
            let body = try await response.body.collect(upTo: 64 * 1024)
            answer =
                (200..<300).contains(response.status)
                ? GuardrailWebhook.parse(String(buffer: body)) : nil
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            answer = nil
        }
        guard let answer else {
            verdict.add(hook.direction, hook.failureRule, type: .webhookUnavailable, count: 1)
            guard !hook.failsClosed else {
                throw GatewayError(
                    .upstreamUnavailable,
                    "The guardrail policy '\(policy)' could not get an answer from its \(hook.direction.rawValue) webhook, so the \(hook.direction == .input ? "request was refused" : "answer was withheld") (it fails closed).",
                    code: .guardrailUnavailable)
            }
            return verdict
        }
        if answer.flagged { verdict.add(hook.direction, hook.rule(label: answer.label), type: .webhook, count: 1) }
        return verdict
    }

    /// The output webhooks as a stream's final check: asked with the whole text before its end
    /// goes out.
    func streamWebhookCheck(_ state: Guard, model: String) -> StreamRelay.FinalCheck? {
        let hooks = state.policy.webhooks(.output)
        guard !hooks.isEmpty else { return nil }
        let policy = state.policy.name
        return { [self] text in
            var found = GuardrailVerdict()
            for hook in hooks {
                do {
                    found = found.merged(with: try await askWebhook(hook, texts: [text], policy: policy, model: model))
                } catch let error as GatewayError {
                    return (found.merged(with: Self.failureVerdict(hook)), error)
                } catch {
                    return (found, GatewayError(.internalError, "The stream was cancelled.", code: .cancelled))
                }
            }
            return (found, found.blocked.map { Self.refusal($0, policy: policy) })
        }
    }

    /// What a failed webhook records (the same entry `askWebhook` adds before it throws).
    static func failureVerdict(_ hook: GuardrailWebhook) -> GuardrailVerdict {
        var verdict = GuardrailVerdict()
        verdict.add(hook.direction, hook.failureRule, type: .webhookUnavailable, count: 1)
        return verdict
    }
}
