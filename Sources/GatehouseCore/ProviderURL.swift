import Foundation

/// The parts of a provider's configured base URL that the gateway trusts.
public enum ProviderURL {
    /// The host as the URL gives it, which is what DNS and TLS take: an internationalised name
    /// stays in its `xn--` form (`URLComponents.host` would decode it to Unicode, through ICU), an
    /// IPv6 literal loses its brackets, and percent-escapes are decoded. Nil when that leaves
    /// nothing, anything but printable ASCII, or a character that ends a host (`/ ? # @ [ ] \`,
    /// or `:` outside an IPv6 literal).
    public static func host(of components: URLComponents) -> String? {
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
