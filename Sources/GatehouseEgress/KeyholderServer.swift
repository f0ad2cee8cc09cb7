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
public struct KeyholderServer: Sendable {
    let keyholder: Keyholder
    let socketPath: String
    let secret: [UInt8]
    let allowedUIDs: Set<UInt32>
    let logger: Logger
    let maxRequestBytes: Int
    let socketMode: mode_t

    public init(
        keyholder: Keyholder, socketPath: String, secret: [UInt8], allowedUIDs: Set<UInt32>, logger: Logger,
        maxRequestBytes: Int = 64 << 20, socketMode: mode_t = 0o600
    ) {
        self.socketMode = socketMode
        self.keyholder = keyholder
        self.socketPath = socketPath
        self.secret = secret
        self.allowedUIDs = allowedUIDs
        self.logger = logger
        self.maxRequestBytes = maxRequestBytes
    }

    /// Binds the socket and serves until cancelled. `onListening` runs once the socket accepts.
    public func run(onListening: @Sendable () -> Void = {}) async throws {
        try? FileManager.default.removeItem(atPath: socketPath)
        let previous = umask(0o077)
        let server: NIOAsyncChannel<NIOAsyncChannel<LinkFrame, LinkFrame>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .bind(to: try SocketAddress(unixDomainSocketPath: socketPath)) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LinkFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(LinkFrameEncoder()))
                        return try NIOAsyncChannel<LinkFrame, LinkFrame>(wrappingChannelSynchronously: channel)
                    }
                }
            umask(previous)
        } catch {
            umask(previous)
            throw error
        }
        chmod(socketPath, socketMode)
        onListening()
        defer { try? FileManager.default.removeItem(atPath: socketPath) }
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask { await self.serve(connection) }
                }
            }
        }
    }

    func serve(_ connection: NIOAsyncChannel<LinkFrame, LinkFrame>) async {
        let uid = await Self.peerUID(connection.channel)
        guard let uid, allowedUIDs.contains(uid) else {
            logger.warning(
                "keyholder refused a connection from another user",
                metadata: ["gatehouse.egress.peer_uid": .string(uid.map(String.init) ?? "unknown")])
            keyholder.record(.egressRefused, ["reason": .string("link_peer_refused"), "peer_uid": .string(uid.map(String.init) ?? "unknown")])
            keyholder.metrics.linkConnections.add(["peer_refused"])
            try? await connection.channel.close()
            return
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                guard case .hello(let presented)? = try await frames.next(), Self.constantTimeEqual(presented, secret) else {
                    logger.warning("keyholder refused a connection without the link secret")
                    keyholder.record(.egressRefused, ["reason": .string("link_secret_refused")])
                    keyholder.metrics.linkConnections.add(["secret_refused"])
                    return
                }
                keyholder.metrics.linkConnections.add(["accepted"])
                try await outbound.write(.helloAccepted)
                // The front closing the connection is how it cancels: stop the request in flight.
                let inFlight = InFlight()
                connection.channel.closeFuture.whenComplete { _ in inFlight.cancel() }
                while let frame = try await frames.next() {
                    switch frame {
                    case .requestHead(let head):
                        var request = try LinkMessages.decodeRequestHead(head)
                        var body = ByteBuffer()
                        reading: while true {
                            switch try await frames.next() {
                            case .requestBody(var chunk)?:
                                guard body.readableBytes + chunk.readableBytes <= maxRequestBytes else { return }
                                body.writeBuffer(&chunk)
                            case .requestEnd?: break reading
                            default: return
                            }
                        }
                        if body.readableBytes > 0 { request.body = body }
                        let complete = request
                        let task = Task { try await self.forward(complete, to: outbound) }
                        inFlight.start(task)
                        defer { inFlight.finish() }
                        try await task.value
                    case .records(let payload):
                        try await outbound.write(.recordsAccepted(acceptRecords(payload)))
                    case .metricsRequest:
                        try await outbound.write(.metricsReport(ByteBuffer(string: keyholder.metrics.render())))
                    default:
                        return
                    }
                }
            }
        } catch {
            logger.debug("keyholder link closed", metadata: ["gatehouse.egress.error": .string("\(type(of: error))")])
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

    func forward(_ request: EgressRequest, to outbound: NIOAsyncChannelOutboundWriter<LinkFrame>) async throws {
        let response: EgressResponse
        do {
            response = try await keyholder.send(request)
        } catch let error as GatewayError {
            try await outbound.write(.failure(LinkMessages.encodeFailure(error)))
            return
        }
        try await outbound.write(.responseHead(LinkMessages.encodeResponseHead(status: response.status, headers: response.headers)))
        do {
            var forwarded = 0
            for try await chunk in response.body {
                forwarded += chunk.readableBytes
                guard forwarded <= keyholder.limits.maxResponseBytes else {
                    keyholder.refuse("response_too_large", provider: request.provider, detail: "\(keyholder.limits.maxResponseBytes) bytes")
                    throw GatewayError(
                        .upstreamFailure, "The provider's answer exceeded \(keyholder.limits.maxResponseBytes) bytes.",
                        code: "upstream_too_large")
                }
                try await outbound.write(.responseBody(chunk))
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as GatewayError {
            try await outbound.write(.failure(LinkMessages.encodeFailure(error)))
            return
        } catch {
            let lost = GatewayError(.upstreamFailure, "The connection to the provider was lost mid-stream.", code: "upstream_stream_lost")
            try await outbound.write(.failure(LinkMessages.encodeFailure(lost)))
            return
        }
        try await outbound.write(.responseEnd)
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count, !lhs.isEmpty else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }

    /// The user id of the process at the other end of a Unix socket (`SO_PEERCRED`).
    static func peerUID(_ channel: any Channel) async -> UInt32? {
        #if canImport(Glibc)
            guard let provider = channel as? any SocketOptionProvider else { return nil }
            let future: EventLoopFuture<PeerCredentials> = channel.eventLoop.flatSubmit {
                provider.unsafeGetSocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_PEERCRED))
            }
            return (try? await future.get()).map { UInt32($0.uid) }
        #else
            return nil
        #endif
    }
}

/// Linux `struct ucred` (not exported by the Glibc module without `_GNU_SOURCE`): same layout.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// The request a connection is serving, cancelled when the connection closes.
private final class InFlight: @unchecked Sendable {
    private let lock = NIOLock()
    private var task: Task<Void, any Error>?
    private var closed = false

    func start(_ task: Task<Void, any Error>) {
        let cancelNow = lock.withLock {
            self.task = task
            return closed
        }
        if cancelNow { task.cancel() }
    }

    func finish() { lock.withLock { task = nil } }

    func cancel() {
        let task = lock.withLock {
            closed = true
            return self.task
        }
        task?.cancel()
    }
}
