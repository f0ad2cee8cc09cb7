import Crypto
import Foundation
import GatehouseSecurity

/// The token verifier (the first thing every request meets): an arbitrary input never verifies,
/// a real token with one character changed (where and to what the input's first bytes say) never
/// verifies, and nothing crashes.
let authorityKey = try! Curve25519.Signing.PrivateKey(rawRepresentation: Data(repeating: 7, count: 32))
let verifier = TokenVerifier(publicKeys: [TokenAuthority(signingKey: authorityKey).keyID: authorityKey.publicKey])
let minted = Array(
    try! TokenAuthority(signingKey: authorityKey).mint(subject: "fuzz", models: ["*"], ttl: 30 * 86_400).token.utf8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzToken(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    check((try? verifier.verify(String(decoding: bytes, as: UTF8.self))) == nil, "an arbitrary input verified")
    if size >= 3 {
        var token = minted
        let position = (Int(bytes[0]) | Int(bytes[1]) << 8) % token.count
        guard token[position] != bytes[2] else { return 0 }
        token[position] = bytes[2]
        check(
            (try? verifier.verify(String(decoding: token, as: UTF8.self))) == nil, "a changed token still verified")
    }
    return 0
}

/// A property that must hold; fatalError keeps its message in a release build (precondition's does not).
func check(_ condition: @autoclosure () -> Bool, _ message: String) {
    if !condition() { fatalError(message) }
}
