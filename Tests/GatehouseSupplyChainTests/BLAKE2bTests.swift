import Testing

@testable import GatehouseSupplyChain

@Suite("BLAKE2b (RFC 7693)")
struct BLAKE2bTests {
    @Test("matches the RFC 7693 appendix A vector for \"abc\"")
    func rfcVector() {
        let digest = BLAKE2b.hash(Array("abc".utf8))
        #expect(
            hex(digest)
                == "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
                + "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
    }

    /// Expected digests from Python's hashlib.blake2b over bytes `i % 251`, around the 128-byte block boundary.
    static let vectors: [(length: Int, digest512: String, digest256: String)] = [
        (
            0,
            "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce",
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        ),
        (
            1,
            "2fa3f686df876995167e7c2e5d74c4c7b6e48f8068fe0e44208344d480f7904c36963e44115fe3eb2a3ac8694c28bcb4f5a0f3276f2e79487d8219057a506e4b",
            "03170a2e7597b7b7e3d84c05391d139a62b157e78786d8c082f29dcf4c111314"
        ),
        (
            63,
            "d10bf9a15b1c9fc8d41f89bb140bf0be08d2f3666176d13baac4d381358ad074c9d4748c300520eb026daeaea7c5b158892fde4e8ec17dc998dcd507df26eb63",
            "29e41a64fbdd2fd27612228623c0702222bf367451e7324287f181cb3dcf7237"
        ),
        (
            127,
            "b6292669ccd38d5f01caae96ba272c76a879a45743afa0725d83b9ebb26665b731f1848c52f11972b6644f554c064fa90780dbbbf3a89d4fc31f67df3e5857ef",
            "f2fe67ff342e21b8f45e8f2e0bcd1d9243245d50ee6c78042e9c491388791c72"
        ),
        (
            128,
            "2319e3789c47e2daa5fe807f61bec2a1a6537fa03f19ff32e87eecbfd64b7e0e8ccff439ac333b040f19b0c4ddd11a61e24ac1fe0f10a039806c5dcc0da3d115",
            "c3582f71ebb2be66fa5dd750f80baae97554f3b015663c8be377cfcb2488c1d1"
        ),
        (
            129,
            "f59711d44a031d5f97a9413c065d1e614c417ede998590325f49bad2fd444d3e4418be19aec4e11449ac1a57207898bc57d76a1bcf3566292c20c683a5c4648f",
            "f7f3c46ba2564ff4c4c162da1f5b605f9f1c4aa6a20652a9f9a337c1a2f5b9c9"
        ),
        (
            256,
            "93463ac058b6163eb43be3f5bb32b28541498f4e3366f1effe253ad44e1e076e41c3616046027c82a7124f8f4746668ad10b12e8e25a95ac8f3151df01cd5a93",
            "582f782226018ec33076bd8d1c42413530ac7e1126260ffc0f306ba3befc3f24"
        ),
        (
            257,
            "9ca40e2ddee9436dbbd08efc65dbaf4870059f5eb3d76efd20241ae5bf13c60f250b882ea5c564838257a3fc95c496819ace2c6490b55b268535208dfc31822c",
            "227e15ed64ee8e93eb7bc53828f76eed974f2c4ab1408c3d08f212b7f8d69904"
        ),
        (
            4101,
            "a1d3474acce0306c42d1c35ec80d3e564a2a2d02325034bc8dc0b010db5cbfd6ccd12e5b2102c14f8a8a1f91f45dd80f501d5ad195dd53eaec46da6a3760095c",
            "4b467c53f547d3c312dc1132836fd6e5332d1d1ac06f67afccb38c91bc953d46"
        ),
    ]

    @Test("matches hashlib for 512- and 256-bit digests across block boundaries", arguments: vectors.indices)
    func hashlibVectors(index: Int) {
        let vector = Self.vectors[index]
        let input = pattern(vector.length)
        #expect(hex(BLAKE2b.hash(input, digestLength: 64)) == vector.digest512)
        #expect(hex(BLAKE2b.hash(input, digestLength: 32)) == vector.digest256)
    }

    @Test("gives the same digest however the input is split into updates", arguments: [1, 7, 64, 127, 128, 129, 1000])
    func streaming(chunk: Int) {
        let input = pattern(4101)
        var hasher = BLAKE2b()
        var start = 0
        while start < input.count {
            let end = min(start + chunk, input.count)
            hasher.update(Array(input[start..<end]))
            start = end
        }
        #expect(hex(hasher.finalize()) == Self.vectors[8].digest512)
    }

    private func pattern(_ length: Int) -> [UInt8] {
        (0..<length).map { UInt8($0 % 251) }
    }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}
