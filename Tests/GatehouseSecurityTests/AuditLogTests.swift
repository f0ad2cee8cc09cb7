import Crypto
import Foundation
import Testing

@testable import GatehouseSecurity

/// Options that never flush on their own, so a test decides exactly what reaches the disk.
let auditManualFlush = AuditWriter.Options(flushInterval: .seconds(3600), maxPending: 100_000, checkpointEvery: 100_000)

/// Writes `count` request records through one writer, flushing (and so checkpointing) after each of `flushAfter`.
@discardableResult
func auditWriteRecords(
    _ state: StateDirectory, count: Int, from first: Int = 1, flushAfter: Set<Int> = [], close: Bool = true
) throws -> AuditWriter {
    let writer = try AuditWriter.open(state: state, actor: "test", options: auditManualFlush)
    for index in first..<(first + count) {
        try writer.append(
            .request, fields: ["n": .int(index), "model": "sim-gpt", "prompt_sha256": .sha256(utf8: "prompt \(index)")])
        if flushAfter.contains(index) { try writer.flush() }
    }
    if close { try writer.close() }
    return writer
}

func auditLogLines(_ state: StateDirectory) throws -> [String] {
    let text = try String(contentsOf: AuditPaths(state: state).log, encoding: .utf8)
    return text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
}

func auditWriteLog(_ lines: [String], _ state: StateDirectory) throws {
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: AuditPaths(state: state).log)
}

func auditVerify(_ state: StateDirectory) -> AuditVerification {
    AuditVerifier.verify(paths: AuditPaths(state: state))
}

/// Re-encodes a line with `change` applied to its parsed record, keeping (or recomputing) the hash.
func auditEdit(_ line: String, rehash: Bool, _ change: (inout [String: AuditValue]) -> Void) throws -> String {
    let record = try #require(AuditRecord.parse(line: Array(line.utf8)))
    var fields = record.fields
    change(&fields)
    let edited = AuditRecord(
        seq: record.seq, time: record.time, kind: record.kind, actor: record.actor, fields: AuditFields(fields),
        prev: record.prev)
    if rehash { return String(decoding: edited.line, as: UTF8.self) }
    var object = try #require(AuditJSON.parse(edited.line))
    if case .object(var members) = object {
        members["hash"] = .string(record.hash)
        object = .object(members)
    }
    return String(decoding: object.canonical, as: UTF8.self)
}

@Suite("Audit log: writing and the hash chain")
struct AuditLogTests {
    @Test("a clean log verifies, with owner-only files and a signed checkpoint")
    func cleanLog() throws {
        try withTemporaryState { state in
            try auditWriteRecords(state, count: 12, flushAfter: [5])
            let paths = AuditPaths(state: state)
            #expect(try mode(of: paths.directory) == 0o700)
            #expect(try mode(of: paths.log) == 0o600)
            #expect(try mode(of: paths.signingKey) == 0o600)
            #expect(try mode(of: paths.checkpoints) == 0o600)
            let result = auditVerify(state)
            #expect(result.problem == nil)
            #expect(result.recordCount == 12)
            #expect(result.latestCheckpoint?.size == 12)
            #expect(result.validCheckpoints.map { $0.checkpoint?.size } == [5, 12, 12])
            #expect(result.warnings.isEmpty)
        }
    }

    @Test("records are canonical JSON lines chained from the genesis value")
    func recordFormat() throws {
        try withTemporaryState { state in
            let writer = try AuditWriter.open(state: state, actor: "cli:alice", options: auditManualFlush)
            try writer.append(.tokenMinted, fields: ["token_id": "0123456789abcdef0123456789abcdef", "ttl_s": 900])
            try writer.append(.keyAdded, actor: "cli:bob", fields: ["name": "openai-prod"])
            try writer.close()
            let lines = try auditLogLines(state)
            #expect(lines.count == 2)
            let first = try #require(AuditRecord.parse(line: Array(lines[0].utf8)))
            #expect(first.seq == 1 && first.kind == "token.minted" && first.actor == "cli:alice")
            #expect(first.prev == AuditRecord.genesis)
            #expect(first.hash == first.computedHash)
            #expect(lines[0].hasPrefix("{\"actor\":\"cli:alice\",\"fields\":{\"token_id\":\"0123456789abcdef"))
            #expect(
                lines[0].contains("\"ttl_s\":900},\"hash\":\"\(first.hash)\",\"kind\":\"token.minted\",\"prev\":\""))
            #expect(!lines[0].contains(" "))
            let second = try #require(AuditRecord.parse(line: Array(lines[1].utf8)))
            #expect(second.seq == 2 && second.actor == "cli:bob")
            #expect(second.prev == Hex.encode(SHA256.hash(data: Data(lines[0].utf8))))
            // RFC 3339 UTC with milliseconds.
            #expect(first.time.count == 24 && first.time.hasSuffix("Z"))
            #expect(try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(first.time) <= Date())
        }
    }

    @Test("a writer that is dropped without flushing loses only the unflushed records")
    func crashLosesOnlyUnflushed() throws {
        try withTemporaryState { state in
            do {
                let writer = try auditWriteRecords(state, count: 10, flushAfter: [7], close: false)
                #expect(writer.pendingCount == 3)
                // The process "crashes": the writer goes away with records 8-10 still in memory.
            }
            let lines = try auditLogLines(state)
            #expect(lines.count == 7)
            let result = auditVerify(state)
            #expect(result.problem == nil)
            #expect(result.recordCount == 7)
            #expect(result.tornTail == nil)
            // A new writer continues the chain.
            try auditWriteRecords(state, count: 2, from: 11)
            #expect(auditVerify(state).problem == nil)
            #expect(auditVerify(state).recordCount == 9)
        }
    }

    @Test("a partially written last line is reported as a torn tail, and the next writer cuts it off")
    func tornTail() throws {
        try withTemporaryState { state in
            try auditWriteRecords(state, count: 6, flushAfter: [])
            let paths = AuditPaths(state: state)
            let whole = try Data(contentsOf: paths.log)
            // A crash in the middle of appending record 7: 40 bytes of it reached the file, no checkpoint did.
            let sixth = try auditLogLines(state)[5]
            let seventh = String(
                decoding: AuditRecord(
                    seq: 7, time: "2025-01-31T12:00:00.000Z", kind: "request", actor: "test", fields: ["n": 7],
                    prev: Hex.encode(SHA256.hash(data: Data(sixth.utf8)))
                ).line, as: UTF8.self)
            try (whole + Data(seventh.utf8.prefix(40))).write(to: paths.log)

            let result = auditVerify(state)
            #expect(result.problem == nil)
            #expect(result.recordCount == 6)
            let torn = try #require(result.tornTail)
            #expect(torn.afterRecord == 6 && torn.byteCount == 40)
            #expect(result.warnings.contains { $0.contains("partial line of 40 bytes after record 6") })

            try auditWriteRecords(state, count: 1, from: 8)
            let repaired = auditVerify(state)
            #expect(repaired.problem == nil)
            #expect(repaired.tornTail == nil)
            #expect(repaired.recordCount == 8)
            let recovery = try #require(AuditRecord.parse(line: Array(try auditLogLines(state)[6].utf8)))
            #expect(recovery.kind == "audit.recovered")
            #expect(recovery.fields["discarded_bytes"] == .int(40))
            #expect(recovery.fields["discarded_sha256"] == .sha256(Data(seventh.utf8.prefix(40))))
        }
    }

    @Test("two writers on the same file produce one valid chain")
    func twoWriters() throws {
        try withTemporaryState { state in
            let options = AuditWriter.Options(
                flushInterval: .milliseconds(20), maxPending: 7, checkpointEvery: 25, checkpointInterval: .seconds(3600)
            )
            let first = try AuditWriter.open(state: state, actor: "gateway", options: options)
            let second = try AuditWriter.open(state: state, actor: "keyholder", options: options)
            DispatchQueue.concurrentPerform(iterations: 2) { lane in
                let writer = lane == 0 ? first : second
                for index in 0..<150 {
                    try? writer.append(.egressConnect, fields: ["lane": .int(lane), "n": .int(index)])
                    if index % 40 == 39 { try? writer.flush() }
                }
            }
            try first.close()
            try second.close()
            let result = auditVerify(state)
            #expect(result.problem == nil)
            #expect(result.recordCount == 300)
            #expect(result.latestCheckpoint?.size == 300)
            let records = try auditLogLines(state).compactMap { AuditRecord.parse(line: Array($0.utf8)) }
            #expect(Set(records.map(\.actor)) == ["gateway", "keyholder"])
            #expect(records.map(\.seq) == Array(1...300))
            // Each writer's own records keep their order.
            for actor in ["gateway", "keyholder"] {
                let numbers = records.filter { $0.actor == actor }.compactMap { record -> Int64? in
                    if case .int(let n)? = record.fields["n"] { return n }
                    return nil
                }
                #expect(numbers == Array(0..<150))
            }
        }
    }

    @Test("queued records reach the disk after maxPending records without an explicit flush")
    func flushesAtMaxPending() async throws {
        try await withTemporaryAuditState { state in
            let writer = try AuditWriter.open(
                state: state, actor: "test", options: .init(flushInterval: .seconds(3600), maxPending: 4))
            for index in 0..<4 { try writer.append(.request, fields: ["n": .int(index)]) }
            try await auditWaitUntil { (try? auditLogLines(state).count) == 4 }
            #expect(writer.pendingCount == 0)
            try writer.close()
        }
    }

    @Test("queued records reach the disk within the flush interval")
    func flushesOnInterval() async throws {
        try await withTemporaryAuditState { state in
            let writer = try AuditWriter.open(
                state: state, actor: "test", options: .init(flushInterval: .milliseconds(50), maxPending: 1000))
            try writer.append(.configLoaded, fields: ["config_sha256": .sha256(utf8: "server: {}")])
            #expect(writer.pendingCount == 1)
            try await auditWaitUntil { (try? auditLogLines(state).count) == 1 }
            try writer.close()
            #expect(auditVerify(state).problem == nil)
        }
    }

    @Test("a closed writer refuses appends, and closing twice is harmless")
    func closedWriter() throws {
        try withTemporaryState { state in
            let writer = try AuditWriter.open(state: state, actor: "test", options: auditManualFlush)
            try writer.close()
            try writer.close()
            #expect(auditErrorCode { try writer.append(.request) } == "closed")
        }
    }

    @Test("append refuses more than maxBacklog queued records")
    func backlog() throws {
        try withTemporaryState { state in
            let writer = try AuditWriter.open(
                state: state, actor: "test",
                options: .init(flushInterval: .seconds(3600), maxPending: 2, maxBacklog: 2))
            // Stop the background writer from draining by holding the file lock from another descriptor.
            let fd = open(AuditPaths(state: state).log.path, O_RDONLY)
            defer { close(fd) }
            #expect(flock(fd, LOCK_EX) == 0)
            try writer.append(.request)
            try writer.append(.request)
            var refused = false
            for _ in 0..<3 where !refused {
                refused = auditErrorCode { try writer.append(.request) } == "backlog_full"
            }
            #expect(refused)
            #expect(flock(fd, LOCK_UN) == 0)
            try writer.close()
            #expect(auditVerify(state).recordCount >= 2)
        }
    }
}

/// Polls `condition` for up to five seconds.
func auditWaitUntil(_ condition: () -> Bool) async throws {
    for _ in 0..<500 {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met within 5 s")
}

func withTemporaryAuditState(_ body: (StateDirectory) async throws -> Void) async throws {
    let root = FileManager.default.temporaryDirectory
        .appendingPathComponent("gatehouse-audit-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    try await body(StateDirectory(url: root.appendingPathComponent("state", isDirectory: true)))
}

/// The `code` of the ``AuditError`` `body` throws, or nil if it does not throw.
func auditErrorCode(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as AuditError {
        return error.code
    } catch let error as StateError {
        return error.code
    } catch {
        return "unexpected: \(error)"
    }
}
