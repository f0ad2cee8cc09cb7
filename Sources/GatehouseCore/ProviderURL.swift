import Foundation

/// A provider's configured base URL, as the gateway trusts it: absolute http(s), a host, and
/// no query, fragment or user info. The configuration is checked with it and the keyholder
/// connects with it, so the two cannot disagree.
public struct ProviderURL: Sendable, Equatable {
    /// `http` or `https`.
    public let scheme: String
    /// The host as the URL gives it, which is what DNS and TLS take: an internationalised name
    /// stays in its `xn--` form (`URLComponents.host` would decode it to Unicode, through ICU), an
    /// IPv6 literal loses its brackets, and percent-escapes are decoded.
    public let host: String
    public let port: Int
    /// The path prefix of the API (`/v1`, `/v1beta`, or empty), percent-encoded, without a trailing slash.
    public let basePath: String

    public enum Problem: Error, Sendable {
        /// Not an absolute http(s) URL with a usable host.
        case notHTTP
        /// A query, fragment or user info.
        case extraParts
    }

    public init(_ text: String) throws(Problem) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = Self.host(of: components)
        else { throw .notHTTP }
        guard components.query == nil, components.fragment == nil, components.user == nil, components.password == nil
        else { throw .extraParts }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.basePath = path
    }

    /// Nil when the host is missing, or decodes to nothing, to anything but printable ASCII, or to
    /// a character that ends a host (`/ ? # @ [ ] \`, or `:` outside an IPv6 literal).
    private static func host(of components: URLComponents) -> String? {
        guard var host = components.encodedHost else { return nil }
        let literal = host.hasPrefix("[") && host.hasSuffix("]")
        if literal { host = String(host.dropFirst().dropLast()) }
        if host.contains("%") {
            guard let decoded = host.removingPercentEncoding else { return nil }
            host = decoded
        }
        let ends: Set<UInt8> = Set("/?#@[]\\".utf8)
        guard !host.isEmpty,
            host.utf8.allSatisfy({ (0x21...0x7E).contains($0) && !ends.contains($0) && (literal || $0 != UInt8(ascii: ":")) })
        else { return nil }
        return host
    }
}
