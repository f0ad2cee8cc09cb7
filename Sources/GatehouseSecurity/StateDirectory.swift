import Foundation

/// The directory that holds Gatehouse's keys: token signing keys, trusted public keys, sealed provider keys and the
/// master key.
///
/// Layout:
/// ```
/// <state>/              0700
///   authority/          0700  <kid>.key (0600): Ed25519 private signing keys; `current` names the active kid
///   trust/              0755  <kid>.pub (0644): Ed25519 public keys the gateway trusts
///   keys/               0700  <name>.json (0600): sealed provider keys
///   master.key          0600  key-encryption key, unless GATEHOUSE_MASTER_KEY is set
/// ```
///
/// Threat assumptions: the directory belongs to the operator's account and other local users must not read it.
/// Everything secret is created owner-only, and files holding secrets are refused when their mode grants group or
/// others any permission (as ssh does). Deployments that separate the gateway from the token authority copy only
/// `trust/` to the gateway host; the gateway reads nothing from `authority/`.
public struct StateDirectory: Sendable, Hashable, CustomStringConvertible {
    /// The root of the state directory.
    public let url: URL

    /// A state directory at `path`; a leading `~` is expanded.
    public init(path: String) {
        let expanded = NSString(string: path).expandingTildeInPath
        self.url = URL(fileURLWithPath: expanded, isDirectory: true).standardizedFileURL
    }

    /// A state directory at a file URL.
    public init(url: URL) {
        self.url = url.standardizedFileURL
    }

    /// Picks the state directory from the environment.
    ///
    /// Order: `GATEHOUSE_STATE`, else `$XDG_STATE_HOME/gatehouse` (absolute paths only, per the XDG spec),
    /// else `$HOME/.local/state/gatehouse`. Empty variables count as unset.
    public static func resolveDefault(environment: [String: String]) -> StateDirectory {
        func value(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        if let explicit = value("GATEHOUSE_STATE") {
            return StateDirectory(path: explicit)
        }
        if let xdg = value("XDG_STATE_HOME"), xdg.hasPrefix("/") {
            return StateDirectory(url: URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("gatehouse"))
        }
        let home = value("HOME") ?? NSHomeDirectory()
        return StateDirectory(
            url: URL(fileURLWithPath: home, isDirectory: true)
                .appendingPathComponent(".local/state/gatehouse", isDirectory: true)
        )
    }

    /// Creates the root directory with mode 0700 if it does not exist yet.
    public func prepare() throws {
        try FileSystem.makeDirectory(url, mode: 0o700)
    }

    /// Private Ed25519 signing keys and the `current` pointer.
    public var authorityDirectory: URL { url.appendingPathComponent("authority", isDirectory: true) }
    /// Public keys the gateway trusts for token verification.
    public var trustDirectory: URL { url.appendingPathComponent("trust", isDirectory: true) }
    /// Sealed provider keys.
    public var keysDirectory: URL { url.appendingPathComponent("keys", isDirectory: true) }
    /// The key-encryption key file.
    /// `revocations/list.json`: revoked token ids and subjects, read by running gateways.
    public var revocationsDirectory: URL { url.appendingPathComponent("revocations", isDirectory: true) }

    /// Creates `revocations/` so a sandboxed front can be granted it before the first revocation exists.
    public func prepareRevocations() throws { try prepare(.revocations) }

    public var masterKeyFile: URL { url.appendingPathComponent("master.key", isDirectory: false) }

    public var description: String { url.path }

    /// A subdirectory with its intended mode.
    enum Subdirectory {
        case authority, trust, keys, revocations

        var mode: mode_t {
            switch self {
            case .authority, .keys: 0o700
            case .trust, .revocations: 0o755
            }
        }
    }

    /// Creates the root and one subdirectory on demand; returns the subdirectory.
    @discardableResult
    func prepare(_ subdirectory: Subdirectory) throws -> URL {
        try prepare()
        let target =
            switch subdirectory {
            case .authority: authorityDirectory
            case .trust: trustDirectory
            case .keys: keysDirectory
            case .revocations: revocationsDirectory
            }
        try FileSystem.makeDirectory(target, mode: subdirectory.mode)
        return target
    }
}
