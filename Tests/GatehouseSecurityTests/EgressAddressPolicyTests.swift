import Testing

@testable import GatehouseSecurity

@Suite("Egress address policy")
struct EgressAddressPolicyTests {
    @Test("classifies addresses", arguments: [
        ("8.8.8.8", EgressAddressPolicy.Category.public), ("127.0.0.1", .loopback), ("127.9.9.9", .loopback),
        ("10.1.2.3", .private), ("172.16.0.1", .private), ("172.31.255.255", .private), ("172.32.0.1", .public),
        ("192.168.1.1", .private), ("169.254.169.254", .linkLocal), ("100.64.0.1", .sharedAddressSpace),
        ("0.0.0.0", .unspecified), ("224.0.0.1", .multicast), ("::1", .loopback), ("::", .unspecified),
        ("fe80::1", .linkLocal), ("fd00::1", .private), ("::ffff:10.0.0.1", .private), ("::ffff:8.8.4.4", .public),
        ("2606:4700::1111", .public), ("[::1]", .loopback),
    ])
    func classifies(address: String, expected: EgressAddressPolicy.Category) {
        #expect(EgressAddressPolicy.category(of: address) == expected)
    }

    @Test("names are not addresses")
    func names() {
        #expect(EgressAddressPolicy.category(of: "api.openai.com") == nil)
    }

    @Test("a provider configured at a non-public literal address or localhost is explicit", arguments: [
        ("127.0.0.1", true), ("localhost", true), ("10.0.0.5", true), ("api.openai.com", false), ("8.8.8.8", false),
    ])
    func explicit(host: String, expected: Bool) {
        #expect(EgressAddressPolicy.isExplicitlyNonPublic(host: host) == expected)
    }
}

@Suite("Address pinning")
struct AddressPinTests {
    @Test("pins the first public answer, keeps it while it is still offered, moves when it goes")
    func pinning() {
        #expect(AddressPin.decide(current: nil, answers: ["93.184.216.34", "93.184.216.35"]) == .pin("93.184.216.34"))
        #expect(AddressPin.decide(current: "93.184.216.35", answers: ["93.184.216.34", "93.184.216.35"]) == .keep)
        #expect(AddressPin.decide(current: "93.184.216.34", answers: ["151.101.1.1"]) == .pin("151.101.1.1"))
    }

    @Test("refuses a host whose answer turned private, loopback or link-local, even with the pin among them")
    func rebinding() {
        #expect(AddressPin.decide(current: "93.184.216.34", answers: ["93.184.216.34", "127.0.0.1"]) == .refuse("loopback answer"))
        #expect(AddressPin.decide(current: nil, answers: ["10.0.0.5"]) == .refuse("private answer"))
        #expect(AddressPin.decide(current: nil, answers: ["169.254.169.254"]) == .refuse("link_local answer"))
        #expect(AddressPin.decide(current: "93.184.216.34", answers: []) == .refuse("unresolvable"))
    }
}
