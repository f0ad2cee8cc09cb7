import Testing

@testable import GatehousePolicy

@Suite("PII scanner: emails, phones, cards, IBANs, SSNs, IP addresses and names")
struct PIIScannerTests {
    let scanner = PIIScanner()

    @Test(
        "finds each kind of personal data, and only its own bytes",
        arguments: [
            ("write to jane.doe@example.com today", "jane.doe@example.com", FindingType.email),
            ("a+tag@mail.example.co.uk", "a+tag@mail.example.co.uk", .email),
            ("Mail: ops@example.org.", "ops@example.org", .email),
            ("<first_last-99@sub-domain.example.io>", "first_last-99@sub-domain.example.io", .email),
            ("call +1 415 555 0100", "+1 415 555 0100", .phone),
            ("+44 20 7946 0958", "+44 20 7946 0958", .phone),
            ("tel:+14155550100", "+14155550100", .phone),
            ("+1 (415) 555-0100", "+1 (415) 555-0100", .phone),
            ("+1-415-555-0100", "+1-415-555-0100", .phone),
            ("+33 1 23 45 67 89", "+33 1 23 45 67 89", .phone),
            ("+49 (0)30 1234567", "+49 (0)30 1234567", .phone),
            ("Call +1 415 555 0100 24/7", "+1 415 555 0100", .phone),
            ("phone: (415) 555-0100", "(415) 555-0100", .phone),
            ("415-555-0100", "415-555-0100", .phone),
            ("415.555.0100", "415.555.0100", .phone),
            ("ring 020 7946 0958 now", "020 7946 0958", .phone),
            ("1-800-555-0100", "1-800-555-0100", .phone),
            ("01 23 45 67 89", "01 23 45 67 89", .phone),
            ("call 415-555-0100 24 hours a day", "415-555-0100", .phone),
            ("card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111", .creditCard),
            ("4111-1111-1111-1111", "4111-1111-1111-1111", .creditCard),
            ("4242424242424242", "4242424242424242", .creditCard),
            ("5555555555554444", "5555555555554444", .creditCard),
            ("2223003122003222", "2223003122003222", .creditCard),
            ("Amex 378282246310005.", "378282246310005", .creditCard),
            ("3782 822463 10005", "3782 822463 10005", .creditCard),
            ("6011111111111117", "6011111111111117", .creditCard),
            ("3566002020360505", "3566002020360505", .creditCard),
            ("36227206271667", "36227206271667", .creditCard),
            ("pay to DE89 3704 0044 0532 0130 00, thanks", "DE89 3704 0044 0532 0130 00", .iban),
            ("DE89370400440532013000", "DE89370400440532013000", .iban),
            ("GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32", .iban),
            ("FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606", .iban),
            ("NL91ABNA0417164300", "NL91ABNA0417164300", .iban),
            ("CH9300762011623852957", "CH9300762011623852957", .iban),
            ("SSN 123-45-6789.", "123-45-6789", .usSSN),
            ("078-05-1120", "078-05-1120", .usSSN),
            ("from 192.168.1.10", "192.168.1.10", .ipAddress),
            ("10.0.0.1:8080", "10.0.0.1", .ipAddress),
            ("mask 255.255.255.0.", "255.255.255.0", .ipAddress),
            ("(10.1.2.3)", "10.1.2.3", .ipAddress),
            ("2001:db8::1", "2001:db8::1", .ipAddress),
            ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", .ipAddress),
            ("via fe80::1ff:fe23:4567:890a.", "fe80::1ff:fe23:4567:890a", .ipAddress),
            ("localhost is ::1", "::1", .ipAddress),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1", .ipAddress),
            ("[2001:db8::8a2e:370:7334]:443", "2001:db8::8a2e:370:7334", .ipAddress),
        ])
    func findsOne(text: String, match: String, type: FindingType) throws {
        let range = try #require(byteRange(of: match, in: text))
        #expect(scanner.scan(text) == [Finding(type, range)])
    }

    @Test(
        "finds nothing in numbers, dates, versions, hashes and addresses that are not personal data",
        arguments: [
            "4111 1111 1111 1112", "4111111111111112", "5555-5555-5555-4445",
            "I counted 1234567 sheep, 42 goats and 3.14159 cows in 2024",
            "at 1700000000, order 12345678901, $1,299.99, 10 20 30 40 50",
            "2024-01-15", "on 2024-01-15 10:30:00 UTC", "15.01.2024 at 12:30:45", "2024-01-15 2024-02-20",
            "v1.2.3", "version 1.2.3.4.5", "node v20.11.1", "1.2.3", "ISBN 978-3-16-148410-0",
            "DE88 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 33", "DE89370400440532013001",
            "000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "123 45 6789",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "356a192b7913b04c54574d18c28d46e6395428ab", "123e4567-e89b-12d3-a456-426614174000",
            "user@localhost", "@mention", "a@b", "x@1.23",
            "256.1.1.1", "std::vector, Foo::bar(), dead::beef, ::, 12:30:45", "00:1A:2B:3C:4D:5E",
            "+5 points", "call 555-0100",
        ])
    func findsNothing(text: String) {
        #expect(scanner.scan(text) == [])
    }

    @Test("orders findings by position, and a card is not also a phone")
    func orderedWithoutOverlaps() throws {
        let text = "card 4111 1111 1111 1111, call +1 415 555 0100, mail a@b.io, from 10.0.0.1"
        #expect(
            scanner.scan(text) == [
                Finding(.creditCard, try #require(byteRange(of: "4111 1111 1111 1111", in: text))),
                Finding(.phone, try #require(byteRange(of: "+1 415 555 0100", in: text))),
                Finding(.email, try #require(byteRange(of: "a@b.io", in: text))),
                Finding(.ipAddress, try #require(byteRange(of: "10.0.0.1", in: text))),
            ])
        #expect(scanner.scan("4111-1111-1111-1111") == [Finding(.creditCard, 0..<19)])
    }

    @Test("finds configured names as whole words in any case, including non-ASCII ones")
    func names() throws {
        let scanner = PIIScanner(names: ["Alice Martin", " Bob ", "Zoë", "", "bob"])
        let text = "Ask alice martin or BOB's team; Bobby and bob2 are not names here, Zoë and ZOË are."
        var expected: [Finding] = []
        for match in ["alice martin", "BOB", "Zoë", "ZOË"] {
            expected.append(Finding(.name, try #require(byteRange(of: match, in: text))))
        }
        #expect(scanner.scan(text) == expected)
        #expect(scanner.scan("alice.martin@example.com") == [Finding(.email, 0..<24)])
        #expect(PIIScanner().scan("Alice Martin and Bob") == [])
    }

    @Test("reports UTF-8 byte offsets")
    func byteOffsets() {
        let text = "Grüße 🌍 an jane@example.com"
        #expect(scanner.scan(text) == [Finding(.email, byteRange(of: "jane@example.com", in: text) ?? 0..<0)])
        #expect(byteRange(of: "jane", in: text)?.lowerBound == 16)
    }
}
