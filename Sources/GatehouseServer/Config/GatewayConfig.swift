import Foundation
import GatehouseCore
import GatehousePolicy
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
    /// The public models, each with its deployments and routing settings.
    public var routes: [ModelRoute] = []
    /// When a deployment is taken out of rotation (`router.cooldown`).
    public var cooldown = CooldownPolicy()
    /// The wait between attempts (`router.backoff`).
    public var backoff = Backoff()
    /// Further attempts after the first for models that do not set `retries` (`router.retries`).
    public var defaultRetries = 2

    /// Named guardrail policies (`guardrails.policies`).
    public var guardrailPolicies: [String: GuardrailPolicy] = [:]
    /// The guardrail policies' webhooks, as endpoints of the keyholder (not providers: no model
    /// routes to them).
    public var webhookEndpoints: [Provider] = []
    /// The policy of models that name none (`guardrails.default`).
    public var defaultGuardrails: String?
    /// Each model's guardrail policy, by model name (`models[].guardrails`).
    public var modelGuardrails: [String: String] = [:]

    /// Prices, budgets and limits (`prices:`, `pricing:`, `budgets:`, `limits:`).
    public var accounting = AccountingPolicy()
    /// Where the ledger keeps its state (`state:`).
    public var state = LedgerStateConfig()

    /// Every deployment of every model, in the written order.
    public var models: [Deployment] { routes.flatMap { $0.deployments.map(\.deployment) } }

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
        var reader = Reader(file: file, environment: environment)
        return try reader.read(composeRoot(text, file: file))
    }

    /// The YAML document as plain values (nil when empty), its errors naming `file`.
    static func composeRoot(_ text: String, file: String) throws -> Any? {
        do {
            // Yams' basic resolver has no tag rules: its default rules are regular expressions
            // that load ICU's regex engine into every process at start-up. Scalars are typed below.
            return try Yams.compose(yaml: text, .basic).map(value)
        } catch let error as LoadError {
            throw LoadError(file: file, key: error.key, problem: error.problem)
        } catch {
            throw LoadError(file: file, key: "(syntax)", problem: "is not valid YAML: \(error)")
        }
    }

    /// A YAML null (`~`, `null` or nothing): a setting given no value.
    struct Null {}

    /// An unquoted integer: its value where a number is wanted, its text as written where text is.
    struct Integer {
        let text: String
        let value: Int
    }

    /// A node as mappings, lists, text, integers and nulls. Only a plain (unquoted) scalar is
    /// typed, as YAML 1.1 does: a null, or an integer (decimal; octal with a leading `0` or `0o`;
    /// `0x` hexadecimal; `0b` binary; `_` separators); anything else, and every quoted scalar, is text.
    static func value(_ node: Node) throws -> Any {
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

    struct Reader {
        let file: String
        let environment: [String: String]

        func fail(_ key: String, _ problem: String) -> LoadError { LoadError(file: file, key: key, problem: problem) }

        func mapping(_ value: Any?, _ key: String, allowed: Set<String>) throws -> [String: Any] {
            guard let dictionary = value as? [String: Any] else { throw fail(key, "must be a mapping") }
            if let unknown = dictionary.keys.filter({ !allowed.contains($0) }).sorted().first {
                throw fail(
                    key.isEmpty ? unknown : "\(key).\(unknown)",
                    "is not a known setting (expected one of: \(allowed.sorted().joined(separator: ", ")))")
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
                guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                    throw fail(key, "has an unterminated ${…}")
                }
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
            let top = try mapping(
                root, "",
                allowed: [
                    "server", "auth", "providers", "models", "router", "guardrails", "prices", "pricing", "budgets",
                    "limits", "state",
                ])
            if let server = top["server"] {
                let server = try mapping(
                    server, "server", allowed: ["host", "port", "max_body_bytes", "scheduler_slice_us", "event_loops"])
                config.host = try string(server["host"], "server.host")
                config.port = try int(server["port"], "server.port", range: 0...65535)
                config.maxBodyBytes =
                    try int(server["max_body_bytes"], "server.max_body_bytes", range: 1024...(1 << 30))
                    ?? config.maxBodyBytes
                config.schedulerSliceMicroseconds =
                    try int(server["scheduler_slice_us"], "server.scheduler_slice_us", range: 0...100_000)
                    ?? config.schedulerSliceMicroseconds
                config.eventLoops =
                    try int(server["event_loops"], "server.event_loops", range: 0...256) ?? config.eventLoops
            }
            if let auth = top["auth"] {
                let auth = try mapping(auth, "auth", allowed: ["audience"])
                config.audience = try string(auth["audience"], "auth.audience") ?? config.audience
            }
            guard let providers = top["providers"] else {
                throw fail("providers", "is required: declare at least one provider")
            }
            guard let providerMap = providers as? [String: Any], !providerMap.isEmpty else {
                throw fail("providers", "must be a mapping of provider names to settings")
            }
            for name in providerMap.keys.sorted() {
                let key = "providers.\(name)"
                guard SealedKeyStore.isValidName(name) else {
                    throw fail(key, "is not a valid provider name (letters, digits, '.', '_', '-')")
                }
                let settings = try mapping(providerMap[name], key, allowed: ["kind", "base_url", "key", "ca_file"])
                guard let kindName = try string(settings["kind"], "\(key).kind") else {
                    throw fail("\(key).kind", "is required")
                }
                guard let kind = ProviderKind(rawValue: kindName) else {
                    throw fail(
                        "\(key).kind",
                        "'\(kindName)' is not a provider kind (expected one of: \(ProviderKind.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                guard let baseURL = try string(settings["base_url"], "\(key).base_url") ?? kind.defaultBaseURL else {
                    throw fail("\(key).base_url", "is required for kind \(kind.rawValue)")
                }
                guard let url = try? ProviderURL(baseURL) else {
                    throw fail(
                        "\(key).base_url",
                        "'\(baseURL)' must be an absolute http(s) URL with a host and no query, fragment or user info")
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
                    guard caFile.hasPrefix("/") else {
                        throw fail("\(key).ca_file", "must be an absolute path to a PEM file")
                    }
                }
                config.providers.append(
                    Provider(name: name, kind: kind, baseURL: baseURL, keyName: keyName, caFile: caFile))
            }
            if let router = top["router"] { try readRouter(router, into: &config) }
            if let guardrails = top["guardrails"] { try readGuardrails(guardrails, into: &config) }
            if let prices = top["prices"] { try readPrices(prices, into: &config.accounting) }
            if let pricing = top["pricing"] { try readPricing(pricing, into: &config.accounting) }
            if let budgets = top["budgets"] { try readBudgets(budgets, into: &config.accounting) }
            if let limits = top["limits"] { try readLimits(limits, into: &config.accounting) }
            if let state = top["state"] { config.state = try readState(state) }
            guard let models = top["models"] as? [Any], !models.isEmpty else {
                throw fail("models", "is required: a list of {name, provider, model} or {name, deployments: [...]}")
            }
            var seen = Set<String>()
            for (index, entry) in models.enumerated() {
                let route = try readModel(entry, key: "models[\(index)]", config: config)
                if let settings = entry as? [String: Any],
                    let policy = try string(settings["guardrails"], "models[\(index)].guardrails")
                {
                    if config.guardrailPolicies[policy] == nil, policy == GuardrailPolicies.builtInDefaultName {
                        config.guardrailPolicies[policy] = GuardrailPolicies.builtInDefault()
                    }
                    guard config.guardrailPolicies[policy] != nil else {
                        throw fail(
                            "models[\(index)].guardrails", "'\(policy)' is not a policy under guardrails.policies")
                    }
                    config.modelGuardrails[route.name] = policy
                }
                guard seen.insert(route.name).inserted else {
                    throw fail("models[\(index)].name", "'\(route.name)' is declared twice")
                }
                config.routes.append(route)
            }
            for (index, route) in config.routes.enumerated() {
                for (field, names) in [
                    ("fallbacks", route.fallbacks), ("context_window_fallbacks", route.contextWindowFallbacks),
                ] {
                    for name in names {
                        guard name != route.name else {
                            throw fail("models[\(index)].\(field)", "'\(name)' is the model itself")
                        }
                        guard seen.contains(name) else {
                            throw fail("models[\(index)].\(field)", "'\(name)' is not a model declared under models")
                        }
                    }
                }
            }
            return config
        }

        func readRouter(_ value: Any, into config: inout GatewayConfig) throws {
            let router = try mapping(value, "router", allowed: ["cooldown", "retries", "backoff"])
            if let cooldown = router["cooldown"] {
                let cooldown = try mapping(
                    cooldown, "router.cooldown", allowed: ["failures", "window_s", "cooldown_s"])
                let failures =
                    try int(cooldown["failures"], "router.cooldown.failures", range: 1...1000)
                    ?? config.cooldown.failures
                let window = try int(cooldown["window_s"], "router.cooldown.window_s", range: 1...86400)
                let pause = try int(cooldown["cooldown_s"], "router.cooldown.cooldown_s", range: 0...86400)
                config.cooldown = CooldownPolicy(
                    failures: failures, window: window.map { .seconds($0) } ?? config.cooldown.window,
                    cooldown: pause.map { .seconds($0) } ?? config.cooldown.cooldown)
            }
            config.defaultRetries = try int(router["retries"], "router.retries", range: 0...10) ?? config.defaultRetries
            if let backoff = router["backoff"] {
                let backoff = try mapping(backoff, "router.backoff", allowed: ["base_ms", "max_ms"])
                let base = try int(backoff["base_ms"], "router.backoff.base_ms", range: 0...60000)
                let cap = try int(backoff["max_ms"], "router.backoff.max_ms", range: 0...600_000)
                config.backoff = Backoff(
                    base: base.map { .milliseconds($0) } ?? config.backoff.base,
                    cap: cap.map { .milliseconds($0) } ?? config.backoff.cap)
            }
        }

        /// One entry of `models`: the one-provider form (`provider`, `model`) or a list of `deployments`.
        func readModel(_ entry: Any, key: String, config: GatewayConfig) throws -> ModelRoute {
            let settings = try mapping(
                entry, key,
                allowed: [
                    "name", "provider", "model", "default_max_tokens", "strategy", "deployments", "fallbacks",
                    "context_window_fallbacks", "retries", "timeouts", "guardrails", "limits",
                ])
            guard let name = try string(settings["name"], "\(key).name"), !name.isEmpty else {
                throw fail("\(key).name", "is required")
            }
            var deployments: [RouteDeployment] = []
            if let list = settings["deployments"] {
                for field in ["provider", "model", "default_max_tokens", "limits"] where settings[field] != nil {
                    throw fail("\(key).\(field)", "belongs to each deployment when the model lists deployments")
                }
                guard let list = list as? [Any], !list.isEmpty else {
                    throw fail("\(key).deployments", "must be a non-empty list of {name, provider, model}")
                }
                var names = Set<String>()
                for (index, item) in list.enumerated() {
                    let deploymentKey = "\(key).deployments[\(index)]"
                    let fields = try mapping(
                        item, deploymentKey,
                        allowed: ["name", "provider", "model", "weight", "cost_rank", "default_max_tokens", "limits"])
                    let deployment = try readDeployment(fields, key: deploymentKey, model: name, config: config)
                    guard names.insert(deployment.deployment.name).inserted else {
                        throw fail(
                            "\(deploymentKey).name",
                            "'\(deployment.deployment.name)' is declared twice in this model (give each deployment a name)"
                        )
                    }
                    deployments.append(deployment)
                }
            } else {
                deployments = [try readDeployment(settings, key: key, model: name, config: config, named: false)]
            }
            var strategy = RoutingStrategy.weighted
            if let text = try string(settings["strategy"], "\(key).strategy") {
                guard let parsed = RoutingStrategy(rawValue: text) else {
                    throw fail(
                        "\(key).strategy",
                        "'\(text)' is not a strategy (expected one of: \(RoutingStrategy.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                strategy = parsed
            }
            return ModelRoute(
                name: name, strategy: strategy, deployments: deployments,
                fallbacks: try names(settings["fallbacks"], "\(key).fallbacks"),
                contextWindowFallbacks: try names(
                    settings["context_window_fallbacks"], "\(key).context_window_fallbacks"),
                retries: try int(settings["retries"], "\(key).retries", range: 0...10) ?? config.defaultRetries,
                timeouts: try timeouts(settings["timeouts"], "\(key).timeouts"))
        }

        /// A deployment's settings; in the one-provider form (`named: false`) `name` is the model's, and the
        /// deployment is named after its provider.
        func readDeployment(
            _ fields: [String: Any], key: String, model: String, config: GatewayConfig, named: Bool = true
        ) throws -> RouteDeployment {
            guard let providerName = try string(fields["provider"], "\(key).provider") else {
                throw fail("\(key).provider", "is required")
            }
            guard let provider = config.providers.first(where: { $0.name == providerName }) else {
                throw fail("\(key).provider", "'\(providerName)' is not declared under providers")
            }
            let name = named ? try string(fields["name"], "\(key).name") ?? provider.name : provider.name
            guard SealedKeyStore.isValidName(name) else {
                throw fail("\(key).name", "'\(name)' is not a valid deployment name (letters, digits, '.', '_', '-')")
            }
            let upstream = try string(fields["model"], "\(key).model") ?? model
            let maxTokens =
                try int(fields["default_max_tokens"], "\(key).default_max_tokens", range: 1...1_000_000) ?? 4096
            let weight = try int(fields["weight"], "\(key).weight", range: 1...1_000_000) ?? 1
            let costRank = try int(fields["cost_rank"], "\(key).cost_rank", range: 0...1_000_000)
            let deployment = Deployment(
                publicName: model, name: name, provider: provider.name, kind: provider.kind, upstreamModel: upstream,
                defaultMaxTokens: maxTokens)
            let limits = try fields["limits"].map { try readRates($0, key: "\(key).limits") }
            return RouteDeployment(
                deployment, weight: weight, costRank: costRank, requestsPerMinute: limits?.requestsPerMinute,
                tokensPerMinute: limits?.tokensPerMinute)
        }

        /// A list of model names.
        func names(_ value: Any?, _ key: String) throws -> [String] {
            guard let value, !(value is Null) else { return [] }
            guard let list = value as? [Any] else { throw fail(key, "must be a list of model names") }
            return try list.enumerated().map { index, item in
                guard let name = try string(item, "\(key)[\(index)]"), !name.isEmpty else {
                    throw fail("\(key)[\(index)]", "must be a model name")
                }
                return name
            }
        }

        func timeouts(_ value: Any?, _ key: String) throws -> RouteTimeouts {
            guard let value, !(value is Null) else { return RouteTimeouts() }
            let fields = try mapping(value, key, allowed: ["connect_ms", "first_byte_ms", "idle_ms", "total_ms"])
            func limit(_ name: String) throws -> Duration? {
                try int(fields[name], "\(key).\(name)", range: 1...86_400_000).map { .milliseconds($0) }
            }
            return RouteTimeouts(
                connect: try limit("connect_ms"), firstByte: try limit("first_byte_ms"), idle: try limit("idle_ms"),
                total: try limit("total_ms"))
        }
    }
}
