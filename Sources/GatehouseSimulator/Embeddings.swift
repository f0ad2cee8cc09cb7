import Foundation

/// Deterministic unit-length embedding vectors.
///
/// Component `j` of the vector for `text` is derived from a 64-bit FNV-1a hash of the UTF-8 bytes,
/// with the offset basis xor-ed with `(j + 1) * 0x9E3779B97F4A7C15`, then mixed with the SplitMix64
/// finaliser and mapped to [-1, 1); the vector is then scaled to unit length. The configured seed does
/// not affect it: the same text always embeds to the same vector.
enum Embeddings {
    static let defaultDimensions = 8
    static let maximumDimensions = 8192

    static func vector(for text: String, dimensions: Int) -> [Float] {
        let bytes = Array(text.utf8)
        var values = (0..<dimensions).map { component -> Double in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ (UInt64(component + 1) &* 0x9E37_79B9_7F4A_7C15)
            for byte in bytes {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01B3
            }
            hash = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
            hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
            hash ^= hash >> 31
            return Double(hash >> 11) / Double(UInt64(1) << 53) * 2 - 1
        }
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 {
            values = values.map { $0 / norm }
        }
        return values.map { Float($0) }
    }

    /// Little-endian IEEE-754 float32 bytes, base64-encoded (OpenAI `encoding_format: base64`).
    static func base64(_ values: [Float]) -> String {
        var data = Data(capacity: values.count * 4)
        for value in values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        return data.base64EncodedString()
    }

    static func json(_ values: [Float]) -> JSON {
        .array(values.map(JSON.float))
    }
}
