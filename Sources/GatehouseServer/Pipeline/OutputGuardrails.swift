import GatehouseCore
import GatehousePolicy
import GatehouseProviders

extension Gateway {
    /// Stage 6: the answer's guardrails. A whole answer is scanned (and its placeholders
    /// restored) before anything is sent; a stream is guarded as it is relayed
    /// (``StreamRelay``), holding back only what could still become a match.
    func outputGuardrails(_ routed: inout Routed, call: Call, exchange: inout Exchange) async throws {
        guard var state = call.guardrails, state.guardsOutput, call.operation == .chat else { return }
        guard case .whole(let whole, let dropped) = routed.answer else { return }
        var response: ChatResponse
        switch whole {
        case .native(let body, _):
            let provider = ProviderRegistry.chatProvider(for: routed.deployment.kind)
            response = try provider.decodeChatResponse(body, deployment: routed.deployment)
        case .chat(let decoded):
            response = decoded
        case .embeddings:
            return
        }
        let original = response
        let rules = state.outputRules
        if let text = response.text {
            let cleaned = TextGuard.apply(
                rules, to: text, direction: .output, vault: &state.vault, verdict: &state.verdict)
            response.text = state.vault.restore(cleaned)
        }
        for index in response.toolCalls.indices {
            response.toolCalls[index].arguments = state.vault.restore(response.toolCalls[index].arguments)
        }
        if state.json != .off, response.toolCalls.isEmpty, !JSONAnswerCheck.isValid(response.text ?? "") {
            state.verdict.add(.output, JSONAnswerCheck.rule(state.json), type: .invalidJSON, count: 1)
        }
        // The output webhooks read the answer as the caller would get it.
        for hook in state.policy.webhooks(.output) where state.verdict.blocked == nil {
            do {
                state.verdict = state.verdict.merged(
                    with: try await askWebhook(
                        hook, texts: [response.text ?? ""], policy: state.policy.name,
                        model: routed.deployment.publicName))
            } catch {
                exchange.guardrails = state.verdict.merged(with: Self.failureVerdict(hook))
                throw error
            }
        }
        exchange.guardrails = state.verdict
        if let blocked = state.verdict.blocked, blocked.direction == .output {
            throw Self.refusal(blocked, policy: state.policy.name)
        }
        // The provider's own bytes go out when nothing changed.
        if response != original { routed.answer = .whole(.chat(response), droppedFields: dropped) }
    }
}
