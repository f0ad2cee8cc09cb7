import Foundation
import Testing

@testable import GatehousePolicy

/// Obviously fake credentials, built by concatenation so no source line looks like a real key.
enum FakeSecret {
    static let openAIProject = "sk-proj-" + String(repeating: "Fake1", count: 10)
    static let openAIServiceAccount = "sk-svcacct-" + String(repeating: "Fake_", count: 9) + "T3BlbkFJ"
    static let openAIAdmin = "sk-admin-" + String(repeating: "Fake-", count: 8)
    static let openAILegacy =
        "sk-" + String(repeating: "Fake", count: 5) + "T3BlbkFJ" + String(repeating: "Fake", count: 5)
    static let anthropic = "sk-ant-api03-" + String(repeating: "Fake-", count: 18) + "Fak" + "AA"
    static let anthropicAdmin = "sk-ant-admin01-" + String(repeating: "Fake_", count: 18) + "Fak" + "AA"
    static let google = "AIza" + String(repeating: "Fake", count: 8) + "_F1"
    static let awsAccessKey = "AKIA" + "FAKEFAKEFAKEFAKE"
    static let awsTemporaryKey = "ASIA" + "FAKE2345FAKE6777"
    /// The secret access key from AWS's own documentation.
    static let awsSecret = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
    static let githubRandom = "FakeFakeFakeFakeFakeFakeFake12"
    static let githubFineGrained =
        "github_pat_" + String(repeating: "F", count: 22) + "_" + String(repeating: "fake1", count: 11) + "fake"
    static let gitlab = "glpat-" + "FakeFake-FakeFake_123"
    static let slack = "xoxb-" + "1234567890-1234567890123-" + "FakeFakeFakeFakeFake"
    static let stripeLive = "sk_live_" + String(repeating: "Fake", count: 6)
    static let stripeRestricted = "rk_test_" + String(repeating: "Fake9", count: 6)
    static let huggingFace = "hf_" + String(repeating: "Fake", count: 8) + "Fk"
    static let groq = "gsk_" + String(repeating: "Fake1", count: 10) + "Fk"

    static func github(_ prefix: String, random: String = githubRandom) -> String {
        prefix + random + base62(crc32(Array(random.utf8)))
    }

    static let jwtHeader = base64URL(#"{"alg":"HS256","typ":"JWT"}"#)
    static let jwtPayload = base64URL(#"{"sub":"fake-user","name":"Test"}"#)
    static let jwt = jwtHeader + "." + jwtPayload + "." + "FakeSignature_-0123456789"

    static func privateKey(_ label: String, body: String = "MIIEFakeFakeFakeKeyBody\nFakeFakeFake==\n") -> String {
        "-----BEGIN " + label + "PRIVATE" + " KEY-----\n" + body + "-----END " + label + "PRIVATE" + " KEY-----"
    }

    /// Bit by bit, as zlib: independent of the scanner's table-driven CRC32.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~crc
    }

    static func base62(_ value: UInt32) -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        var digits: [Character] = []
        var value = value
        for _ in 0..<6 {
            digits.append(alphabet[Int(value % 62)])
            value /= 62
        }
        return String(digits.reversed())
    }

    static func base64URL(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// The UTF-8 byte range of the first `needle` in `text`.
func byteRange(of needle: String, in text: String) -> Range<Int>? {
    let haystack = Array(text.utf8)
    let pattern = Array(needle.utf8)
    guard !pattern.isEmpty, haystack.count >= pattern.count else { return nil }
    for start in 0...(haystack.count - pattern.count) where Array(haystack[start..<start + pattern.count]) == pattern {
        return start..<start + pattern.count
    }
    return nil
}

@Suite("Secret scanner: provider keys, tokens, private keys and assignments, by format")
struct SecretScannerTests {
    let scanner = SecretScanner()

    @Test(
        "finds each key format wherever it sits in the text",
        arguments: [
            (FakeSecret.openAIProject, FindingType.openAIKey), (FakeSecret.openAIServiceAccount, .openAIKey),
            (FakeSecret.openAIAdmin, .openAIKey), (FakeSecret.openAILegacy, .openAIKey),
            (FakeSecret.anthropic, .anthropicKey), (FakeSecret.anthropicAdmin, .anthropicKey),
            (FakeSecret.google, .googleAPIKey), (FakeSecret.awsAccessKey, .awsAccessKey),
            (FakeSecret.awsTemporaryKey, .awsAccessKey),
            (FakeSecret.github("ghp_"), .githubToken), (FakeSecret.github("gho_"), .githubToken),
            (FakeSecret.github("ghu_"), .githubToken), (FakeSecret.github("ghs_"), .githubToken),
            (FakeSecret.github("ghr_"), .githubToken), (FakeSecret.githubFineGrained, .githubToken),
            (FakeSecret.gitlab, .gitlabToken), (FakeSecret.slack, .slackToken),
            (FakeSecret.stripeLive, .stripeKey), (FakeSecret.stripeRestricted, .stripeKey),
            (FakeSecret.huggingFace, .huggingFaceToken), (FakeSecret.groq, .groqKey), (FakeSecret.jwt, .jwt),
        ])
    func findsKey(key: String, type: FindingType) throws {
        for text in [key, "key: \(key)\n", "export X=\"\(key)\"", "café → \(key) ✓", "(\(key)), next"] {
            let range = try #require(byteRange(of: key, in: text))
            #expect(scanner.scan(text) == [Finding(type, range)], "in \(text.debugDescription)")
        }
    }

    @Test(
        "finds nothing in look-alikes: hashes, UUIDs, code, placeholders, bad checksums, short or embedded runs",
        arguments: [
            "id 123e4567-e89b-12d3-a456-426614174000 and 550E8400-E29B-41D4-A716-446655440000",
            "commit da39a3ee5e6b4b0d3255bfef95601890afd80709 (356a192b7913b04c54574d18c28d46e6395428ab)",
            "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "blob: \(FakeSecret.awsSecret)",
            #"api_key = os.environ["OPENAI_API_KEY"]"#,
            #"password: "changeme""#,
            "token = process.env.GITHUB_TOKEN",
            #"password = getenv("DB_PASSWORD")"#,
            #"secret: "${SECRET_VALUE}""#,
            #"password: "********""#,
            #"api_key = "<your-api-key>""#,
            "apikey = your_api_key_here",
            "password = self.password_field",
            "token: {{ .Values.token }}",
            #"if password == "hunter22!x" {"#,
            "passwd=abc12",
            "password = aaaaaaaa1",
            String(FakeSecret.github("ghp_").dropLast(6)) + "000000",
            String(FakeSecret.github("gho_").dropLast()) + "Q",
            "pip install sk-learn; sk-proj-Fake1234 is too short",
            "AKIA" + "FAKEFAKE" + " is too short",
            "akia" + "fakefakefakefake" + " is lower case",
            "X" + FakeSecret.awsAccessKey + " is inside a longer run",
            FakeSecret.awsAccessKey + "FAKE" + " is too long",
            FakeSecret.google + "x" + " is too long",
            "x" + FakeSecret.huggingFace,
            FakeSecret.groq + "1",
            "xoxb-" + "FakeFake-FakeFakeFake has no numeric part",
            "sk_live_" + "Fake1234",
            "eyJhbGciOiJIUzI1NiJ9 alone, eyJzzzz.eyJzzzz.zzzz, " + FakeSecret.base64URL(#"{"typ":"JWT"}"#) + ".e30.sig",
            FakeSecret.jwtHeader + "." + FakeSecret.base64URL("[1,2]") + ".sig",
            "-----BEGIN " + "PUBLIC KEY-----\nMIIBFake\n-----END PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----",
        ])
    func findsNothing(text: String) {
        #expect(scanner.scan(text) == [])
    }

    @Test(
        "reports the value of a secret-looking assignment, in code, config and JSON",
        arguments: [
            (#"password = "Tr0ub4dor&3x""#, "Tr0ub4dor&3x"),
            ("DB_PASSWORD=s3cr3t-V4lue!", "s3cr3t-V4lue!"),
            (#"{"api_key": "q8Zr2mXw4Lp0"}"#, "q8Zr2mXw4Lp0"),
            ("clientSecret: 9f8e7d6c5b4a-xyz", "9f8e7d6c5b4a-xyz"),
            ("auth_token='Zm9vYmFyMTIz'", "Zm9vYmFyMTIz"),
            (#"apiKey => "R7tY2uI9oP3q""#, "R7tY2uI9oP3q"),
            ("client_secret := W9x!k2Lp#4Rz", "W9x!k2Lp#4Rz"),
            ("curl 'https://example.test/?access_token=Ab12Cd34Ef56&x=1'", "Ab12Cd34Ef56"),
            ("PWD: Qw3rTy!9zX, then", "Qw3rTy!9zX"),
        ])
    func findsAssignment(text: String, value: String) throws {
        let range = try #require(byteRange(of: value, in: text))
        #expect(scanner.scan(text) == [Finding(.genericSecret, range)])
    }

    @Test("reports a specific key assigned to a secret-looking name once, as the specific type")
    func prefersSpecific() throws {
        for (key, type) in [(FakeSecret.openAIProject, FindingType.openAIKey), (FakeSecret.jwt, .jwt)] {
            let text = "OPENAI_API_KEY=\"\(key)\"\ntoken: \(key)"
            let first = try #require(byteRange(of: key, in: text))
            let second = (text.utf8.count - key.utf8.count)..<text.utf8.count
            #expect(scanner.scan(text) == [Finding(type, first), Finding(type, second)])
        }
    }

    @Test("finds an AWS secret key near an access key id or its name, and not a 40-character blob alone")
    func awsSecretKeyNeedsContext() throws {
        let secret = FakeSecret.awsSecret
        let named = "aws_secret_access_key = \(secret)"
        #expect(scanner.scan(named) == [Finding(.awsSecretKey, try #require(byteRange(of: secret, in: named)))])

        let paired = "[default]\nid=\(FakeSecret.awsAccessKey)\nkey=\(secret)\n"
        #expect(
            scanner.scan(paired) == [
                Finding(.awsAccessKey, try #require(byteRange(of: FakeSecret.awsAccessKey, in: paired))),
                Finding(.awsSecretKey, try #require(byteRange(of: secret, in: paired))),
            ])

        let generic = "AWS_SECRET=\(secret)"  // also a `secret=` assignment: the specific type wins
        #expect(scanner.scan(generic) == [Finding(.awsSecretKey, try #require(byteRange(of: secret, in: generic)))])

        let far = "aws_secret_access_key is below\n" + String(repeating: "filler text ", count: 30) + secret
        #expect(scanner.scan(far) == [])
        let plain = "aws_secret_access_key = " + String(repeating: "abcdEFGH", count: 5)  // no digit
        #expect(scanner.scan(plain) == [])
    }

    @Test("checks a classic GitHub token's CRC32 checksum, computed independently here")
    func githubChecksum() {
        #expect(FakeSecret.crc32(Array("123456789".utf8)) == 0xCBF4_3926)  // the CRC-32 check value
        for random in [
            "FakeFakeFakeFakeFakeFakeFake12", "000000000000000000000000000000", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        ] {
            let token = FakeSecret.github("ghp_", random: random)
            #expect(scanner.scan(token) == [Finding(.githubToken, 0..<40)])
            var wrong = Array(token)
            wrong[10] = wrong[10] == "a" ? "b" : "a"
            #expect(scanner.scan(String(wrong)) == [])
        }
    }

    @Test(
        "covers a PEM private key through its matching END line",
        arguments: ["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "])
    func privateKeyBlock(label: String) {
        let block = FakeSecret.privateKey(label)
        let text = "key:\n\(block)\nrest"
        #expect(scanner.scan(text) == [Finding(.privateKey, 5..<5 + block.utf8.count)])
    }

    @Test("reports only the BEGIN line of a private key without its END, or with another label's END")
    func privateKeyHeaderOnly() {
        let header = "-----BEGIN " + "RSA PRIVATE" + " KEY-----"
        #expect(scanner.scan(header + "\nMIIEFake…(truncated)") == [Finding(.privateKey, 0..<header.utf8.count)])
        let mismatched = header + "\nMIIEFake\n-----END " + "EC PRIVATE" + " KEY-----"
        #expect(scanner.scan(mismatched) == [Finding(.privateKey, 0..<header.utf8.count)])
    }

    @Test("finds an unsigned JWT without the trailing dot")
    func unsignedJWT() {
        let header = FakeSecret.base64URL(#"{"alg":"none"}"#)
        let token = header + "." + FakeSecret.jwtPayload
        #expect(scanner.scan("t=" + token + ". Done") == [Finding(.jwt, 2..<2 + token.utf8.count)])
    }

    @Test("reports several findings in order, with UTF-8 byte offsets")
    func severalInOrder() throws {
        let text = "Grüße 🌍 \(FakeSecret.google) und \(FakeSecret.anthropic), password=Xy7!pQ2#mN"
        #expect(
            scanner.scan(text) == [
                Finding(.googleAPIKey, try #require(byteRange(of: FakeSecret.google, in: text))),
                Finding(.anthropicKey, try #require(byteRange(of: FakeSecret.anthropic, in: text))),
                Finding(.genericSecret, try #require(byteRange(of: "Xy7!pQ2#mN", in: text))),
            ])
    }

    @Test("finds nothing in ordinary prose and code")
    func ordinaryText() {
        let text = """
            The secret to a good token bucket is a steady refill: see RFC 6585 and the passwords chapter.
            def connect(password):  # the caller passes it in
                api_key = load_key(path)
                token = session.token
                return Client(api_key=api_key, timeout=30)
            Risk assessment (sk-2024) for task-8731; expected AKIA-style ids; ghp_ prefixes are GitHub's.
            """
        #expect(scanner.scan(text) == [])
    }
}
