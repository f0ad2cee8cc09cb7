import Foundation
import GatehouseCore
import NIOCore
import Testing

@Suite("JSON reader and writer")
struct JSONCodecTests {
    @Test("reads every kind of value, keeping integers apart from floating point")
    func reads() throws {
        let value = try JSONValue.decode(ByteBuffer(string: #" {"i": -42, "big": 9223372036854775807, "huge": 9223372036854775808, "f": 1.5, "e": 2e3, "z": -0, "t": true, "n": null, "s": "a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 é", "a": [1, [], {}]} "#))
        #expect(value["i"] == .int(-42))
        #expect(value["big"] == .int(Int64.max))
        #expect(value["huge"] == .double(9223372036854775808))
        #expect(value["f"] == .double(1.5))
        #expect(value["e"] == .double(2000))
        #expect(value["z"] == .int(0))
        #expect(value["t"] == .bool(true))
        #expect(value["n"] == .null)
        #expect(value["s"] == .string("a\"\\/\u{8}\u{c}\n\r\té😀 é"))
        #expect(value["a"] == .array([.int(1), .array([]), .object([:])]))
        #expect(try JSONValue.decode(ByteBuffer(string: "-9223372036854775808")) == .int(Int64.min))
    }

    @Test("refuses what is not JSON, saying where", arguments: [
        #"{"a":1} x"#, #"{"a":[1,]}"#, #"{"a":1,}"#, "01", "1.", ".5", "tru", #""\x""#, #""\ud800""#, #""\udc00x""#,
        "\"raw\ncontrol\"", "NaN", "'x'", "1e999", "[", "",
    ])
    func refuses(json: String) {
        #expect(throws: GatewayError.self) { try JSONValue.decode(ByteBuffer(string: json)) }
        #expect(JSONValue.parse(json) == nil)
    }

    @Test("writes compact JSON with sorted keys, escaping only what JSON requires")
    func writes() {
        let value = JSONValue.object([
            "b": .array([.int(1), .double(1.5), .double(1), .null, .bool(false)]), "a": .string("q\"\\\n\u{1}/é"),
        ])
        #expect(value.compactText() == #"{"a":"q\"\\\n\u0001/é","b":[1,1.5,1.0,null,false]}"#)
    }

    @Test("what it writes reads back equal, and Foundation reads it too")
    func roundTrip() throws {
        let samples = [
            #"{"model":"gpt","messages":[{"role":"user","content":"hi \"there\"\n"}],"temperature":0.7,"n":2}"#,
            #"[1,-2.5e-7,"\u001f",{"":{}}]"#, #""😀""#,
        ]
        for sample in samples {
            let value = try JSONValue.decode(ByteBuffer(string: sample))
            let written = value.compactText()
            #expect(JSONValue.parse(written) == value)
            #expect((try? JSONSerialization.jsonObject(with: Data(written.utf8), options: .fragmentsAllowed)) != nil)
        }
    }
}
