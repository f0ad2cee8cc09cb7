import GatehouseCore
import GatehousePolicy
import GatehouseSecurity
import NIOCore

extension Gateway {
    /// Everything known about one request, for its audit record, metrics and log line.
    struct Exchange {
        let id: String
        let dialect: IngressDialect
        let started: ContinuousClock.Instant
        /// Set once the caller authenticated (a refusal before that records no principal).
        var principal: Principal?
        var model: String?
        /// The deployment that answered (or the last one asked).
        var deployment: Deployment?
        var usage: Usage?
        /// What the answer cost (set when the request is recorded).
        var cost: Nanodollars?
        /// What the request holds of its budgets and rate limits, settled when it is recorded.
        var admission: Admission?
        /// Time to the first byte of the answer that was used.
        var firstByte: Duration?
        var mode = "translate"
        /// Every attempt the router made, in order.
        var attempts: [Attempt] = []
        /// What the guardrails found (types and counts, never text).
        var guardrails: GuardrailVerdict?
        /// Fallback models the caller's token does not allow, skipped (scopes are never widened by routing).
        var skippedFallbacks: [String] = []
        /// The request body as received, until it is digested into ``prompt``. Hashing it is
        /// kept off the way to the provider: it happens when the request is recorded, or once a
        /// stream's first chunk has been written (which also lets the body go).
        var promptBody: ByteBuffer?
        /// SHA-256 of the request body as received.
        var prompt: AuditValue?
        /// SHA-256 of the answer's body as sent to the caller (every byte of a stream).
        var completion = ContentDigest()
        /// A whole answer, added to ``completion`` when the request is recorded (after it was written).
        var answer: ByteBuffer?

        init(dialect: IngressDialect) {
            self.id = Gateway.makeRequestID()
            self.dialect = dialect
            self.started = .now
        }

        /// One attempt at one deployment.
        struct Attempt {
            var model: String
            var deployment: String
            /// `ok`, or the error code it failed with.
            var outcome: String
            /// The HTTP status the attempt ended with (as the caller would have seen it).
            var status: Int
            var duration: Duration
        }

        mutating func received(_ body: ByteBuffer) {
            promptBody = body
        }

        mutating func digestPrompt() {
            guard let body = promptBody else { return }
            promptBody = nil
            var digest = ContentDigest()
            body.withUnsafeReadableBytes { digest.update($0) }
            prompt = digest.finalize()
        }

        /// Bytes of a stream written to the caller.
        mutating func sent(_ buffer: ByteBuffer) {
            buffer.withUnsafeReadableBytes { completion.update($0) }
        }

        /// The attempts as one audit field: `model/deployment=outcome:status:ms`, comma-separated.
        var attemptLog: String {
            attempts.map { "\($0.model)/\($0.deployment)=\($0.outcome):\($0.status):\($0.duration.milliseconds)ms" }
                .joined(separator: ",")
        }
    }
}
