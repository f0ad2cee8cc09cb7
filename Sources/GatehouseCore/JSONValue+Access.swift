import Foundation
import NIOCore

extension JSONValue {
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var intValue: Int? {
        switch self {
        case .int(let value): return Int(exactly: value)
        case .double(let value): return Int(exactly: value)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var isNull: Bool { self == .null }

    /// Parses a request or response body (RFC 8259, see ``JSONReader``).
    public static func decode(_ buffer: ByteBuffer) throws(GatewayError) -> JSONValue {
        let result = buffer.withUnsafeReadableBytes { bytes in
            Result { () throws(JSONReader.Invalid) in try JSONReader.parse(bytes) }
        }
        switch result {
        case .success(let value): return value
        case .failure(let invalid): throw GatewayError.invalidJSON("\(invalid.reason) at byte \(invalid.offset)")
        }
    }

    /// Encodes to a buffer (sorted keys, compact).
    public func encodedBuffer() -> ByteBuffer {
        var bytes: [UInt8] = []
        JSONWriter.write(self, into: &bytes)
        return ByteBuffer(bytes: bytes)
    }
}

/// Reads fields of a JSON object with errors that name the offending field.
public struct JSONObjectReader: Sendable {
    public let object: [String: JSONValue]
    /// Dotted path of this object within the body, for error messages (`messages[2]`).
    public let path: String

    public init(_ value: JSONValue, path: String) throws(GatewayError) {
        guard case .object(let object) = value else {
            throw GatewayError.invalidField(path.isEmpty ? "body" : path, "expected a JSON object")
        }
        self.object = object
        self.path = path
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public subscript(key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    public func string(_ key: String) throws(GatewayError) -> String? {
        guard let value = self[key] else { return nil }
        guard case .string(let string) = value else { throw GatewayError.invalidField(name(key), "expected a string") }
        return string
    }

    public func requiredString(_ key: String) throws(GatewayError) -> String {
        guard let value = try string(key) else { throw GatewayError.missingField(name(key)) }
        return value
    }

    public func int(_ key: String) throws(GatewayError) -> Int? {
        guard let value = self[key] else { return nil }
        guard let int = value.intValue else { throw GatewayError.invalidField(name(key), "expected an integer") }
        return int
    }

    public func double(_ key: String) throws(GatewayError) -> Double? {
        guard let value = self[key] else { return nil }
        guard let double = value.doubleValue else { throw GatewayError.invalidField(name(key), "expected a number") }
        return double
    }

    public func bool(_ key: String) throws(GatewayError) -> Bool? {
        guard let value = self[key] else { return nil }
        guard let bool = value.boolValue else { throw GatewayError.invalidField(name(key), "expected true or false") }
        return bool
    }

    public func array(_ key: String) throws(GatewayError) -> [JSONValue]? {
        guard let value = self[key] else { return nil }
        guard let array = value.arrayValue else { throw GatewayError.invalidField(name(key), "expected an array") }
        return array
    }

    public func object(_ key: String) throws(GatewayError) -> JSONObjectReader? {
        guard let value = self[key] else { return nil }
        return try JSONObjectReader(value, path: name(key))
    }

    /// Keys present in the object but absent from `known`, sorted.
    public func unknownKeys(known: Set<String>) -> [String] {
        object.keys.filter { !known.contains($0) }.sorted()
    }
}

/// Builds JSON objects without nulls for absent optionals.
public struct JSONObjectBuilder {
    public private(set) var object: [String: JSONValue] = [:]

    public init() {}

    public subscript(key: String) -> JSONValue? {
        get { object[key] }
        set { object[key] = newValue }
    }

    public mutating func set(_ key: String, _ value: String?) { if let value { object[key] = .string(value) } }
    public mutating func set(_ key: String, _ value: Int?) { if let value { object[key] = .int(Int64(value)) } }
    public mutating func set(_ key: String, _ value: Double?) { if let value { object[key] = .double(value) } }
    public mutating func set(_ key: String, _ value: Bool?) { if let value { object[key] = .bool(value) } }
    public mutating func set(_ key: String, _ value: JSONValue?) { if let value { object[key] = value } }

    public var value: JSONValue { .object(object) }
}
