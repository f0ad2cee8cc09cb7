import Crypto

/// The SHA-256 of content fed in pieces (a prompt, a streamed completion), for audit
/// records that must identify content without holding it.
public struct ContentDigest: Sendable {
    private var hasher = SHA256()
    public private(set) var byteCount = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        byteCount += bytes.count
    }

    /// `sha256:` + lower-case hex, as ``AuditValue/sha256(_:)`` writes it.
    public func finalize() -> AuditValue {
        .string(Hex.encode(hasher.finalize(), prefix: "sha256:"))
    }
}
