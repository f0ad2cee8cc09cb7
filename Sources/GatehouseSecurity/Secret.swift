import Crypto
import Foundation

/// Key material that refuses to print itself.
///
/// `description`, `debugDescription`, string interpolation, `dump` and reflection all show `<redacted>`. There is no
/// `Codable`, `Equatable` or `Hashable` conformance, so a secret cannot slip into JSON, logs or dictionary keys by
/// accident; compare with ``matches(_:)`` (constant time) and read it through the narrow accessors.
///
/// Threat assumptions: this guards against accidental disclosure (logging, error messages, debug output, crash
/// reports that reflect values). It does not defend against code that calls the accessors on purpose or that reads
/// process memory. The bytes live in one swift-crypto `SymmetricKey` buffer, which is zeroed when the last copy of
/// the secret is released; copies a caller makes inside an accessor are the caller's to limit.
public struct Secret: Sendable {
    private let storage: SymmetricKey

    /// Wraps raw bytes.
    public init(bytes: some ContiguousBytes) {
        self.storage = SymmetricKey(data: bytes)
    }

    /// Wraps the UTF-8 bytes of a string.
    public init(utf8 text: String) {
        self.storage = SymmetricKey(data: Array(text.utf8))
    }

    /// The number of bytes of key material.
    public var byteCount: Int { storage.bitCount / 8 }

    /// True when there is no key material.
    public var isEmpty: Bool { byteCount == 0 }

    /// Calls `body` with the raw bytes; the pointer must not escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes(body)
    }

    /// Calls `body` with the bytes decoded as UTF-8, for injecting a credential header; the string must not escape.
    public func withUnsafeString<R>(_ body: (String) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { bytes in
            try body(String(decoding: bytes, as: UTF8.self))
        }
    }

    /// Compares two secrets in time independent of their contents (lengths may differ observably).
    public func matches(_ other: Secret) -> Bool {
        storage == other.storage
    }
}

extension Secret: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: EmptyCollection<Mirror.Child>()) }
}
