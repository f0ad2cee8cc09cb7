import Crypto
import Foundation

/// Small POSIX helpers for files that hold secrets: exclusive, mode-exact, atomic writes and permission-checked reads.
///
/// Files are opened once and checked with `fstat` on the open descriptor, so a swapped path between check and
/// read cannot bypass the permission check.
enum FileSystem {
    /// Thrown by ``writeAtomically(_:to:mode:replacing:)`` when `replacing` is false and the file exists.
    struct AlreadyExists: Error {}

    /// Which permission bits a file we read may not have.
    enum Exposure {
        /// Anyone may read it (public keys, metadata); only writes by group or others are refused.
        case notWritableByOthers
        /// Neither group nor others may have any permission (private keys, the master key).
        case privateToOwner
        /// No check.
        case unchecked
    }

    /// Creates a directory with exactly `mode`, creating missing parents with default permissions.
    static func makeDirectory(_ url: URL, mode: mode_t) throws {
        let path = url.path
        let parent = url.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: parent.path) {
            do {
                try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
            } catch {
                throw StateError(code: "io_failed", message: "cannot create directory '\(parent.path)'")
            }
        }
        if mkdir(path, mode) == 0 {
            // mkdir is subject to the umask; set the exact mode we asked for.
            guard chmod(path, mode) == 0 else { throw StateError.io("set permissions on", path, errno: errno) }
            return
        }
        let failure = errno
        guard failure == EEXIST else { throw StateError.io("create directory", path, errno: failure) }
        var info = stat()
        guard stat(path, &info) == 0, isDirectory(info.st_mode) else { throw StateError.notADirectory(path) }
    }

    /// Reads a whole file of at most `maxBytes`, or returns nil when it does not exist.
    static func readFile(_ url: URL, maxBytes: Int, exposure: Exposure) throws -> Data? {
        let path = url.path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let failure = errno
            if failure == ENOENT { return nil }
            throw StateError.io("open", path, errno: failure)
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        defer { try? handle.close() }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StateError.io("inspect", path, errno: errno) }
        guard isRegularFile(info.st_mode) else { throw StateError.invalidFile(path, "not a regular file") }
        switch exposure {
        case .privateToOwner where info.st_mode & 0o077 != 0:
            throw StateError.insecurePermissions(path, mode: info.st_mode, allowed: "accessible by group or others")
        case .notWritableByOthers where info.st_mode & 0o022 != 0:
            throw StateError.insecurePermissions(path, mode: info.st_mode, allowed: "writable by group or others")
        default:
            break
        }
        let data: Data
        do {
            data = try handle.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            throw StateError(code: "io_failed", message: "cannot read '\(path)'")
        }
        guard data.count <= maxBytes else { throw StateError.invalidFile(path, "larger than \(maxBytes) bytes") }
        return data
    }

    /// Writes `data` to a temporary file created with exactly `mode`, flushes it, then moves it into place.
    ///
    /// With `replacing == false` the final step is `link(2)`, which fails if the target exists, so two writers
    /// cannot both believe they created the file; the loser gets ``AlreadyExists``.
    static func writeAtomically(_ data: Data, to url: URL, mode: mode_t, replacing: Bool) throws {
        let path = url.path
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(randomHex(byteCount: 8))")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw StateError.io("create", temporary.path, errno: errno) }
        defer { unlink(temporary.path) }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            defer { try? handle.close() }
            guard fchmod(fd, mode) == 0 else { throw StateError.io("set permissions on", temporary.path, errno: errno) }
            do {
                try handle.write(contentsOf: data)
                try handle.synchronize()
            } catch {
                throw StateError(code: "io_failed", message: "cannot write '\(temporary.path)'")
            }
        }
        if replacing {
            guard rename(temporary.path, path) == 0 else { throw StateError.io("replace", path, errno: errno) }
        } else if link(temporary.path, path) != 0 {
            let failure = errno
            if failure == EEXIST { throw AlreadyExists() }
            // Some file systems have no hard links; fall back to check-then-rename.
            guard failure == EPERM || failure == EOPNOTSUPP || failure == ENOTSUP else {
                throw StateError.io("create", path, errno: failure)
            }
            guard !FileManager.default.fileExists(atPath: path) else { throw AlreadyExists() }
            guard rename(temporary.path, path) == 0 else { throw StateError.io("create", path, errno: errno) }
        }
        synchronizeDirectory(directory)
    }

    /// Removes a file; returns false when it did not exist.
    static func removeFile(_ url: URL) throws -> Bool {
        if unlink(url.path) == 0 { return true }
        let failure = errno
        if failure == ENOENT { return false }
        throw StateError.io("remove", url.path, errno: failure)
    }

    /// Lists the names of entries in a directory, or nil when the directory does not exist.
    static func entries(of directory: URL) throws -> [String]? {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            if !FileManager.default.fileExists(atPath: directory.path) { return nil }
            throw StateError(code: "io_failed", message: "cannot list directory '\(directory.path)'")
        }
    }

    /// The permission bits of a path, or nil when it does not exist.
    static func permissions(of url: URL) -> mode_t? {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    static func randomHex(byteCount: Int) -> String {
        SymmetricKey(size: SymmetricKeySize(bitCount: byteCount * 8)).withUnsafeBytes { Hex.encode($0) }
    }

    private static func synchronizeDirectory(_ directory: URL) {
        let fd = open(directory.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = close(fd)
    }

    private static func isDirectory(_ mode: mode_t) -> Bool { mode & mode_t(S_IFMT) == mode_t(S_IFDIR) }
    private static func isRegularFile(_ mode: mode_t) -> Bool { mode & mode_t(S_IFMT) == mode_t(S_IFREG) }
}
