import Foundation
import GatehouseCore

/// What one failed attempt means for the request and for the deployment that answered it.
public enum AttemptFailure: Sendable, Equatable {
    /// Connection refused or reset, TLS failure, a timeout before the first byte, 429, 5xx,
    /// 529, a malformed answer: worth another attempt, and counted towards a cooldown.
    case retriable
    /// The gateway's own egress failed (the keyholder restarting): worth another attempt,
    /// but says nothing about the deployment.
    case transient
    /// 401/403 from the provider: its key is wrong. Not retried; the deployment is marked unhealthy.
    case credentialsRefused
    /// The provider says the prompt is too long: the model's context-window fallbacks answer instead.
    case contextWindow
    /// Anything else (400, 404, 413, refusals): the answer stands.
    case final

    /// Classifies an error the provider mapping or the egress reported, by its code.
    public static func classify(_ error: GatewayError) -> AttemptFailure {
        switch error.errorCode {
        case .upstreamRateLimited, .upstreamUnavailable, .upstreamTimeout, .upstreamError, .upstreamUnreachable,
            .upstreamMalformed, .upstreamIncomplete, .upstreamStreamLost, .upstreamTooLarge:
            return .retriable
        case .keyholderUnavailable, .linkFailure, .linkMalformed:
            return .transient
        case .upstreamAuthFailed:
            return .credentialsRefused
        case .contextWindowExceeded:
            return .contextWindow
        default:
            return .final
        }
    }
}

/// How long an upstream asked not to be called again, from its answer's headers: `retry-after-ms`,
/// `retry-after` (seconds or an HTTP date), or the providers' rate-limit reset headers.
public enum RetryAfter {
    /// The longest wait honoured; a provider asking for more is simply not asked for that long.
    public static let maximum: Duration = .seconds(3600)

    public static func parse(_ headers: [(name: String, value: String)], now: Date = Date()) -> Duration? {
        func value(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name }?.value.trimmingCharacters(in: .whitespaces)
        }
        var wait: Duration?
        if let text = value("retry-after-ms"), let milliseconds = Double(text), milliseconds.isFinite, milliseconds >= 0
        {
            wait = .milliseconds(Int64(milliseconds.rounded(.up)))
        } else if let text = value("retry-after") {
            if let seconds = Double(text), seconds.isFinite, seconds >= 0 {
                wait = .milliseconds(Int64((seconds * 1000).rounded(.up)))
            } else if let date = httpDate(text) {
                wait = .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000))
            }
        }
        if wait == nil {
            // Anthropic: RFC 3339 instants; OpenAI: durations such as "1s", "6m0s", "250ms".
            for name in ["anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-reset"] {
                if let text = value(name), let date = rfc3339(text) {
                    wait = max(wait ?? .zero, .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000)))
                }
            }
            for name in ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"] {
                if let text = value(name), let duration = goDuration(text) { wait = max(wait ?? .zero, duration) }
            }
        }
        return wait.map { min($0, maximum) }
    }

    /// `1s`, `6m0s`, `1h2m3.5s`, `250ms`.
    static func goDuration(_ text: String) -> Duration? {
        var total = 0.0
        var number = ""
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while let char = rest.first {
            if char.isASCII, char.isNumber || char == "." {
                number.append(char)
                rest = rest.dropFirst()
                continue
            }
            guard let value = Double(number) else { return nil }
            number = ""
            if rest.hasPrefix("ms") {
                total += value / 1000
                rest = rest.dropFirst(2)
            } else {
                switch char {
                case "h": total += value * 3600
                case "m": total += value * 60
                case "s": total += value
                default: return nil
                }
                rest = rest.dropFirst()
            }
        }
        guard number.isEmpty, total.isFinite else { return nil }
        return .milliseconds(Int64((total * 1000).rounded(.up)))
    }

    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }

    static func rfc3339(_ text: String) -> Date? {
        try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: text.contains(".")))
    }
}

/// Exponential backoff with full jitter: before attempt `n` (the first retry is 1), a wait drawn
/// uniformly from zero to `base · 2^(n-1)`, capped.
public struct Backoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration = .milliseconds(50), cap: Duration = .seconds(2)) {
        self.base = base
        self.cap = cap
    }

    /// The ceiling of the wait before retry `n`.
    public func ceiling(retry n: Int) -> Duration {
        let shift = min(max(0, n - 1), 20)
        return min(cap, base * (1 << shift))
    }

    /// A wait for retry `n`, `unit` being a uniform draw from 0..<1.
    public func wait(retry n: Int, unit: Double) -> Duration {
        ceiling(retry: n) * max(0, min(1, unit))
    }
}
