import Foundation
import Testing

@testable import GatehouseSecurity

@Suite("Secret")
struct SecretTests {
    let material = "sk-fake-test-0000"

    @Test("never shows its material in descriptions, interpolation, reflection or dump")
    func redactsEverywhere() {
        let secret = Secret(utf8: material)
        var dumped = ""
        dump(secret, to: &dumped)
        let renderings = [
            String(describing: secret), "\(secret)", String(reflecting: secret), secret.debugDescription, dumped,
            "\([secret])", "\(Optional(secret) as Any)",
            String(describing: Mirror(reflecting: secret).children.map { $0 }),
        ]
        for rendering in renderings {
            #expect(!rendering.contains(material))
            #expect(!rendering.contains("fake"))
        }
        #expect(String(describing: secret) == "<redacted>")
        #expect(dumped.contains("<redacted>"))
        #expect(Mirror(reflecting: secret).children.isEmpty)
    }

    @Test("a struct holding a secret does not reveal it when printed")
    func redactedInsideOtherValues() {
        struct Holder {
            let name: String
            let key: Secret
        }
        let holder = Holder(name: "openai", key: Secret(utf8: material))
        var dumped = ""
        dump(holder, to: &dumped)
        #expect(!"\(holder)".contains(material))
        #expect(!dumped.contains(material))
    }

    @Test("gives the material back only through its accessors")
    func accessors() {
        let secret = Secret(utf8: material)
        #expect(secret.withUnsafeString { $0 } == material)
        #expect(secret.withUnsafeBytes { Array($0) } == Array(material.utf8))
        #expect(secret.byteCount == material.utf8.count)
        #expect(!secret.isEmpty)
        #expect(Secret(bytes: [UInt8]()).isEmpty)
    }

    @Test("compares by content with matches")
    func matches() {
        #expect(Secret(utf8: material).matches(Secret(bytes: Array(material.utf8))))
        #expect(!Secret(utf8: material).matches(Secret(utf8: "sk-fake-test-0001")))
        #expect(!Secret(utf8: material).matches(Secret(utf8: "sk-fake")))
    }
}
