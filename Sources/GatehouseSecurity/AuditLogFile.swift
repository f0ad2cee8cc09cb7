import Crypto
import Foundation

/// A record waiting to be written: everything but its position in the chain.
struct AuditPendingRecord: Sendable {
    let time: String
    let kind: String
    let actor: String
    let fields: AuditFields
}

/// The audit log file as one writer sees it: an open descriptor, an exclusive `flock` around every append, and a
/// cached tail (line count, last line's hash, Merkle compact range) that is caught up from the file whenever
/// another process appended since.
///
/// Threat assumptions: other writers are Gatehouse processes that follow the same locking; a process that appends
/// without the lock, or edits the file, is what ``AuditVerifier`` exists to catch, and this type does not try to.
/// Not thread-safe: ``AuditWriter`` confines it to one serial queue.
final class AuditLogFile {
    let paths: AuditPaths
    private let fd: Int32
    /// Bytes of the file accounted for in `tree` and `lastLineHash`; always at a line boundary.
    private var knownSize: off_t = 0
    private var tree = AuditMerkleTree()
    private var lastLineHash = AuditRecord.genesis
    private(set) var lastCheckpointSize = 0

    /// Records in the log as of the last append or catch-up.
    var recordCount: Int { tree.size }

    private init(paths: AuditPaths, fd: Int32) {
        self.paths = paths
        self.fd = fd
    }

    deinit { _ = close(fd) }

    /// Opens (creating with mode 0600) the log; refuses a log that group or others may write.
    static func openForAppending(_ paths: AuditPaths) throws -> AuditLogFile {
        _ = try paths.prepare()
        let path = paths.log.path
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw AuditError.io("open", path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let failure = errno
            _ = close(fd)
            throw AuditError.io("inspect", path, errno: failure)
        }
        guard info.st_mode & mode_t(S_IFMT) == mode_t(S_IFREG) else {
            _ = close(fd)
            throw AuditError(code: "invalid_log", message: "'\(path)' is not a regular file")
        }
        guard info.st_mode & 0o022 == 0 else {
            _ = close(fd)
            throw StateError.insecurePermissions(path, mode: info.st_mode, allowed: "writable by group or others")
        }
        return AuditLogFile(paths: paths, fd: fd)
    }

    /// Runs `body` holding the exclusive lock that serialises appends across processes.
    func withLock<R>(_ body: () throws -> R) throws -> R {
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw AuditError.io("lock", paths.log.path, errno: errno) }
        }
        defer { _ = flock(fd, LOCK_UN) }
        return try body()
    }

    /// What catching up found at the end of the file.
    struct TornTail {
        /// Bytes after the last newline, cut off.
        let byteCount: Int
        /// SHA-256 of those bytes, recorded so the discarded text can be matched to a backup.
        let sha256: String
    }

    /// Brings the cached tail up to date with the file (call under the lock).
    ///
    /// Reads only what was appended since the last call. If the file ends in a partial line (a writer died
    /// mid-append, so those bytes were never flushed and acknowledged), the partial line is cut off and returned,
    /// so the caller can record the recovery. If the file shrank, the tail is rebuilt from the start.
    func catchUp() throws -> TornTail? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw AuditError.io("inspect", paths.log.path, errno: errno) }
        let size = info.st_size
        if size < knownSize {
            knownSize = 0
            tree = AuditMerkleTree()
            lastLineHash = AuditRecord.genesis
        }
        guard size > knownSize else { return nil }
        var offset = knownSize
        var carry: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while offset < size {
            let want = Int(min(off_t(chunk.count), size - offset))
            let got = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, offset) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { throw AuditError.io("read", paths.log.path, errno: got < 0 ? errno : EIO) }
            offset += off_t(got)
            var start = 0
            for index in 0..<got where chunk[index] == 0x0A {
                let lineLength: Int
                if carry.isEmpty {
                    absorb(line: chunk[start..<index])
                    lineLength = index - start
                } else {
                    carry.append(contentsOf: chunk[start..<index])
                    absorb(line: carry)
                    lineLength = carry.count
                    carry.removeAll(keepingCapacity: true)
                }
                knownSize += off_t(lineLength + 1)
                start = index + 1
            }
            carry.append(contentsOf: chunk[start..<got])
        }
        guard !carry.isEmpty else { return nil }
        let torn = TornTail(byteCount: carry.count, sha256: Hex.encode(SHA256.hash(data: carry)))
        guard ftruncate(fd, knownSize) == 0 else { throw AuditError.io("truncate", paths.log.path, errno: errno) }
        _ = fsync(fd)
        return torn
    }

    private func absorb(line: some Collection<UInt8>) {
        let bytes = Array(line)
        tree.append(line: bytes)
        lastLineHash = Hex.encode(SHA256.hash(data: bytes))
    }

    /// Appends `pending` as records `recordCount + 1…`, then fsyncs (call under the lock, after ``catchUp()``).
    ///
    /// All records go out in one `write` loop and one `fsync`. On any failure the file is cut back to where it was,
    /// so a failed append leaves no partial batch for a retry to duplicate.
    func append(_ pending: [AuditPendingRecord]) throws {
        guard !pending.isEmpty else { return }
        var lines: [[UInt8]] = []
        lines.reserveCapacity(pending.count)
        var bytes: [UInt8] = []
        var prev = lastLineHash
        for (index, item) in pending.enumerated() {
            let line = AuditRecord.chainedLine(
                seq: tree.size + index + 1, time: item.time, kind: item.kind, actor: item.actor, fields: item.fields,
                prev: prev)
            prev = Hex.encode(SHA256.hash(data: line))
            lines.append(line)
            bytes.append(contentsOf: line)
            bytes.append(0x0A)
        }
        do {
            try writeAll(bytes)
            guard fsync(fd) == 0 else { throw AuditError.io("flush", paths.log.path, errno: errno) }
        } catch {
            _ = ftruncate(fd, knownSize)
            throw error
        }
        for line in lines { tree.append(line: line) }
        lastLineHash = prev
        knownSize += off_t(bytes.count)
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + written }, bytes.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                throw AuditError.io("write", paths.log.path, errno: errno)
            }
            written += result
        }
    }

    /// Signs a checkpoint of the whole log as it stands (call under the lock), appends it to `checkpoints`, and
    /// replaces `checkpoint` with it. Does nothing when the newest checkpoint this writer knows already covers it.
    func writeCheckpoint(signer: AuditSigningKey) throws {
        guard tree.size > lastCheckpointSize else { return }
        let checkpoint = AuditCheckpoint(origin: signer.name, size: tree.size, rootHash: Data(tree.root))
        let note = Data(try signer.sign(checkpoint).utf8)
        let path = paths.checkpoints.path
        let history = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard history >= 0 else { throw AuditError.io("open", path, errno: errno) }
        defer { _ = close(history) }
        var written = 0
        while written < note.count {
            let result = note.withUnsafeBytes {
                write(history, $0.baseAddress.map { $0 + written }, note.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw AuditError.io("write", path, errno: errno)
            }
            written += result
        }
        guard fsync(history) == 0 else { throw AuditError.io("flush", path, errno: errno) }
        try FileSystem.writeAtomically(note, to: paths.latestCheckpoint, mode: 0o644, replacing: true)
        lastCheckpointSize = tree.size
    }
}
