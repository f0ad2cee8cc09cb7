import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The process environment, read and scrubbed without ever turning a secret-looking
/// variable's value into a Swift string (which could linger in freed heap memory).
///
/// A variable is sensitive when its name looks like a credential (`*_API_KEY`, `*SECRET*`,
/// `*TOKEN*`, `*PASSWORD*`, `*CREDENTIAL*`, `*PRIVATE_KEY*`, `*ACCESS_KEY*`,
/// `GATEHOUSE_MASTER_KEY`) or its value starts like a known provider key (`sk-`, `AIza`, …).
enum ProcessEnvironment {
    static let sensitiveNameParts = ["API_KEY", "APIKEY", "SECRET", "TOKEN", "PASSWORD", "CREDENTIAL", "PRIVATE_KEY", "ACCESS_KEY", "MASTER_KEY"]
    static let sensitiveValuePrefixes = ["sk-", "sk_live_", "rk_live_", "AIza", "AKIA", "ASIA", "ghp_", "gho_", "ghs_", "github_pat_", "hf_", "gsk_", "pplx-", "xox"]

    /// Every non-sensitive variable.
    static func safeVariables() -> [String: String] {
        var result: [String: String] = [:]
        forEachEntry { entry in
            guard let split = entry.firstIndex(of: UInt8(ascii: "=")) else { return }
            let name = String(decoding: entry[..<split], as: UTF8.self)
            let value = entry[(split + 1)...]
            guard !isSensitive(name: name, value: value) else { return }
            result[name] = String(decoding: value, as: UTF8.self)
        }
        return result
    }

    /// Names of the sensitive variables present.
    static func sensitiveNames() -> [String] {
        var names: [String] = []
        forEachEntry { entry in
            guard let split = entry.firstIndex(of: UInt8(ascii: "=")) else { return }
            let name = String(decoding: entry[..<split], as: UTF8.self)
            if isSensitive(name: name, value: entry[(split + 1)...]) { names.append(name) }
        }
        return names
    }

    /// Overwrites the value of every sensitive variable in place with zeros, then unsets it.
    /// Returns the names removed (for the log, never the values).
    @discardableResult
    static func scrub() -> [String] {
        let names = sensitiveNames()
        for name in names {
            if let value = getenv(name) { memset(value, 0, strlen(value)) }
            unsetenv(name)
        }
        return names
    }

    static func isSensitive(name: String, value: UnsafeBufferPointer<UInt8>.SubSequence) -> Bool {
        let upper = name.uppercased()
        if sensitiveNameParts.contains(where: { upper.contains($0) }) { return true }
        return sensitiveValuePrefixes.contains { prefix in
            let bytes = Array(prefix.utf8)
            return value.count > bytes.count + 8 && value.prefix(bytes.count).elementsEqual(bytes)
        }
    }

    private static func forEachEntry(_ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var pointer = environ
        while let entry = pointer.pointee {
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                body(UnsafeBufferPointer(start: bytes, count: length))
            }
            pointer = pointer.advanced(by: 1)
        }
    }
}
