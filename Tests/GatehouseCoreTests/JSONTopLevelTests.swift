import Foundation
import GatehouseCore
import NIOCore
import Testing

@Suite("Top-level JSON rewriting")
struct JSONTopLevelTests {
    func rewrite(_ json: String, _ key: String, _ value: String) throws -> String {
        let buffer = ByteBuffer(string: json)
        let scanned = try JSONTopLevel(scanning: buffer.readableBytesView)
        return String(buffer: scanned.replacing(key, with: value, in: buffer))
    }

    @Test("replaces the model and leaves every other byte alone")
    func replacesModel() throws {
        let json = #"{ "messages":[{"role":"user","content":"say \"model\": {x}"}], "model" : "public",  "n":1 }"#
        #expect(
            try rewrite(json, "model", #""upstream""#)
                == #"{ "messages":[{"role":"user","content":"say \"model\": {x}"}], "model" : "upstream",  "n":1 }"#)
    }

    @Test("appends a member that is absent")
    func appends() throws {
        #expect(try rewrite(#"{"a":1}"#, "stream_options", #"{"include_usage":true}"#) == #"{"a":1,"stream_options":{"include_usage":true}}"#)
        #expect(try rewrite("{}", "a", "1") == #"{"a":1}"#)
    }

    @Test("replaces several members and appends the absent ones in one copy, in any order given")
    func replacesSeveral() throws {
        let json = #"{"stream_options":{"x":1}, "model":"public","messages":[{"model":"no"}] ,"n":2}"#
        let buffer = ByteBuffer(string: json)
        let scanned = try JSONTopLevel(scanning: buffer)
        let both = scanned.replacing([("model", #""up""#), ("stream_options", #"{"include_usage":true}"#)], in: buffer)
        #expect(String(buffer: both) == #"{"stream_options":{"include_usage":true}, "model":"up","messages":[{"model":"no"}] ,"n":2}"#)
        let appended = scanned.replacing([("user", #""u""#), ("model", #""up""#), ("seed", "7")], in: buffer)
        #expect(String(buffer: appended) == #"{"stream_options":{"x":1}, "model":"up","messages":[{"model":"no"}] ,"n":2,"user":"u","seed":7}"#)
        let empty = ByteBuffer(string: " { } ")
        let none = try JSONTopLevel(scanning: empty)
        #expect(String(buffer: none.replacing([("a", "1"), ("b", "2")], in: empty)) == #" { "a":1,"b":2} "#)
        #expect(String(buffer: scanned.replacing([], in: buffer)) == json)
    }

    static func object(_ keys: [String]) -> String {
        "{" + keys.map { #""\#($0)":1"# }.joined(separator: ",") + "}"
    }

    @Test("rejects repeated top-level keys, even when escaped, in small and large objects", arguments: [
        #"{"model":"a","model":"b"}"#, #"{"model":"a","mod\u0065l":"b"}"#, #"{"stream":false,"x":[],"stream":true}"#,
        object((0..<20).map { "k\($0)" } + ["k3"]), object((0..<20).map { "k\($0)" } + ["k17"]),
        object((0..<15).map { "k\($0)" } + ["k0"]), object((0..<16).map { "k\($0)" } + ["k15"]),
    ])
    func duplicates(json: String) {
        #expect(throws: JSONTopLevel.ScanError.self) { try JSONTopLevel(scanning: Array(json.utf8)) }
    }

    @Test("reads large objects without repeats")
    func largeObject() throws {
        let keys = (0..<40).map { "k\($0)" }
        #expect(try JSONTopLevel(scanning: Array(Self.object(keys).utf8)).members.map(\.key) == keys)
    }

    @Test("rejects what is not an object", arguments: ["[]", "\"model\"", "{\"a\":", "{\"a\" 1}", ""])
    func notObjects(json: String) {
        #expect(throws: JSONTopLevel.ScanError.self) { try JSONTopLevel(scanning: Array(json.utf8)) }
    }
}

@Suite("Strict JSON scanning")
struct JSONStrictScanTests {
    static let valid = [
        #"{}"#, #" {"a" : [1, -0, 0.5, -1.25e+10, 3E-2, true, false, null, {"b": []}] } "#,
        #"{"s":"tab\t newline\n quote\" slash\/ unicode\u00e9 \ud83d\ude00 é 😀"}"#, "{\"x\":\"\u{7f}\"}",
    ]
    static let invalid = [
        #"{"a":1} x"#, #"{"a":1}}"#, #"{"a":[1,]}"#, #"{"a":1,}"#, #"{"a":01}"#, #"{"a":1.}"#, #"{"a":.5}"#,
        #"{"a":tru}"#, #"{"a":nul}"#, #"{"a":[1:2]}"#, #"{"a":{"b" 1}}"#, #"{"a":{1:2}}"#, #"{"a":"\x"}"#,
        #"{"a":"\u12G4"}"#, #"{"a":+1}"#, #"{"a":1e}"#, #"{"a":-}"#, #"{"a":[}"#, #"{"a":"unterminated}"#,
        "{\"a\":\"raw\ncontrol\"}", #"{"a":NaN}"#, #"{"a":'x'}"#,
    ]

    @Test("accepts valid JSON objects", arguments: valid)
    func accepts(json: String) throws {
        _ = try JSONTopLevel(scanning: ByteBuffer(string: json))
        try JSONTopLevel.validate(ByteBuffer(string: json))
    }

    @Test("refuses what a JSON parser would refuse", arguments: invalid)
    func refuses(json: String) {
        #expect(throws: JSONTopLevel.ScanError.self) { try JSONTopLevel(scanning: ByteBuffer(string: json)) }
        #expect(throws: JSONTopLevel.ScanError.self) { try JSONTopLevel.validate(ByteBuffer(string: json)) }
    }

    @Test("refuses invalid UTF-8: overlongs, surrogates, stray continuation bytes, truncated sequences", arguments: [
        [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80], [0xFF],
    ] as [[UInt8]])
    func refusesBadUTF8(bytes: [UInt8]) {
        let json = Array(#"{"a":""#.utf8) + bytes + Array(#""}"#.utf8)
        #expect(throws: JSONTopLevel.ScanError.self) { try JSONTopLevel(scanning: json) }
    }

    /// Found by the fuzz target Fuzz/json: a lone surrogate escape passed the scan while the gateway's
    /// JSON reader and Foundation's refused it.
    @Test("refuses unpaired surrogate escapes, in keys and values, and accepts a pair", arguments: [
        #"{"a":"\ude00"}"#, #"{"a":"\ud83d"}"#, #"{"a":"\ud83dx"}"#, #"{"a":"\ud83d\u0041"}"#, #"{"\udc00":1}"#,
        #"{"a":"\ud83d\ud83d"}"#, #"{"a":"\ud83d\"}"#,
    ])
    func refusesLoneSurrogates(json: String) {
        #expect(throws: JSONTopLevel.ScanError.self) { try JSONTopLevel(scanning: ByteBuffer(string: json)) }
        #expect(JSONValue.parse(json) == nil)
    }

    /// Found by the fuzz target Fuzz/json: the gateway's reader and Foundation refuse a number that overflows a double.
    @Test("refuses numbers beyond a double's range and accepts those within it", arguments: [
        (#"{"a":1e309}"#, false), (#"{"a":-1.5E+400}"#, false), ("{\"a\":" + String(repeating: "9", count: 320) + "}", false),
        (#"{"a":1e308}"#, true), (#"{"a":1e-400}"#, true), ("{\"a\":" + String(repeating: "9", count: 300) + "}", true),
    ])
    func numberRange(json: String, accepted: Bool) {
        #expect(((try? JSONTopLevel(scanning: ByteBuffer(string: json))) != nil) == accepted)
        #expect((JSONValue.parse(json) != nil) == accepted)
    }

    @Test("accepts surrogate pairs, in either case of hex digit")
    func acceptsSurrogatePairs() throws {
        for json in [#"{"a":"\ud83d\ude00"}"#, #"{"\uD83D\uDE00":"x\uD83D\uDe00y"}"#] {
            #expect(try JSONTopLevel(scanning: ByteBuffer(string: json)).members.count == 1)
            #expect(JSONValue.parse(json) != nil)
        }
    }

    /// The scan skips plain string bytes eight at a time: every byte value, at every offset
    /// within and across those words, must be judged as it would be one byte at a time.
    @Test("judges every byte value at every offset of a long string the same way")
    func everyByteEverywhere() throws {
        func scans(_ inner: [UInt8]) -> Bool {
            let json = Array(#"{"k":""#.utf8) + inner + Array(#"","n":1}"#.utf8)
            let scanned = (try? JSONTopLevel(scanning: json)) != nil
            let validated = (try? JSONTopLevel.validate(ByteBuffer(bytes: json))) != nil
            #expect(scanned == validated)
            return scanned
        }
        let filler = UInt8(ascii: "a")
        for offset in 0..<19 {
            for byte in 0...255 {
                var inner = [UInt8](repeating: filler, count: 24)
                inner[offset] = UInt8(byte)
                let plain = (0x20..<0x80).contains(byte) && byte != 0x22 && byte != 0x5C
                #expect(scans(inner) == plain, "byte \(byte) at \(offset)")
            }
            for good in [[0x5C, 0x6E], [0x5C, 0x22], [0x5C, 0x75, 0x30, 0x30, 0x65, 0x39], [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80]]
                as [[UInt8]]
            {
                var inner = [UInt8](repeating: filler, count: 24)
                inner.replaceSubrange(offset..<(offset + good.count), with: good)
                #expect(scans(inner), "\(good) at \(offset)")
            }
            for bad in [[0xC3], [0xE2, 0x82], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x5C, 0x78], [0x5C]] as [[UInt8]] {
                var inner = [UInt8](repeating: filler, count: 24)
                inner.replaceSubrange(offset..<(offset + bad.count), with: bad)
                #expect(!scans(inner), "\(bad) at \(offset)")
            }
        }
        // A string that ends exactly at, just before and just after a word's end.
        for length in 0..<20 { #expect(scans([UInt8](repeating: filler, count: length))) }
    }

    @Test("refuses nesting deeper than 512")
    func depth() {
        let deep = "{\"a\":" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}"
        #expect(throws: JSONTopLevel.ScanError.self) { try JSONTopLevel(scanning: ByteBuffer(string: deep)) }
        let fine = "{\"a\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"
        #expect((try? JSONTopLevel(scanning: ByteBuffer(string: fine))) != nil)
    }

    /// One way only: Foundation's parser also accepts trailing commas (`{"a":1,}`), which RFC 8259 does not.
    @Test("never accepts a generated document Foundation's parser refuses")
    func differential() throws {
        let pieces = ["{", "}", "[", "]", ",", ":", "\"k\"", "1", "-2.5", "true", "null", " ", "\"\\n\"", "0", "\"é\""]
        var documents: [String] = [""]
        for _ in 0..<4 { documents += documents.flatMap { prefix in pieces.map { prefix + $0 } } }
        for middle in Set(documents) {
            let text = "{\"m\":" + middle + "}"
            let ours = (try? JSONTopLevel(scanning: ByteBuffer(string: text))) != nil
            let foundation = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil
            if ours { #expect(foundation, "\(text)") }
        }
    }
}

@Suite("Top-level member values")
struct JSONTopLevelValueTests {
    @Test("decodes single members, with and without escapes")
    func values() throws {
        let body = ByteBuffer(string: #"{"model":"gpt-4o","stream":true,"x":false,"n":null,"e":"a\"b\u00e9","o":{"k":[1]}}"#)
        let members = try JSONTopLevel(scanning: body)
        #expect(members.value(of: "model", in: body) == .string("gpt-4o"))
        #expect(members.value(of: "stream", in: body) == .bool(true))
        #expect(members.value(of: "x", in: body) == .bool(false))
        #expect(members.value(of: "n", in: body) == .null)
        #expect(members.value(of: "e", in: body) == .string("a\"bé"))
        #expect(members.value(of: "o", in: body)?["k"]?.arrayValue?.first?.intValue == 1)
        #expect(members.value(of: "absent", in: body) == nil)
    }
}
