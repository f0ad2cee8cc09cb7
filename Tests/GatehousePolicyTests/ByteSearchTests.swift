import Testing

@testable import GatehousePolicy

@Suite("ByteSearch: the vector test the scanners skip text with")
struct ByteSearchTests {
    /// What `firstIndex` must return, byte by byte.
    static func naive(_ bytes: [UInt8], from start: Int, _ set: Set<UInt8>, _ range: ClosedRange<UInt8>?) -> Int {
        var i = start
        while i < bytes.count && !set.contains(bytes[i]) && !(range?.contains(bytes[i]) ?? false) { i += 1 }
        return i
    }

    @Test("finds the same first byte as a byte-by-byte scan, in whole blocks and in the padded tail")
    func agreesWithNaive() {
        var random = SystemRandomNumberGenerator()
        let cases: [([UInt8], ClosedRange<UInt8>?)] = [
            (Array("-:=AJ_".utf8), nil), (Array("(+:@".utf8), UInt8(ascii: "0")...UInt8(ascii: "9")),
            ([UInt8(ascii: "p"), UInt8(ascii: "P")], nil), ([], 0x80...0xFF), ([0x00, 0xFF], nil),
        ]
        for (values, range) in cases {
            let search = ByteSearch(values, range: range)!
            for _ in 0..<300 {
                let length = Int.random(in: 0..<70, using: &random)
                // Mostly bytes outside the set, so the first match falls anywhere, tail included.
                let bytes = (0..<length).map { _ in
                    Int.random(in: 0..<12, using: &random) == 0
                        ? UInt8.random(in: 0...255, using: &random) : UInt8(ascii: "x")
                }
                let start = length == 0 ? 0 : Int.random(in: 0...length, using: &random)
                let found = bytes.withUnsafeBufferPointer { search.firstIndex(in: $0, from: start) }
                #expect(found == Self.naive(bytes, from: start, Set(values), range), "\(bytes) from \(start)")
            }
        }
    }

    @Test("sets of more than eight values or of nothing are refused")
    func limits() {
        #expect(ByteSearch(Array("abcdefghi".utf8)) == nil)
        #expect(ByteSearch([]) == nil)
        #expect(ByteSearch(Array("abcdefgh".utf8)) != nil)
    }
}
