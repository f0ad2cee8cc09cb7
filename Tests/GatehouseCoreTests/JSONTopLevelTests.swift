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

    @Test("rejects repeated top-level keys, even when escaped", arguments: [
        #"{"model":"a","model":"b"}"#, #"{"model":"a","mod\u0065l":"b"}"#, #"{"stream":false,"x":[],"stream":true}"#,
    ])
    func duplicates(json: String) {
        #expect(throws: JSONTopLevel.ScanError.self) { try JSONTopLevel(scanning: Array(json.utf8)) }
    }

    @Test("rejects what is not an object", arguments: ["[]", "\"model\"", "{\"a\":", "{\"a\" 1}", ""])
    func notObjects(json: String) {
        #expect(throws: JSONTopLevel.ScanError.self) { try JSONTopLevel(scanning: Array(json.utf8)) }
    }
}
