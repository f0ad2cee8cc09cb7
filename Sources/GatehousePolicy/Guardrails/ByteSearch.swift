/// A small set of bytes that a scanner stops at (up to eight values and one range), tested sixteen text bytes at
/// a time, so that a scanner's byte loop runs only over the blocks that may hold something to look at.
struct ByteSearch: Sendable {
    private let a, b, c, d, e, f, g, h: SIMD16<UInt8>
    private let low: SIMD16<UInt8>
    private let width: SIMD16<UInt8>
    /// A byte outside the set, to pad the last block with.
    private let pad: SIMD16<UInt8>

    /// - Parameters:
    ///   - bytes: up to eight values (nil for more: such a set is not worth a vector test).
    ///   - range: bytes `range.lowerBound...range.upperBound` also match.
    init?(_ bytes: [UInt8], range: ClosedRange<UInt8>? = nil) {
        guard bytes.count <= 8, !bytes.isEmpty || range != nil else { return nil }
        let padded = bytes.isEmpty ? [range!.lowerBound] : bytes
        let values = (0..<8).map { SIMD16<UInt8>(repeating: padded[min($0, padded.count - 1)]) }
        (a, b, c, d) = (values[0], values[1], values[2], values[3])
        (e, f, g, h) = (values[4], values[5], values[6], values[7])
        low = SIMD16(repeating: range?.lowerBound ?? 0)
        width = SIMD16(repeating: range.map { $0.upperBound &- $0.lowerBound &+ 1 } ?? 0)
        let outside = (1...255).first { value in
            !bytes.contains(UInt8(value)) && !(range?.contains(UInt8(value)) ?? false)
        }
        pad = SIMD16(repeating: UInt8(outside ?? 0))
    }

    /// The offset of the first byte of the set at or after `start`, or the text's length when there is none.
    @inline(__always) func firstIndex(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        guard let base = bytes.baseAddress else { return bytes.count }
        var i = start
        let n = bytes.count
        while i + 16 <= n {
            let found = matches(UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<UInt8>.self))
            if found != 0 { return i &+ found.trailingZeroBitCount }
            i &+= 16
        }
        guard i < n else { return n }
        // The last bytes, in a block padded with a byte outside the set.
        var tail = pad
        for k in 0..<(n - i) { tail[k] = base[i + k] }
        let found = matches(tail)
        return found != 0 ? i &+ found.trailingZeroBitCount : n
    }

    /// Bit k is set when byte k is in the set.
    @inline(__always) private func matches(_ v: SIMD16<UInt8>) -> UInt32 {
        var m = (v .== a) .| (v .== b) .| (v .== c) .| (v .== d)
        m = m .| (v .== e) .| (v .== f) .| (v .== g) .| (v .== h)
        // An empty range has width 0, so `.<` holds for no byte.
        m = m .| ((v &- low) .< width)
        guard any(m) else { return 0 }
        let halves = unsafeBitCast(m, to: SIMD2<UInt64>.self)
        // Each matching byte is 0xFF: one bit per byte from the two halves.
        return UInt32(truncatingIfNeeded: Self.bitPerByte(halves[0]) | Self.bitPerByte(halves[1]) << 8)
    }

    /// The top bit of each byte of `word`, gathered into its low eight bits.
    @inline(__always) private static func bitPerByte(_ word: UInt64) -> UInt64 {
        ((word & 0x8080_8080_8080_8080) &* 0x0002_0408_1020_4081) >> 56
    }
}
