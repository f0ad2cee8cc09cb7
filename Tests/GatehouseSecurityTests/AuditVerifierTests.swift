import Crypto
import Foundation
import Testing

@testable import GatehouseSecurity

/// A 20-record log checkpointed after records 8 and 20.
@discardableResult
private func makeLog(_ state: StateDirectory) throws -> [String] {
    try auditWriteRecords(state, count: 20, flushAfter: [8])
    #expect(auditVerify(state).problem == nil)
    return try auditLogLines(state)
}

private func expectProblem(
    _ state: StateDirectory, _ kind: AuditProblem.Kind, at record: Int?,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let result = auditVerify(state)
    #expect(result.problem?.kind == kind, "\(String(describing: result.problem))", sourceLocation: sourceLocation)
    #expect(result.problem?.record == record, "\(String(describing: result.problem))", sourceLocation: sourceLocation)
}

@Suite("Audit log: verification catches tampering")
struct AuditVerifierTests {
    @Test("an edited field is caught at its record", arguments: [1, 5, 12, 20])
    func editedField(record k: Int) throws {
        try withTemporaryState { state in
            var lines = try makeLog(state)
            lines[k - 1] = try auditEdit(lines[k - 1], rehash: false) { $0["model"] = "sim-claude" }
            try auditWriteLog(lines, state)
            expectProblem(state, .edited, at: k)
        }
    }

    @Test("a change that breaks the canonical form is caught as an edit")
    func nonCanonical() throws {
        try withTemporaryState { state in
            var lines = try makeLog(state)
            lines[3] = lines[3].replacingOccurrences(of: "\"model\":", with: "\"model\": ")
            try auditWriteLog(lines, state)
            expectProblem(state, .edited, at: 4)
        }
    }

    @Test("an edited and re-hashed record is caught at the next record's link")
    func editedAndRehashed() throws {
        try withTemporaryState { state in
            var lines = try makeLog(state)
            lines[9] = try auditEdit(lines[9], rehash: true) { $0["model"] = "sim-claude" }
            try auditWriteLog(lines, state)
            expectProblem(state, .brokenLink, at: 11)
        }
    }

    @Test("a deleted record is caught at its position", arguments: [1, 7, 13])
    func deleted(record k: Int) throws {
        try withTemporaryState { state in
            var lines = try makeLog(state)
            lines.remove(at: k - 1)
            try auditWriteLog(lines, state)
            expectProblem(state, .deleted, at: k)
        }
    }

    @Test("several deleted records are reported as a range")
    func deletedRange() throws {
        try withTemporaryState { state in
            var lines = try makeLog(state)
            lines.removeSubrange(4..<7)
            try auditWriteLog(lines, state)
            let result = auditVerify(state)
            #expect(result.problem?.kind == .deleted && result.problem?.record == 5)
            #expect(result.problem?.message.contains("records 5…7 are missing") == true)
        }
    }

    @Test("swapped records are caught as reordering at the first of them", arguments: [1, 9, 19])
    func swapped(record k: Int) throws {
        try withTemporaryState { state in
            var lines = try makeLog(state)
            lines.swapAt(k - 1, k)
            try auditWriteLog(lines, state)
            expectProblem(state, .reordered, at: k)
        }
    }

    @Test("a forged record inserted into the chain is caught at its line", arguments: [1, 6, 15])
    func inserted(at k: Int) throws {
        try withTemporaryState { state in
            var lines = try makeLog(state)
            let prev = k == 1 ? AuditRecord.genesis : Hex.encode(SHA256.hash(data: Data(lines[k - 2].utf8)))
            let forged = AuditRecord(
                seq: k, time: "2025-01-01T00:00:00.000Z", kind: "token.minted", actor: "cli:mallory",
                fields: ["subject": "mallory"], prev: prev)
            lines.insert(String(decoding: forged.line, as: UTF8.self), at: k - 1)
            try auditWriteLog(lines, state)
            expectProblem(state, .inserted, at: k)
        }
    }

    @Test("a duplicated record is caught as an insertion")
    func duplicated() throws {
        try withTemporaryState { state in
            var lines = try makeLog(state)
            lines.insert(lines[4], at: 5)
            try auditWriteLog(lines, state)
            // Lines 5 and 6 are the same record; the chain resumes after line 4, so one of them is extra.
            expectProblem(state, .inserted, at: 5)
        }
    }

    @Test("removing records below the last checkpoint is caught as truncation")
    func truncated() throws {
        try withTemporaryState { state in
            let lines = try makeLog(state)
            try auditWriteLog(Array(lines.prefix(17)), state)
            let result = auditVerify(state)
            #expect(result.problem?.kind == .truncated && result.problem?.record == 18)
            #expect(result.problem?.message.contains("records 18…20 are missing") == true)
            // Below the first checkpoint too.
            try auditWriteLog(Array(lines.prefix(3)), state)
            expectProblem(state, .truncated, at: 4)
            // A last line cut in half below the checkpoint is truncation, not a harmless torn tail.
            try Data((lines.joined(separator: "\n") + "\n").utf8.dropLast(30)).write(to: AuditPaths(state: state).log)
            let cut = auditVerify(state)
            #expect(cut.problem?.kind == .truncated && cut.problem?.record == 20)
            #expect(cut.tornTail?.afterRecord == 19)
            // An empty log.
            try Data().write(to: AuditPaths(state: state).log)
            expectProblem(state, .truncated, at: 1)
        }
    }

    @Test("truncation is caught against a checkpoint kept elsewhere after local checkpoints are deleted")
    func truncatedAgainstExternalCheckpoint() throws {
        try withTemporaryState { state in
            let lines = try makeLog(state)
            let paths = AuditPaths(state: state)
            let shipped = paths.directory.deletingLastPathComponent().appendingPathComponent("shipped-checkpoint")
            try FileManager.default.copyItem(at: paths.latestCheckpoint, to: shipped)
            let publicKey = try #require(try AuditVerifierKey.load(from: paths.publicKey))
            try auditWriteLog(Array(lines.prefix(15)), state)
            _ = try FileSystem.removeFile(paths.checkpoints)
            _ = try FileSystem.removeFile(paths.latestCheckpoint)
            #expect(auditVerify(state).problem == nil)  // nothing local left to compare with
            let result = AuditVerifier.verify(paths: paths, publicKey: publicKey, extraCheckpoints: [shipped])
            #expect(result.problem?.kind == .truncated && result.problem?.record == 16)
        }
    }

    @Test("a consistently re-hashed history is caught against the checkpoints")
    func rewritten() throws {
        try withTemporaryState { state in
            let lines = try makeLog(state)
            // Recompute the chain from record 12 on, as someone without the signing key would.
            var rewritten = Array(lines.prefix(11))
            var prev = Hex.encode(SHA256.hash(data: Data(rewritten[10].utf8)))
            for line in lines.dropFirst(11) {
                let record = try #require(AuditRecord.parse(line: Array(line.utf8)))
                var fields = record.fields
                if record.seq == 12 { fields["model"] = "sim-claude" }
                let forged = AuditRecord(
                    seq: record.seq, time: record.time, kind: record.kind, actor: record.actor,
                    fields: AuditFields(fields), prev: prev)
                rewritten.append(String(decoding: forged.line, as: UTF8.self))
                prev = Hex.encode(SHA256.hash(data: forged.line))
            }
            try auditWriteLog(rewritten, state)
            // The first checkpoint (8 records) still matches; the one at 20 does not.
            expectProblem(state, .rewritten, at: 9)
        }
    }

    @Test("a checkpoint signed with another key is refused")
    func forgedCheckpoint() throws {
        try withTemporaryState { state in
            let lines = try makeLog(state)
            let paths = AuditPaths(state: state)
            let realKey = try #require(try AuditVerifierKey.load(from: paths.publicKey))
            // Mallory truncates the log and signs a matching checkpoint with her own key under the same name.
            try auditWriteLog(Array(lines.prefix(10)), state)
            var tree = AuditMerkleTree()
            for line in lines.prefix(10) { tree.append(line: Data(line.utf8)) }
            let mallory = try AuditSigningKey(privateKey: Curve25519.Signing.PrivateKey(), name: realKey.name)
            let note = try mallory.sign(AuditCheckpoint(origin: realKey.name, size: 10, rootHash: Data(tree.root)))
            try Data(note.utf8).write(to: paths.checkpoints)
            try Data(note.utf8).write(to: paths.latestCheckpoint)
            let result = auditVerify(state)
            #expect(result.problem?.kind == .badCheckpoint)
            #expect(result.problem?.message.contains("is not signed by the audit key") == true)
            // Replacing audit.pub as well does not help against a key the verifier pins.
            try Data((mallory.verifierKey.vkey + "\n").utf8).write(to: paths.publicKey)
            #expect(auditVerify(state).problem == nil)
            let pinned = AuditVerifier.verify(paths: paths, publicKey: realKey)
            #expect(pinned.problem?.kind == .badCheckpoint)
        }
    }

    @Test("a checkpoint with a tampered signature or body is refused")
    func tamperedCheckpoint() throws {
        try withTemporaryState { state in
            try makeLog(state)
            let paths = AuditPaths(state: state)
            let original = try String(contentsOf: paths.latestCheckpoint, encoding: .utf8)
            let signatureLine = try #require(original.split(separator: "\n").last)
            let blob = try #require(Data(base64Encoded: String(signatureLine.split(separator: " ")[2])))
            var flipped = blob
            flipped[10] ^= 0x01
            let badSignature = original.replacingOccurrences(
                of: blob.base64EncodedString(), with: flipped.base64EncodedString())
            try Data(badSignature.utf8).write(to: paths.latestCheckpoint)
            var result = auditVerify(state)
            #expect(result.problem?.kind == .badCheckpoint)
            #expect(result.problem?.message.contains("invalid signature") == true)

            // Claiming a larger size with the old signature fails too.
            let badBody = original.replacingOccurrences(of: "\n20\n", with: "\n21\n")
            try Data(badBody.utf8).write(to: paths.latestCheckpoint)
            result = auditVerify(state)
            #expect(result.problem?.kind == .badCheckpoint)
        }
    }

    @Test("a torn checkpoint append is a warning, not a failure")
    func tornCheckpoint() throws {
        try withTemporaryState { state in
            try makeLog(state)
            let paths = AuditPaths(state: state)
            let handle = try FileHandle(forWritingTo: paths.checkpoints)
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("gatehouse/audit/abc\n21\nAAAA".utf8))
            try handle.close()
            let result = auditVerify(state)
            #expect(result.problem == nil)
            #expect(result.warnings.contains { $0.contains("incomplete checkpoint") })
        }
    }

    @Test("a log without checkpoints verifies its chain and warns that truncation is undetectable")
    func noCheckpoints() throws {
        try withTemporaryState { state in
            let paths = AuditPaths(state: state)
            let writer = try AuditWriter(paths: paths, actor: "test", signer: nil, options: auditManualFlush)
            try writer.append(.request)
            try writer.close()
            let result = AuditVerifier.verify(paths: paths)
            #expect(result.problem == nil && result.recordCount == 1)
            #expect(result.warnings.contains { $0.contains("no signed checkpoint") })
        }
    }

    @Test("a missing log is an error, not an empty success")
    func missingLog() throws {
        try withTemporaryState { state in
            #expect(auditVerify(state).problem?.kind == .unreadable)
        }
    }

    @Test("a file given directly is verified with the checkpoints beside it")
    func explicitFile() throws {
        try withTemporaryState { state in
            try makeLog(state)
            let result = AuditVerifier.verify(paths: AuditPaths(logFile: AuditPaths(state: state).log))
            #expect(result.problem == nil && result.latestCheckpoint?.size == 20)
        }
    }
}
