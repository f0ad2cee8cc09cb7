import GatehouseCore
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

    init(mapping: Mapping, decoder: any ProviderStreamDecoder, errorEncoder: any IngressStreamEncoder, body: ByteStream)
    {
        self.mapping = mapping
        self.decoder = decoder
        self.errorEncoder = errorEncoder
        self.iterator = body.makeAsyncIterator()
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
            return try finish()
        }
        var out = ByteBuffer()
        do {
            for parsed in try parser.feed(chunk) { try relay(parsed, into: &out) }
        } catch {
            pendingFailure = error
        }
        return out
    }

    private mutating func relay(_ parsed: SSEParser.Parsed, into out: inout ByteBuffer) throws {
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
                text += encoder.encode(event)
            }
            mapping = .translate(encoder)
            out.writeString(text)
        }
    }

    /// The events of an unterminated last block, the decoder's trailing events, and the
    /// encoder's close. Throws when the provider's stream ended before it said it was complete.
    private mutating func finish() throws -> ByteBuffer {
        var out = ByteBuffer()
        for parsed in parser.finish() {
            let before = out.readableBytes
            try relay(parsed, into: &out)
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
                text += encoder.encode(event)
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
