import Crypto
import Foundation
import Synchronization

/// Remembers tokens a ``TokenVerifier`` has already verified, so a caller that presents the
/// same token on every request pays for the Ed25519 signature check and the claims parsing
/// once, not on every request.
///
/// Entries are keyed by the SHA-256 of the whole token (the cache never holds a token, and a
/// lookup compares digests, so timing reveals nothing about stored tokens). An entry only
/// stands for "this exact byte string was verified by this verifier": its time window
/// (`exp`, `nbf`, with the verifier's leeway) is checked again on every hit, and a verifier
/// built from reloaded trust keys starts with an empty cache. Revocation is checked by the
/// caller on every request, cached or not. When full, the cache is emptied (a burst of new
/// tokens costs one verification each, as without a cache).
final class VerifiedTokenCache: Sendable {
    struct Entry {
        let principal: Principal
        let notBefore: TimeInterval
    }

    let capacity: Int
    private let entries = Mutex<[SHA256Digest: Entry]>([:])

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    static func key(_ token: some StringProtocol) -> SHA256Digest {
        var hasher = SHA256()
        var token = String(token)
        token.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        return hasher.finalize()
    }

    func lookup(_ key: SHA256Digest) -> Entry? {
        entries.withLock { $0[key] }
    }

    func store(_ key: SHA256Digest, _ entry: Entry) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = entry
        }
    }

    var count: Int { entries.withLock { $0.count } }
}
