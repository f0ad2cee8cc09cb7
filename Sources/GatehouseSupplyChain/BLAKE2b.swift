/// BLAKE2b (RFC 7693), unkeyed, with a digest length of 1 to 64 bytes.
///
/// swift-crypto has no BLAKE2b, and minisign's prehashed (`ED`) signatures sign the BLAKE2b-512 digest of the
/// file, while its secret key files carry a BLAKE2b-256 checksum. This is a straightforward, streaming
/// implementation of the RFC's reference algorithm (section 3), tested against the RFC's appendix A vector and
/// against Python's `hashlib.blake2b` across block boundaries. It hashes public data (release files), so it makes
/// no attempt at constant time.
public struct BLAKE2b: Sendable {
    /// The digest length in bytes (1...64).
    public let digestLength: Int

    private var state: [UInt64]
    private var buffer: [UInt8] = []
    private var byteCount: (low: UInt64, high: UInt64) = (0, 0)

    private static let blockSize = 128

    private static let iv: [UInt64] = [
        0x6a09_e667_f3bc_c908, 0xbb67_ae85_84ca_a73b, 0x3c6e_f372_fe94_f82b, 0xa54f_f53a_5f1d_36f1,
        0x510e_527f_ade6_82d1, 0x9b05_688c_2b3e_6c1f, 0x1f83_d9ab_fb41_bd6b, 0x5be0_cd19_137e_2179,
    ]

    private static let sigma: [[Int]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
        [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
        [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
        [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
        [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
        [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
        [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
        [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
        [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    ]

    /// Starts a hash with the given digest length in bytes; lengths outside 1...64 are clamped into it.
    public init(digestLength: Int = 64) {
        let length = min(max(digestLength, 1), 64)
        self.digestLength = length
        var state = Self.iv
        // Parameter block word 0: digest length, key length 0, fanout 1, depth 1.
        state[0] ^= 0x0101_0000 ^ UInt64(length)
        self.state = state
        buffer.reserveCapacity(Self.blockSize)
    }

    /// Feeds more bytes into the hash.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        update(Array(bytes))
    }

    /// Feeds more bytes into the hash; whole blocks are compressed straight from `bytes`.
    public mutating func update(_ bytes: [UInt8]) {
        var index = 0
        while index < bytes.count {
            // The last block must be compressed with the final flag, so a full buffer is only
            // compressed once more input arrives.
            if buffer.count == Self.blockSize {
                incrementCounter(by: UInt64(Self.blockSize))
                compress(buffer, at: 0, isLast: false)
                buffer.removeAll(keepingCapacity: true)
            }
            if buffer.isEmpty && bytes.count - index > Self.blockSize {
                incrementCounter(by: UInt64(Self.blockSize))
                compress(bytes, at: index, isLast: false)
                index += Self.blockSize
                continue
            }
            let take = min(Self.blockSize - buffer.count, bytes.count - index)
            buffer.append(contentsOf: bytes[index..<(index + take)])
            index += take
        }
    }

    /// Finishes the hash and returns the digest (`digestLength` bytes).
    public consuming func finalize() -> [UInt8] {
        incrementCounter(by: UInt64(buffer.count))
        var block = buffer
        block.append(contentsOf: repeatElement(0, count: Self.blockSize - block.count))
        compress(block, at: 0, isLast: true)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for word in state {
            for shift in stride(from: 0, to: 64, by: 8) {
                out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
            }
        }
        return Array(out.prefix(digestLength))
    }

    /// The digest of `bytes` in one call.
    public static func hash(_ bytes: some Sequence<UInt8>, digestLength: Int = 64) -> [UInt8] {
        var hasher = BLAKE2b(digestLength: digestLength)
        hasher.update(Array(bytes))
        return hasher.finalize()
    }

    private mutating func incrementCounter(by count: UInt64) {
        let (low, overflow) = byteCount.low.addingReportingOverflow(count)
        byteCount = (low, overflow ? byteCount.high &+ 1 : byteCount.high)
    }

    private mutating func compress(_ block: [UInt8], at offset: Int, isLast: Bool) {
        var m = [UInt64](repeating: 0, count: 16)
        for i in 0..<16 {
            var word: UInt64 = 0
            for j in 0..<8 {
                word |= UInt64(block[offset + i * 8 + j]) << UInt64(8 * j)
            }
            m[i] = word
        }
        var v = state + Self.iv
        v[12] ^= byteCount.low
        v[13] ^= byteCount.high
        if isLast {
            v[14] = ~v[14]
        }
        for round in 0..<12 {
            let s = Self.sigma[round % 10]
            Self.mix(&v, 0, 4, 8, 12, m[s[0]], m[s[1]])
            Self.mix(&v, 1, 5, 9, 13, m[s[2]], m[s[3]])
            Self.mix(&v, 2, 6, 10, 14, m[s[4]], m[s[5]])
            Self.mix(&v, 3, 7, 11, 15, m[s[6]], m[s[7]])
            Self.mix(&v, 0, 5, 10, 15, m[s[8]], m[s[9]])
            Self.mix(&v, 1, 6, 11, 12, m[s[10]], m[s[11]])
            Self.mix(&v, 2, 7, 8, 13, m[s[12]], m[s[13]])
            Self.mix(&v, 3, 4, 9, 14, m[s[14]], m[s[15]])
        }
        for i in 0..<8 {
            state[i] ^= v[i] ^ v[i + 8]
        }
    }

    /// The mixing function G (RFC 7693 section 3.1) with rotations 32, 24, 16, 63.
    @inline(__always)
    private static func mix(_ v: inout [UInt64], _ a: Int, _ b: Int, _ c: Int, _ d: Int, _ x: UInt64, _ y: UInt64) {
        v[a] = v[a] &+ v[b] &+ x
        v[d] = rotateRight(v[d] ^ v[a], 32)
        v[c] = v[c] &+ v[d]
        v[b] = rotateRight(v[b] ^ v[c], 24)
        v[a] = v[a] &+ v[b] &+ y
        v[d] = rotateRight(v[d] ^ v[a], 16)
        v[c] = v[c] &+ v[d]
        v[b] = rotateRight(v[b] ^ v[c], 63)
    }

    @inline(__always)
    private static func rotateRight(_ value: UInt64, _ count: UInt64) -> UInt64 {
        (value >> count) | (value << (64 - count))
    }
}
