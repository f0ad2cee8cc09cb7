import Foundation
import GatehouseCore
import GatehouseSecurity

/// Where one configured provider lives and which credential it takes. Built from the
/// operator's configuration only; nothing in a caller's request can change it.
public struct ProviderEndpoint: Sendable {
    public let name: String
    public let kind: ProviderKind
    public let scheme: String
    public let host: String
    public let port: Int
    /// Path prefix of the API (`/v1`, `/v1beta`, or empty), without a trailing slash.
    public let basePath: String
    /// Name of the sealed key, if the provider takes one.
    public let keyName: String?
    /// A PEM file of certificate authorities trusted for this provider besides the system's (https only).
    public let caFile: String?

    public init(name: String, kind: ProviderKind, baseURL: String, keyName: String?, caFile: String? = nil) throws {
        let url: ProviderURL
        do {
            url = try ProviderURL(baseURL)
        } catch .notHTTP {
            throw EgressError.invalidBaseURL(provider: name, detail: "must be an absolute http(s) URL with a host")
        } catch {
            throw EgressError.invalidBaseURL(provider: name, detail: "must not contain a query, fragment or user info")
        }
        self.name = name
        self.kind = kind
        self.scheme = url.scheme
        self.host = url.host
        self.port = url.port
        self.basePath = url.basePath
        self.keyName = keyName
        self.caFile = url.scheme == "https" ? caFile : nil
    }

    /// The origin, for logs and allowlists (never includes a credential).
    public var origin: String { "\(scheme)://\(host):\(port)" }

    /// The full URL of a request: this endpoint's origin and base path, then the
    /// request's segments, each percent-encoded so no segment can add a path, query or fragment.
    func url(for request: EgressRequest) throws -> String {
        try "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)" + target(for: request)
    }

    /// The request target (origin form): the base path, the request's encoded segments, and its query.
    func target(for request: EgressRequest) throws -> String {
        var url = basePath
        for segment in request.pathSegments {
            guard let encoded = Self.encodeSegment(segment) else { throw EgressError.invalidPath(provider: name) }
            url += "/"
            url += encoded
        }
        if url.isEmpty { url = "/" }
        if !request.query.isEmpty {
            url += "?" + request.query.map { item in
                let name = item.name.addingPercentEncoding(withAllowedCharacters: Self.queryCharacters) ?? ""
                let value = item.value.addingPercentEncoding(withAllowedCharacters: Self.queryCharacters) ?? ""
                return "\(name)=\(value)"
            }.joined(separator: "&")
        }
        return url
    }

    /// One path segment, percent-encoded; nil for a segment that could climb, add components,
    /// or start a query (empty, `.`, `..`, or holding `/ \ ? # %`, a control character or a line break).
    static func encodeSegment(_ segment: String) -> String? {
        guard !segment.isEmpty, segment != ".", segment != ".." else { return nil }
        var ascii = true
        var plain = true
        for byte in segment.utf8 {
            if byte >= 0x80 {
                ascii = false
                break
            }
            if byte < 0x20 { return nil }
            switch byte {
            case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "?"), UInt8(ascii: "#"), UInt8(ascii: "%"): return nil
            default: if !segmentBytes[Int(byte)] { plain = false }
            }
        }
        if ascii && plain { return segment }
        guard !segment.contains(where: { "/\\?#%".contains($0) || $0.isNewline || ($0.asciiValue ?? 32) < 32 }) else {
            return nil
        }
        return segment.addingPercentEncoding(withAllowedCharacters: segmentCharacters)
    }

    /// ASCII bytes a segment may carry unencoded (`segmentCharacters`, as a table).
    private static let segmentBytes: [Bool] = (0..<128).map { byte in
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$'()*+,;=:@".utf8.contains(UInt8(byte))
    }

    /// RFC 3986 `pchar` minus `/`: unreserved, sub-delims, `:` and `@`.
    static let segmentCharacters = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$'()*+,;=:@")
    static let queryCharacters = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// The header that carries this provider kind's credential.
    var credentialHeader: String {
        switch kind {
        case .openAI, .openAICompatible: return "authorization"
        case .anthropic: return "x-api-key"
        case .gemini: return "x-goog-api-key"
        }
    }

    func credentialValue(_ secret: Secret) -> String {
        secret.withUnsafeString { key in
            credentialHeader == "authorization" ? "Bearer \(key)" : key
        }
    }
}

/// Errors of the egress itself. Messages name providers, never keys.
public enum EgressError: Error, CustomStringConvertible, Sendable {
    case invalidBaseURL(provider: String, detail: String)
    case invalidPath(provider: String)
    case unknownProvider(String)
    case missingKey(provider: String, key: String, underlying: String)
    case tlsUnavailable(provider: String, underlying: String)

    public var description: String {
        switch self {
        case .invalidBaseURL(let provider, let detail): return "provider '\(provider)': base_url \(detail)"
        case .invalidPath(let provider): return "provider '\(provider)': refused a request path"
        case .unknownProvider(let provider): return "no provider named '\(provider)' is configured"
        case .missingKey(let provider, let key, let underlying):
            return "provider '\(provider)': cannot unseal key '\(key)': \(underlying)"
        case .tlsUnavailable(let provider, let underlying):
            return "provider '\(provider)': cannot set up TLS (check ca_file): \(underlying)"
        }
    }
}
