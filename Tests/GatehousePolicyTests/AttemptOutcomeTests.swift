import Foundation
import GatehouseCore
import Testing

@testable import GatehousePolicy

@Suite("Which failures are retried, retry-after headers, backoff")
struct AttemptOutcomeTests {
    @Test(
        "classifies each upstream failure",
        arguments: [
            ("upstream_rate_limited", AttemptFailure.retriable), ("upstream_unavailable", .retriable),
            ("upstream_timeout", .retriable), ("upstream_error", .retriable), ("upstream_unreachable", .retriable),
            ("upstream_malformed", .retriable), ("upstream_stream_lost", .retriable),
            ("keyholder_unavailable", .transient),
            ("upstream_auth_failed", .credentialsRefused), ("context_window_exceeded", .contextWindow),
            ("upstream_rejected", .final), ("upstream_not_found", .final), ("invalid_field", .final),
            ("egress_address_refused", .final),
        ])
    func classification(code: String, expected: AttemptFailure) throws {
        let code = try #require(GatewayError.Code(rawValue: code))
        #expect(AttemptFailure.classify(GatewayError(.upstreamFailure, "x", code: code)) == expected)
    }

    @Test("reads retry-after-ms before retry-after, and retry-after in seconds")
    func retryAfterHeaders() {
        #expect(RetryAfter.parse([("Retry-After", "7")]) == .seconds(7))
        #expect(RetryAfter.parse([("retry-after-ms", "1500"), ("retry-after", "7")]) == .milliseconds(1500))
        #expect(RetryAfter.parse([("retry-after", "0.25")]) == .milliseconds(250))
        #expect(RetryAfter.parse([("retry-after", "soon")]) == nil)
        #expect(RetryAfter.parse([]) == nil)
        #expect(RetryAfter.parse([("retry-after", "999999")]) == RetryAfter.maximum)
    }

    @Test("reads an HTTP date and the providers' rate-limit reset headers")
    func resetHeaders() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(RetryAfter.parse([("retry-after", "Tue, 14 Nov 2023 22:13:30 GMT")], now: now) == .seconds(10))
        #expect(
            RetryAfter.parse([("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:25Z")], now: now) == .seconds(5))
        #expect(RetryAfter.parse([("x-ratelimit-reset-requests", "6m0s")], now: now) == .seconds(360))
        #expect(RetryAfter.parse([("x-ratelimit-reset-tokens", "250ms")], now: now) == .milliseconds(250))
        #expect(RetryAfter.goDuration("1h2m3.5s") == .milliseconds(3_723_500))
        #expect(RetryAfter.parse([("x-ratelimit-reset-tokens", "1h2m3.5s")], now: now) == RetryAfter.maximum)
        #expect(RetryAfter.goDuration("5x") == nil)
        #expect(RetryAfter.goDuration("5") == nil)
    }

    @Test("backoff doubles up to its cap, with the draw scaling it")
    func backoff() {
        let backoff = Backoff(base: .milliseconds(50), cap: .milliseconds(300))
        #expect(backoff.ceiling(retry: 1) == .milliseconds(50))
        #expect(backoff.ceiling(retry: 2) == .milliseconds(100))
        #expect(backoff.ceiling(retry: 3) == .milliseconds(200))
        #expect(backoff.ceiling(retry: 4) == .milliseconds(300))
        #expect(backoff.ceiling(retry: 90) == .milliseconds(300))
        #expect(backoff.wait(retry: 2, unit: 0.5) == .milliseconds(50))
        #expect(backoff.wait(retry: 2, unit: 0) == .zero)
    }
}
