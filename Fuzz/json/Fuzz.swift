import Foundation
import GatehouseCore

/// The top-level JSON scanner (what every request body passes first) against two readers:
/// the gateway's own JSON parser and Foundation's `JSONSerialization`. What the scanner accepts,
/// both must accept as an object with the same keys; what the gateway's parser accepts,
/// Foundation (more lenient: trailing commas) must too. And nothing crashes or hangs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let scanned = try? JSONTopLevel(scanning: bytes)
    let foundation = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    let text = String(validating: bytes, as: UTF8.self)
    let parsed = text.flatMap(JSONValue.parse)
    if let scanned {
        let keys = Set(scanned.members.map(\.key))
        check(keys.count == scanned.members.count, "the scanner accepted a repeated key")
        guard let object = foundation as? [String: Any] else {
            fatalError("the scanner accepted what Foundation refuses as an object")
        }
        check(Set(object.keys) == keys, "the scanner and Foundation see different top-level keys")
        guard let parsedObject = parsed?.objectValue else {
            fatalError("the scanner accepted what the gateway's JSON parser refuses")
        }
        check(Set(parsedObject.keys) == keys, "the scanner and the JSON parser see different keys")
        for member in scanned.members {
            // Each member's value range holds exactly its value: it parses alone.
            let value = Array(bytes[member.valueRange])
            check(
                JSONValue.parse(String(decoding: value, as: UTF8.self)) != nil, "a member's value range is not a value")
        }
    }
    if parsed != nil {
        check(foundation != nil, "the gateway's JSON parser accepted what Foundation refuses")
    }
    return 0
}

/// A property that must hold; fatalError keeps its message in a release build (precondition's does not).
func check(_ condition: @autoclosure () -> Bool, _ message: String) {
    if !condition() { fatalError(message) }
}
