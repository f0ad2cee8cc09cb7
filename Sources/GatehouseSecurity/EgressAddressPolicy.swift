import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Which network addresses the keyholder may connect to.
///
/// Public addresses are allowed. Loopback, private (RFC 1918, unique-local), link-local
/// (including the cloud metadata address 169.254.169.254), carrier-grade NAT, unspecified
/// and multicast addresses are refused — unless the operator configured the provider at
/// such an address literally (`http://127.0.0.1:4010`, `http://10.0.0.5:8000`) or as
/// `localhost`. A public host name whose DNS answer turns private is refused: that is how
/// DNS rebinding and SSRF against internal services work.
public enum EgressAddressPolicy {
    public enum Category: String, Sendable {
        case `public`, loopback, `private`, linkLocal = "link_local", sharedAddressSpace = "shared_address_space"
        case unspecified, multicast, reserved
    }

    /// Classifies a numeric IPv4 or IPv6 address; `nil` if `text` is not one.
    public static func category(of text: String) -> Category? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            let bytes = withUnsafeBytes(of: v4.s_addr) { Array($0) }
            return category(ipv4: bytes)
        }
        var v6 = in6_addr()
        let unbracketed = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        if inet_pton(AF_INET6, unbracketed, &v6) == 1 {
            let bytes = withUnsafeBytes(of: v6) { Array($0) }
            return category(ipv6: bytes)
        }
        return nil
    }

    static func category(ipv4 b: [UInt8]) -> Category {
        switch (b[0], b[1]) {
        case (0, _): return .unspecified
        case (127, _): return .loopback
        case (10, _), (192, 168): return .private
        case (172, 16...31): return .private
        case (169, 254): return .linkLocal
        case (100, 64...127): return .sharedAddressSpace
        case (224...239, _): return .multicast
        case (240...255, _): return .reserved
        default: return .public
        }
    }

    static func category(ipv6 b: [UInt8]) -> Category {
        if b.allSatisfy({ $0 == 0 }) { return .unspecified }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return .loopback }
        // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible: judge the embedded IPv4 address.
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return category(ipv4: Array(b[12..<16])) }
        if b[0] == 0xFE && (b[1] & 0xC0) == 0x80 { return .linkLocal }
        if (b[0] & 0xFE) == 0xFC { return .private }
        if b[0] == 0xFF { return .multicast }
        return .public
    }

    /// Whether a provider configured at `host` was put on a non-public address on purpose.
    public static func isExplicitlyNonPublic(host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        if let category = category(of: host) { return category != .public }
        return false
    }

    /// The addresses `host` resolves to now (numeric strings).
    public static func resolve(host: String, port: Int) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                addresses.append(String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }
}

/// The address a provider host name is pinned to. The keyholder connects to the address
/// it checked, not to whatever a second lookup returns, so a resolver that changes its
/// answer between the check and the connection (DNS rebinding) cannot slip a private
/// address in. Each fresh lookup is judged against the current pin.
public enum AddressPin: Equatable, Sendable {
    /// The current pin is still among the (all public) answers: keep connecting there.
    case keep
    /// Connect to this address from now on (first lookup, or the old address went away).
    case pin(String)
    /// Refuse the host: no answer, or an answer that is not public.
    case refuse(String)

    public static func decide(current: String?, answers: [String]) -> AddressPin {
        guard !answers.isEmpty else { return .refuse("unresolvable") }
        for answer in answers {
            guard let category = EgressAddressPolicy.category(of: answer) else { return .refuse("unparsable answer") }
            if category != .public { return .refuse("\(category.rawValue) answer") }
        }
        if let current, answers.contains(current) { return .keep }
        return .pin(answers[0])
    }
}
