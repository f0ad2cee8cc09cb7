import Foundation

/// A failure in the sealed provider-key store or with the master key.
///
/// Messages name keys, files and key ids, never key material or the master key.
public struct KeyStoreError: Error, Sendable, Hashable, CustomStringConvertible, LocalizedError {
    /// A stable short code: `invalid_name`, `invalid_secret`, `already_exists`, `not_found`, `unseal_failed`,
    /// `seal_failed`, `invalid_file` or `invalid_master_key`.
    public let code: String
    /// A human-readable explanation for operators.
    public let message: String

    init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
    public var errorDescription: String? { message }
}
