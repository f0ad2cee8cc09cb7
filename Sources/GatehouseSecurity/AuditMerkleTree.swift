import Crypto
import Foundation

/// An append-only RFC 6962 Merkle tree over the audit log's lines, kept as its compact range (one root per maximal
/// perfect subtree, at most 64 hashes), so appending and computing the root need no other state.
///
/// Leaf hash = SHA-256(0x00 || line), node hash = SHA-256(0x01 || left || right), and the root of the empty tree is
/// SHA-256 of nothing — the tree head C2SP `tlog-checkpoint` expects. Leaves are whole record lines without their
/// newline, so a checkpoint commits to every byte of records 1…size, and later inclusion or consistency proofs (RFC
/// 6962 §2.1) can be added without changing the format.
struct AuditMerkleTree: Sendable {
    /// The number of leaves.
    private(set) var size = 0
    private var peaks: [(level: Int, hash: SHA256Digest)] = []

    mutating func append(line: some DataProtocol) {
        var node = (level: 0, hash: Self.leafHash(line))
        while let last = peaks.last, last.level == node.level {
            peaks.removeLast()
            node = (level: node.level + 1, hash: Self.nodeHash(last.hash, node.hash))
        }
        peaks.append(node)
        size += 1
    }

    /// The RFC 6962 Merkle tree hash of all leaves so far.
    var root: [UInt8] {
        guard var hash = peaks.last?.hash else { return Array(SHA256.hash(data: [UInt8]())) }
        for peak in peaks.dropLast().reversed() {
            hash = Self.nodeHash(peak.hash, hash)
        }
        return Array(hash)
    }

    static func leafHash(_ line: some DataProtocol) -> SHA256Digest {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(0x00)) { hasher.update(bufferPointer: $0) }
        hasher.update(data: line)
        return hasher.finalize()
    }

    static func nodeHash(_ left: SHA256Digest, _ right: SHA256Digest) -> SHA256Digest {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(0x01)) { hasher.update(bufferPointer: $0) }
        left.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        right.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize()
    }
}
