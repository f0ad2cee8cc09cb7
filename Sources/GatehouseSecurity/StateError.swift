import Foundation

/// A failure reading or writing Gatehouse's state directory.
///
/// Messages name paths and permission modes, never file contents.
public struct StateError: Error, Sendable, Hashable, CustomStringConvertible, LocalizedError {
    /// A stable short code, safe as a log field or metric label.
    public let code: String
    /// A human-readable explanation for operators.
    public let message: String

    init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
    public var errorDescription: String? { message }

    static func io(_ action: String, _ path: String, errno code: Int32) -> StateError {
        StateError(code: "io_failed", message: "cannot \(action) '\(path)': \(String(cString: strerror(code)))")
    }

    static func notADirectory(_ path: String) -> StateError {
        StateError(code: "not_a_directory", message: "'\(path)' exists but is not a directory")
    }

    static func insecurePermissions(_ path: String, mode: mode_t, allowed: String) -> StateError {
        let octal = String(mode & 0o777, radix: 8)
        let padded = String(repeating: "0", count: max(0, 4 - octal.count)) + octal
        return StateError(
            code: "insecure_permissions",
            message: "permissions \(padded) for '\(path)' are too open: it must not be \(allowed) "
                + "(run: chmod go-rwx '\(path)'); refusing to use it"
        )
    }

    static func invalidFile(_ path: String, _ reason: String) -> StateError {
        StateError(code: "invalid_file", message: "'\(path)' is not valid: \(reason)")
    }

    static func missingFile(_ path: String, _ reason: String) -> StateError {
        StateError(code: "missing_file", message: "'\(path)' does not exist: \(reason)")
    }
}
