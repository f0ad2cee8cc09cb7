import GatehouseCore
import GatehousePolicy
import GatehouseProviders
import NIOCore

/// The one stream loop: reads a provider's server-sent events and turns them into what the
/// caller is sent, either the events' own bytes (a same-dialect pass-through) or the caller's
/// dialect (a translation), while taking the usage the provider reports.
///
/// Events before a bad one in the same chunk still reach the caller; the failure is thrown
/// by the next call. The route reads the first piece before the answer is committed, so a
/// stream that fails before its first byte can still be retried elsewhere.
struct StreamRelay: Sendable {
    enum Mapping {
        /// Events forwarded as received; `hideUsageChunk`: the usage-only chunk the gateway
        /// asked for on the caller's behalf (OpenAI `include_usage`) is not forwarded.
        case passThrough(hideUsageChunk: Bool)
        case translate(any IngressStreamEncoder)
    }

    private var mapping: Mapping
    private var parser = SSEParser()
    private var decoder: any ProviderStreamDecoder
    private var iterator: ByteStream.AsyncIterator
    /// Writes a failure in the caller's dialect once the stream has started.
    let errorEncoder: any IngressStreamEncoder
    /// The latest usage the provider reported.
    private(set) var usage: Usage?
    private var pendingFailure: (any Error)?
    private var ended = false
    /// Output guardrails over the answer's text (a translated stream only: the pass-through
    /// forwards bytes it does not read).
    private var textGuard: StreamTextGuard?
    /// What the output guardrails found so far.
    private(set) var verdict = GuardrailVerdict()
    private let policyName: String
    /// A tool call began: the JSON-mode check is not for such an answer.
    private var sawToolCall = false
    /// Asked once with the whole answer's text before it goes out (the output webhooks): the
    /// verdict to add, and the refusal if the answer is to be withheld.
    typealias FinalCheck = @Sendable (String) async -> (verdict: GuardrailVerdict, refusal: GatewayError?)
    private let finalCheck: FinalCheck?
    private var finalChecked = false

    init(
        mapping: Mapping, decoder: any ProviderStreamDecoder, errorEncoder: any IngressStreamEncoder, body: ByteStream,
        textGuard: StreamTextGuard? = nil, policyName: String = "", finalCheck: FinalCheck? = nil
    ) {
        self.mapping = mapping
        self.decoder = decoder
        self.errorEncoder = errorEncoder
        self.iterator = body.makeAsyncIterator()
        self.textGuard = textGuard?.isActive == true ? textGuard : nil
        self.policyName = policyName
        self.finalCheck = finalCheck
    }

    /// A failure is waiting behind the output already returned.
    var hasPendingFailure: Bool { pendingFailure != nil }

    /// The next bytes for the caller (possibly empty), or `nil` once the stream is complete.
    mutating func next() async throws -> ByteBuffer? {
        if let failure = pendingFailure {
            pendingFailure = nil
            ended = true
            throw failure
        }
        guard !ended else { return nil }
        guard let chunk = try await iterator.next() else {
            ended = true
            return try await finish()
        }
        var out = ByteBuffer()
        do {
            for parsed in try parser.feed(chunk) { try await relay(parsed, into: &out) }
        } catch {
            pendingFailure = error
        }
        return out
    }

    private mutating func relay(_ parsed: SSEParser.Parsed, into out: inout ByteBuffer) async throws {
        switch mapping {
        case .passThrough(let hideUsageChunk):
            guard let usage = try decoder.observe(parsed.event) else {
                out.writeBytes(parsed.raw)
                return
            }
            self.usage = usage
            if !(hideUsageChunk && Self.isUsageOnlyChunk(parsed.event)) { out.writeBytes(parsed.raw) }
        case .translate(var encoder):
            var text = ""
            for event in try decoder.decode(parsed.event) {
                if case .usage(let value) = event { usage = value }
                for guarded in try await guardText(event) { text += encoder.encode(guarded) }
            }
            mapping = .translate(encoder)
            out.writeString(text)
        }
    }

    /// An event as the output guardrails let it out: text deltas scanned (what could still
    /// become a match is held back), the held text released before the answer's end.
    private mutating func guardText(_ event: StreamEvent) async throws -> [StreamEvent] {
        guard var textGuard else { return [event] }
        defer { self.textGuard = textGuard }
        switch event {
        case .textDelta(let delta):
            let out = textGuard.feed(delta, verdict: &verdict)
            try checkBlocked(textGuard)
            return out.isEmpty ? [] : [.textDelta(out)]
        case .finish, .toolCallStart:
            if case .toolCallStart = event { sawToolCall = true }
            let rest = textGuard.finish(verdict: &verdict, checksJSON: !sawToolCall)
            try checkBlocked(textGuard)
            if case .finish = event { try await checkFinal(textGuard) }
            return rest.isEmpty ? [event] : [.textDelta(rest), event]
        default:
            return [event]
        }
    }

    /// The final check (output webhooks) on the whole text, once, before its end goes out.
    private mutating func checkFinal(_ textGuard: StreamTextGuard) async throws {
        guard let finalCheck, !finalChecked else { return }
        finalChecked = true
        let (found, refusal) = await finalCheck(textGuard.releasedText)
        verdict = verdict.merged(with: found)
        if let refusal { throw refusal }
    }

    private func checkBlocked(_ textGuard: StreamTextGuard) throws {
        guard textGuard.isBlocked, let entry = verdict.blocked else { return }
        throw Gateway.refusal(entry, policy: policyName)
    }

    /// The events of an unterminated last block, the decoder's trailing events, and the
    /// encoder's close. Throws when the provider's stream ended before it said it was complete.
    private mutating func finish() async throws -> ByteBuffer {
        var out = ByteBuffer()
        for parsed in parser.finish() {
            let before = out.readableBytes
            try await relay(parsed, into: &out)
            // A block without its blank line is forwarded with one.
            if case .passThrough = mapping, out.readableBytes > before { out.writeBytes([10, 10]) }
        }
        switch mapping {
        case .passThrough:
            for case .usage(let value) in try decoder.finish() { usage = value }
        case .translate(var encoder):
            var text = ""
            for event in try decoder.finish() {
                if case .usage(let value) = event { usage = value }
                for guarded in try await guardText(event) { text += encoder.encode(guarded) }
            }
            // Text still held when the provider ended without a finish event.
            if var textGuard {
                let rest = textGuard.finish(verdict: &verdict, checksJSON: !sawToolCall)
                self.textGuard = textGuard
                try checkBlocked(textGuard)
                try await checkFinal(textGuard)
                if !rest.isEmpty { text += encoder.encode(.textDelta(rest)) }
            }
            text += encoder.finish()
            mapping = .translate(encoder)
            out.writeString(text)
        }
        return out
    }

    /// The trailing OpenAI chunk that carries only usage (`choices: []`); asked only of events that reported usage.
    static func isUsageOnlyChunk(_ event: SSEEvent) -> Bool {
        guard let value = JSONValue.parse(event.data) else { return false }
        return value["choices"]?.arrayValue?.isEmpty == true && value["usage"] != nil
    }
}
