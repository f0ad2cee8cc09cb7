import Foundation
import GatehouseCore
import GatehouseLink
import GatehouseSecurity
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Serves the keyholder on a Unix socket. A connection is accepted only from an allowed
/// user id (checked with `SO_PEERCRED`) that presents the per-boot secret; it then
/// carries any number of exchanges, one at a time (the front keeps connections open and
/// reuses them). If the front closes a connection mid-answer, the upstream request is
/// cancelled.
///
/// Threat assumptions: the socket file is created 0600 in a 0700 directory; any local
/// process that could still reach it must also know the secret, which only the front
/// and the keyholder hold (passed over a pipe, never in arguments or the environment).
/// The ledger as the keyholder serves it to the front (GatehouseLedger implements it).
public protocol KeyholderLedger: Sendable {
    /// Answers one of the front's ledger questions.
    func answer(_ question: JSONValue) async -> JSONValue
    /// Takes a request record the front forwarded (its usage row).
    func observe(request fields: AuditFields)
}

public struct KeyholderServer: Sendable {
    let keyholder: Keyholder
    let ledger: (any KeyholderLedger)?
    let socketPath: String
    let secret: [UInt8]
    let allowedUIDs: Set<UInt32>
    let logger: Logger
    let maxRequestBytes: Int
    let socketMode: mode_t

    public init(
        keyholder: Keyholder, socketPath: String, secret: [UInt8], allowedUIDs: Set<UInt32>, logger: Logger,
        maxRequestBytes: Int = 64 << 20, socketMode: mode_t = 0o600, ledger: (any KeyholderLedger)? = nil
    ) {
        self.ledger = ledger
        self.socketMode = socketMode
        self.keyholder = keyholder
        self.socketPath = socketPath
        self.secret = secret
        self.allowedUIDs = allowedUIDs
        self.logger = logger
        self.maxRequestBytes = maxRequestBytes
    }

    /// Binds the socket and serves until cancelled. `onListening` runs once the socket accepts.
    ///
    /// Each connection is served by a channel handler on its event loop (``LinkServerHandler``),
    /// and its upstream request runs on the same loop: an answer crosses no thread on its way
    /// from the provider to the front.
    public func run(onListening: @Sendable () -> Void = {}) async throws {
        try? FileManager.default.removeItem(atPath: socketPath)
        let open = OpenConnections()
        let previous = umask(0o077)
        let server: any Channel
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(LinkServerHandler(server: self, open: open))
                    }
                }
                .bind(to: try SocketAddress(unixDomainSocketPath: socketPath)).get()
            umask(previous)
        } catch {
            umask(previous)
            throw error
        }
        chmod(socketPath, socketMode)
        onListening()
        defer { try? FileManager.default.removeItem(atPath: socketPath) }
        try await withTaskCancellationHandler {
            try await server.closeFuture.get()
        } onCancel: {
            server.close(promise: nil)
            open.closeAll()
        }
    }

    /// The kinds of record a front may add to the log: what it witnesses, nothing the keyholder or operators own.
    static let frontKinds: [String: AuditKind] = [
        AuditKind.request.rawValue: .request, AuditKind.authRefused.rawValue: .authRefused,
        AuditKind.sandboxBlocked.rawValue: .sandboxBlocked, AuditKind.auditDropped.rawValue: .auditDropped,
    ]

    /// Appends the front's records with actor `front`; refuses other kinds and invalid fields.
    func acceptRecords(_ payload: ByteBuffer) -> ByteBuffer {
        var accepted = 0
        var refused = 0
        if let records = try? LinkMessages.decodeRecords(payload) {
            for record in records {
                guard let kind = Self.frontKinds[record.kind], let audit = keyholder.audit,
                    (try? audit.append(kind, actor: "front", fields: record.fields)) != nil
                else {
                    refused += 1
                    continue
                }
                // What is in the audit log is in the usage store.
                if kind == .request { ledger?.observe(request: record.fields) }
                accepted += 1
            }
        } else {
            refused = 1
        }
        keyholder.metrics.frontRecords.add(["accepted"], Int64(accepted))
        if refused > 0 {
            keyholder.metrics.frontRecords.add(["refused"], Int64(refused))
            logger.warning("keyholder refused audit records from the front", metadata: ["gatehouse.audit.refused": .stringConvertible(refused)])
        }
        return JSONValue.object(["accepted": .int(Int64(accepted)), "refused": .int(Int64(refused))]).encodedBuffer()
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count, !lhs.isEmpty else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }

    /// The user id of the process at the other end of a Unix socket (`SO_PEERCRED`), read on the channel's event loop.
    static func peerUID(_ channel: any Channel, _ answer: @escaping (UInt32?) -> Void) {
        #if canImport(Glibc)
            guard let provider = channel as? any SocketOptionProvider else { return answer(nil) }
            let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
                level: .socket, name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
            future.whenComplete { answer((try? $0.get()).map { UInt32($0.uid) }) }
        #else
            answer(nil)
        #endif
    }
}

/// Linux `struct ucred` (not exported by the Glibc module without `_GNU_SOURCE`): same layout.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

