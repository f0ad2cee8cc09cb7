import Foundation
import GatehouseSecurity
import Logging
import ServiceLifecycle

/// Where the front gets the keys it trusts and the tokens it must refuse.
public protocol CredentialSource: Sendable {
    var verifier: TokenVerifier { get }
    func isRevoked(_ principal: Principal) -> Bool
}

/// Fixed credentials (tests, tools).
public struct StaticCredentials: CredentialSource {
    public let verifier: TokenVerifier
    public let revocations: RevocationList

    public init(verifier: TokenVerifier, revocations: RevocationList = .empty) {
        self.verifier = verifier
        self.revocations = revocations
    }

    public func isRevoked(_ principal: Principal) -> Bool { revocations.isRevoked(principal) }
}

/// Re-reads `trust/` and `revocations/list.json` every `interval`, so revocations and new
/// signing keys take effect on a running gateway within seconds, without a restart.
///
/// Fails closed on reload errors: an unreadable revocation list or trust directory keeps
/// the previous state (and logs), never an empty one.
public final class CredentialsWatcher: CredentialSource, Service, @unchecked Sendable {
    let state: StateDirectory
    let audience: String
    let interval: Duration
    let logger: Logger
    private let lock = NSLock()
    private var currentVerifier: TokenVerifier
    private var currentRevocations: RevocationList

    public init(state: StateDirectory, audience: String, interval: Duration = .seconds(1), logger: Logger) throws {
        self.state = state
        self.audience = audience
        self.interval = interval
        self.logger = logger
        currentVerifier = try TokenVerifier.load(from: state, audience: audience)
        currentRevocations = try RevocationList.load(from: state)
    }

    public var verifier: TokenVerifier { lock.withLock { currentVerifier } }

    public func isRevoked(_ principal: Principal) -> Bool {
        lock.withLock { currentRevocations }.isRevoked(principal)
    }

    /// Reads the state directory again.
    public func reload() {
        do {
            let revocations = try RevocationList.load(from: state)
            let changed = lock.withLock {
                defer { currentRevocations = revocations }
                return currentRevocations != revocations
            }
            if changed {
                logger.notice(
                    "revocation list reloaded",
                    metadata: [
                        "gatehouse.revoked.token_ids": .stringConvertible(revocations.tokenIDs.count),
                        "gatehouse.revoked.subjects": .stringConvertible(revocations.subjects.count),
                    ])
            }
        } catch {
            logger.error("cannot reload the revocation list; keeping the previous one", metadata: ["gatehouse.error": .string("\(error)")])
        }
        do {
            let verifier = try TokenVerifier.load(from: state, audience: audience)
            let changed = lock.withLock {
                defer { currentVerifier = verifier }
                return currentVerifier.keyIDs != verifier.keyIDs
            }
            if changed {
                logger.notice("trusted signing keys reloaded", metadata: ["gatehouse.trust.keys": .string(verifier.keyIDs.joined(separator: ","))])
            }
        } catch {
            logger.error("cannot reload trusted keys; keeping the previous ones", metadata: ["gatehouse.error": .string("\(error)")])
        }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                self.reload()
            }
        }
    }
}
