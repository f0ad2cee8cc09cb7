import GatehouseCore
import Testing

@testable import GatehouseEgress

@Suite("Provider endpoints")
struct ProviderEndpointTests {
    @Test("takes scheme, host, port and base path from the configured URL", arguments: [
        ("https://api.openai.com/v1", "https", "api.openai.com", 443, "/v1"),
        ("http://127.0.0.1:9000/v1/", "http", "127.0.0.1", 9000, "/v1"),
        ("HTTP://Example.COM", "http", "Example.COM", 80, ""),
        ("http://[::1]:8080/v1beta", "http", "::1", 8080, "/v1beta"),
        // DNS and TLS take a name's ASCII form, so an IDNA name is not decoded to Unicode.
        ("https://xn--bcher-kva.example/v1", "https", "xn--bcher-kva.example", 443, "/v1"),
        ("https://bücher.example/v1", "https", "xn--bcher-kva.example", 443, "/v1"),
        ("http://ex%41mple.com/v1", "http", "exAmple.com", 80, "/v1"),
        ("http://[fe80::1%25eth0]:8000/v1", "http", "fe80::1%eth0", 8000, "/v1"),
    ])
    func parts(url: String, scheme: String, host: String, port: Int, path: String) throws {
        let endpoint = try ProviderEndpoint(name: "p", kind: .openAICompatible, baseURL: url, keyName: nil)
        #expect(endpoint.scheme == scheme)
        #expect(endpoint.host == host)
        #expect(endpoint.port == port)
        #expect(endpoint.basePath == path)
    }

    @Test("refuses a URL that is not absolute http(s) with a host, or carries a query, fragment or user", arguments: [
        "ftp://files.example/v1", "http:///v1", "http://:80/v1", "/v1", "api.openai.com/v1",
        "https://h/v1?x=1", "https://h/v1#f", "https://user@h/v1", "https://user:pw@h/v1",
        // Escapes that decode to nothing valid, to a character that ends a host, or to Unicode.
        "http://%FF/v1", "http://a%2Fb/v1", "http://good%40evil/v1", "http://evil%3A80/v1", "http://exa%09mple/v1",
        "http://b%C3%BCcher.example/v1",
    ])
    func refused(url: String) {
        #expect(throws: EgressError.self) {
            _ = try ProviderEndpoint(name: "p", kind: .openAI, baseURL: url, keyName: nil)
        }
    }
}
