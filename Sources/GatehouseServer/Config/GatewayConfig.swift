import Foundation
import GatehouseCore
import GatehouseSecurity
import Yams

/// The operator's configuration: listener, limits, providers and models.
///
/// A configuration names where a provider key is sealed (`key: NAME`), never the key.
/// Every problem is reported with the file, the key path and what is wrong, and the
/// gateway does not start: unknown keys are errors too, so a typo cannot silently
/// disable a setting.
public struct GatewayConfig: Sendable {
    public struct Provider: Sendable, Equatable {
        public var name: String
        public var kind: ProviderKind
        public var baseURL: String
        public var keyName: String?
        /// A PEM file of certificate authorities the keyholder trusts for this provider, besides the system's.
        public var caFile: String?

        public init(name: String, kind: ProviderKind, baseURL: String, keyName: String?, caFile: String? = nil) {
            self.name = name
            self.kind = kind
            self.baseURL = baseURL
            self.keyName = keyName
            self.caFile = caFile
        }
    }

    public var host: String?
    public var port: Int?
    public var maxBodyBytes: Int = 16 << 20
    /// The scheduler slice the front's and the keyholder's event-loop threads ask the kernel for, in
    /// microseconds (`server.scheduler_slice_us`); 0 leaves the kernel's default.
    public var schedulerSliceMicroseconds: Int = 100
    /// Event-loop threads of the front and of the keyholder, each (`server.event_loops`); 0 is
    /// half the cores, at least one.
    public var eventLoops: Int = 0
    public var audience: String = "gatehouse"
    public var providers: [Provider] = []
    public var models: [Deployment] = []

    public init() {}

    public struct LoadError: Error, CustomStringConvertible {
        public let file: String
        public let key: String
        public let problem: String
        public var description: String { "\(file): \(key): \(problem)" }
    }

    public static func load(file: String, environment: [String: String]) throws -> GatewayConfig {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw LoadError(file: file, key: "(file)", problem: "cannot be read (\(error.localizedDescription))")
        }
        return try parse(text, file: file, environment: environment)
    }

    public static func parse(_ text: String, file: String, environment: [String: String]) throws -> GatewayConfig {
        let root: Any?
        do {
            // Yams' basic resolver has no tag rules: its default rules are regular expressions
            // that load ICU's regex engine into every process at start-up. Scalars are typed below.
            root = try Yams.compose(yaml: text, .basic).map(value)
        } catch let error as LoadError {
            throw LoadError(file: file, key: error.key, problem: error.problem)
        } catch {
            throw LoadError(file: file, key: "(syntax)", problem: "is not valid YAML: \(error)")
        }
        var reader = Reader(file: file, environment: environment)
        return try reader.read(root)
    }

    /// A YAML null (`~`, `null` or nothing): a setting given no value.
    private struct Null {}

    /// An unquoted integer: its value where a number is wanted, its text as written where text is.
    private struct Integer {
        let text: String
        let value: Int
    }

    /// A node as mappings, lists, text, integers and nulls. Only a plain (unquoted) scalar is
    /// typed, as YAML 1.1 does: a null, or an integer (decimal; octal with a leading `0` or `0o`;
    /// `0x` hexadecimal; `0b` binary; `_` separators); anything else, and every quoted scalar, is text.
    private static func value(_ node: Node) throws -> Any {
        switch node {
        case .scalar(let scalar):
            guard scalar.style == .plain else { return scalar.string }
            switch scalar.string {
            case "", "~", "null", "Null", "NULL": return Null()
            case let text: return integer(text).map { Integer(text: text, value: $0) } ?? text
            }
        case .mapping(let mapping):
            var dictionary: [String: Any] = [:]
            for (key, entry) in mapping {
                guard case .scalar(let name) = key else {
                    throw LoadError(file: "", key: "(syntax)", problem: "has a mapping key that is not a string")
                }
                dictionary[name.string] = try value(entry)
            }
            return dictionary
        case .sequence(let sequence):
            return try sequence.map(value)
        case .alias:
            // The parser substitutes the anchored node for an alias; an unresolved one is refused.
            throw LoadError(file: "", key: "(syntax)", problem: "has an alias the parser did not resolve")
        }
    }

    private static func integer(_ text: String) -> Int? {
        var digits = Substring(text)
        let negative = digits.first == "-"
        if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
        let radix: Int
        if digits.hasPrefix("0x") {
            (radix, digits) = (16, digits.dropFirst(2))
        } else if digits.hasPrefix("0o") {
            (radix, digits) = (8, digits.dropFirst(2))
        } else if digits.hasPrefix("0b") {
            (radix, digits) = (2, digits.dropFirst(2))
        } else if digits.first == "0", digits.count > 1 {
            (radix, digits) = (8, digits.dropFirst())
        } else {
            // A decimal starts with a digit (`_` may separate digits, not lead).
            guard digits.first?.isASCII == true, digits.first?.isNumber == true else { return nil }
            radix = 10
        }
        let cleaned = digits.filter { $0 != "_" }
        // Digits only: Int(_:radix:) would also take a sign of its own.
        guard !cleaned.isEmpty, cleaned.allSatisfy({ $0.isASCII && $0.isHexDigit }),
            let magnitude = Int(cleaned, radix: radix)
        else { return nil }
        return negative ? -magnitude : magnitude
    }

    private struct Reader {
        let file: String
        let environment: [String: String]

        func fail(_ key: String, _ problem: String) -> LoadError { LoadError(file: file, key: key, problem: problem) }

        func mapping(_ value: Any?, _ key: String, allowed: Set<String>) throws -> [String: Any] {
            guard let dictionary = value as? [String: Any] else { throw fail(key, "must be a mapping") }
            if let unknown = dictionary.keys.filter({ !allowed.contains($0) }).sorted().first {
                throw fail(key.isEmpty ? unknown : "\(key).\(unknown)", "is not a known setting (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            return dictionary
        }

        func string(_ value: Any?, _ key: String) throws -> String? {
            guard let value, !(value is Null) else { return nil }
            let text: String
            switch value {
            case let string as String: text = string
            case let integer as Integer: text = integer.text
            default: throw fail(key, "must be a string")
            }
            return try interpolate(text, key)
        }

        func int(_ value: Any?, _ key: String, range: ClosedRange<Int>) throws -> Int? {
            guard let value, !(value is Null) else { return nil }
            let number: Int?
            switch value {
            case let integer as Integer: number = integer.value
            case let string as String: number = Int(try interpolate(string, key))
            default: number = nil
            }
            guard let number, range.contains(number) else {
                throw fail(key, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }

        /// Replaces `${VAR}` and `${VAR:-default}` with environment values.
        func interpolate(_ text: String, _ key: String) throws -> String {
            guard text.contains("${") else { return text }
            var output = ""
            var rest = Substring(text)
            while let start = rest.range(of: "${") {
                output += rest[..<start.lowerBound]
                guard let end = rest[start.upperBound...].firstIndex(of: "}") else { throw fail(key, "has an unterminated ${…}") }
                let expression = rest[start.upperBound..<end]
                let parts = expression.split(separator: ":-", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0])
                if let value = environment[name], !value.isEmpty {
                    output += value
                } else if parts.count == 2 {
                    output += parts[1]
                } else {
                    throw fail(key, "refers to environment variable \(name), which is not set")
                }
                rest = rest[rest.index(after: end)...]
            }
            return output + rest
        }

        mutating func read(_ root: Any?) throws -> GatewayConfig {
            var config = GatewayConfig()
            guard let root else { return config }
            let top = try mapping(root, "", allowed: ["server", "auth", "providers", "models"])
            if let server = top["server"] {
                let server = try mapping(
                    server, "server", allowed: ["host", "port", "max_body_bytes", "scheduler_slice_us", "event_loops"])
                config.host = try string(server["host"], "server.host")
                config.port = try int(server["port"], "server.port", range: 0...65535)
                config.maxBodyBytes = try int(server["max_body_bytes"], "server.max_body_bytes", range: 1024...(1 << 30)) ?? config.maxBodyBytes
                config.schedulerSliceMicroseconds =
                    try int(server["scheduler_slice_us"], "server.scheduler_slice_us", range: 0...100_000)
                    ?? config.schedulerSliceMicroseconds
                config.eventLoops = try int(server["event_loops"], "server.event_loops", range: 0...256) ?? config.eventLoops
            }
            if let auth = top["auth"] {
                let auth = try mapping(auth, "auth", allowed: ["audience"])
                config.audience = try string(auth["audience"], "auth.audience") ?? config.audience
            }
            guard let providers = top["providers"] else { throw fail("providers", "is required: declare at least one provider") }
            guard let providerMap = providers as? [String: Any], !providerMap.isEmpty else {
                throw fail("providers", "must be a mapping of provider names to settings")
            }
            for name in providerMap.keys.sorted() {
                let key = "providers.\(name)"
                guard SealedKeyStore.isValidName(name) else {
                    throw fail(key, "is not a valid provider name (letters, digits, '.', '_', '-')")
                }
                let settings = try mapping(providerMap[name], key, allowed: ["kind", "base_url", "key", "ca_file"])
                guard let kindName = try string(settings["kind"], "\(key).kind") else { throw fail("\(key).kind", "is required") }
                guard let kind = ProviderKind(rawValue: kindName) else {
                    throw fail("\(key).kind", "'\(kindName)' is not a provider kind (expected one of: \(ProviderKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                guard let baseURL = try string(settings["base_url"], "\(key).base_url") ?? kind.defaultBaseURL else {
                    throw fail("\(key).base_url", "is required for kind \(kind.rawValue)")
                }
                guard let url = try? ProviderURL(baseURL) else {
                    throw fail("\(key).base_url", "'\(baseURL)' must be an absolute http(s) URL with a host and no query, fragment or user info")
                }
                let keyName = try string(settings["key"], "\(key).key")
                if let keyName, !SealedKeyStore.isValidName(keyName) {
                    throw fail("\(key).key", "must name a sealed key (see `gatehouse keys list`), not contain one")
                }
                let caFile = try string(settings["ca_file"], "\(key).ca_file")
                if let caFile {
                    guard url.scheme == "https" else {
                        throw fail("\(key).ca_file", "applies to an https base_url only")
                    }
                    guard caFile.hasPrefix("/") else { throw fail("\(key).ca_file", "must be an absolute path to a PEM file") }
                }
                config.providers.append(Provider(name: name, kind: kind, baseURL: baseURL, keyName: keyName, caFile: caFile))
            }
            guard let models = top["models"] as? [Any], !models.isEmpty else {
                throw fail("models", "is required: a list of {name, provider, model}")
            }
            var seen = Set<String>()
            for (index, entry) in models.enumerated() {
                let key = "models[\(index)]"
                let settings = try mapping(entry, key, allowed: ["name", "provider", "model", "default_max_tokens"])
                guard let name = try string(settings["name"], "\(key).name"), !name.isEmpty else { throw fail("\(key).name", "is required") }
                guard seen.insert(name).inserted else { throw fail("\(key).name", "'\(name)' is declared twice") }
                guard let providerName = try string(settings["provider"], "\(key).provider") else {
                    throw fail("\(key).provider", "is required")
                }
                guard let provider = config.providers.first(where: { $0.name == providerName }) else {
                    throw fail("\(key).provider", "'\(providerName)' is not declared under providers")
                }
                let upstream = try string(settings["model"], "\(key).model") ?? name
                let maxTokens = try int(settings["default_max_tokens"], "\(key).default_max_tokens", range: 1...1_000_000) ?? 4096
                config.models.append(
                    Deployment(publicName: name, provider: provider.name, kind: provider.kind, upstreamModel: upstream, defaultMaxTokens: maxTokens))
            }
            return config
        }
    }
}
