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

    public init(name: String, kind: ProviderKind, baseURL: String, keyName: String?) throws {
        guard let components = URLComponents(string: baseURL), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            throw EgressError.invalidBaseURL(provider: name, detail: "must be an absolute http(s) URL with a host")
        }
        guard components.query == nil, components.fragment == nil, components.user == nil, components.password == nil
        else {
            throw EgressError.invalidBaseURL(provider: name, detail: "must not contain a query, fragment or user info")
        }
        self.name = name
        self.kind = kind
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.basePath = path
        self.keyName = keyName
    }

    /// The origin, for logs and allowlists (never includes a credential).
    public var origin: String { "\(scheme)://\(host):\(port)" }

    /// The full URL of a request: this endpoint's origin and base path, then the
    /// request's segments, each percent-encoded so no segment can add a path, query or fragment.
    func url(for request: EgressRequest) throws -> String {
        var url = "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)\(basePath)"
        for segment in request.pathSegments {
            // A segment is one path component: nothing that could climb, add components, or start a query.
            guard !segment.isEmpty, segment != ".", segment != "..",
                !segment.contains(where: { "/\\?#%".contains($0) || $0.isNewline || ($0.asciiValue ?? 32) < 32 })
            else {
                throw EgressError.invalidPath(provider: name)
            }
            guard let encoded = segment.addingPercentEncoding(withAllowedCharacters: Self.segmentCharacters) else {
                throw EgressError.invalidPath(provider: name)
            }
            url += "/" + encoded
        }
        if !request.query.isEmpty {
            url += "?" + request.query.map { item in
                let name = item.name.addingPercentEncoding(withAllowedCharacters: Self.queryCharacters) ?? ""
                let value = item.value.addingPercentEncoding(withAllowedCharacters: Self.queryCharacters) ?? ""
                return "\(name)=\(value)"
            }.joined(separator: "&")
        }
        return url
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

    public var description: String {
        switch self {
        case .invalidBaseURL(let provider, let detail): return "provider '\(provider)': base_url \(detail)"
        case .invalidPath(let provider): return "provider '\(provider)': refused a request path"
        case .unknownProvider(let provider): return "no provider named '\(provider)' is configured"
        case .missingKey(let provider, let key, let underlying):
            return "provider '\(provider)': cannot unseal key '\(key)': \(underlying)"
        }
    }
}
