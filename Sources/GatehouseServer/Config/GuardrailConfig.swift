import GatehouseCore
import GatehousePolicy
import GatehouseSecurity

extension GatewayConfig {
    /// A policy file on its own (the mapping that `guardrails.policies.NAME` holds), for
    /// `gatehouse guard scan --policy FILE`.
    public static func parseGuardrailPolicy(_ text: String, file: String, name: String = "policy") throws
        -> GuardrailPolicy
    {
        let root = try composeRoot(text, file: file)
        let reader = Reader(file: file, environment: [:])
        return try reader.readPolicy(root ?? [String: Any](), key: "", name: name)
    }
}

extension GatewayConfig.Reader {
    func readGuardrails(_ value: Any, into config: inout GatewayConfig) throws {
        let guardrails = try mapping(value, "guardrails", allowed: ["policies", "default"])
        if let policies = guardrails["policies"] {
            guard let named = policies as? [String: Any] else {
                throw fail("guardrails.policies", "must be a mapping of policy names to policies")
            }
            for name in named.keys.sorted() {
                guard SealedKeyStore.isValidName(name) else {
                    throw fail(
                        "guardrails.policies.\(name)", "is not a valid policy name (letters, digits, '.', '_', '-')")
                }
                let policy = try readPolicy(named[name] as Any, key: "guardrails.policies.\(name)", name: name)
                config.guardrailPolicies[name] = policy
                // Each webhook is an endpoint of the keyholder's, like a provider.
                for hook in policy.webhooks {
                    guard !config.providers.contains(where: { $0.name == hook.endpoint }) else {
                        throw fail("guardrails.policies.\(name)", "a provider is named '\(hook.endpoint)'")
                    }
                    config.webhookEndpoints.append(
                        GatewayConfig.Provider(
                            name: hook.endpoint, kind: .openAICompatible, baseURL: hook.url, keyName: hook.keyName))
                }
            }
        }
        if let name = try string(guardrails["default"], "guardrails.default") {
            if config.guardrailPolicies[name] == nil, name == GuardrailPolicies.builtInDefaultName {
                config.guardrailPolicies[name] = GuardrailPolicies.builtInDefault()
            }
            guard config.guardrailPolicies[name] != nil else {
                throw fail(
                    "guardrails.default",
                    "'\(name)' is not a policy under guardrails.policies (or the built-in 'default')")
            }
            config.defaultGuardrails = name
        }
    }

    func readPolicy(_ value: Any, key: String, name: String) throws -> GuardrailPolicy {
        let prefix = key.isEmpty ? "" : key + "."
        let policy = try mapping(value, key, allowed: ["input", "output"])
        var result = GuardrailPolicy(name: name)
        for direction in [GuardrailDirection.input, .output] {
            guard let section = policy[direction.rawValue] else { continue }
            let sectionKey = prefix + direction.rawValue
            let kinds = ScannerKind.allCases.filter { $0.directions.contains(direction) }
            let scanners = try mapping(section, sectionKey, allowed: Set(kinds.map(\.rawValue)))
            for kind in kinds {
                guard let setting = scanners[kind.rawValue] else { continue }
                let settingKey = "\(sectionKey).\(kind.rawValue)"
                switch kind {
                case .tokenLimit:
                    result.tokenLimit = try int(setting, settingKey, range: 1...10_000_000)
                case .canary:
                    result.canary = try action(setting, settingKey, allowed: [])
                case .webhook:
                    result.webhooks.append(try readWebhook(setting, settingKey, direction: direction, policy: name))
                case .json:
                    result.json = try action(setting, settingKey, allowed: [])
                    guard result.json != .redact else {
                        throw fail(
                            settingKey, "must be block, flag or off (an answer that is not JSON cannot be redacted)")
                    }
                case .regex:
                    guard let list = setting as? [Any] else {
                        throw fail(settingKey, "must be a list of {name, pattern, action}")
                    }
                    for (index, item) in list.enumerated() {
                        let itemKey = "\(settingKey)[\(index)]"
                        let fields = try mapping(
                            item, itemKey, allowed: ["name", "pattern", "action", "case_insensitive"])
                        guard let label = try string(fields["name"], "\(itemKey).name"),
                            SealedKeyStore.isValidName(label)
                        else {
                            throw fail("\(itemKey).name", "is required: letters, digits, '.', '_', '-'")
                        }
                        guard let pattern = try string(fields["pattern"], "\(itemKey).pattern"), !pattern.isEmpty else {
                            throw fail("\(itemKey).pattern", "is required")
                        }
                        let caseInsensitive =
                            try bool(fields["case_insensitive"], "\(itemKey).case_insensitive") ?? false
                        let regex: LinearRegex
                        do {
                            regex = try LinearRegex(pattern, caseInsensitive: caseInsensitive)
                        } catch {
                            throw fail("\(itemKey).pattern", "is refused: \(error)")
                        }
                        let ruleAction = try action(fields["action"] ?? "block", "\(itemKey).action", allowed: [])
                        let rule = GuardrailRule(
                            kind: .regex, action: ruleAction, label: label,
                            scanner: RegexScanner(name: label, regex: regex))
                        append(rule, direction, to: &result)
                    }
                default:
                    var options: [String: Any] = [:]
                    let ruleAction: GuardrailAction
                    let allowed = Self.options[kind] ?? []
                    if setting is [String: Any] {
                        options = try mapping(setting, settingKey, allowed: allowed.union(["action"]))
                        ruleAction = try action(options["action"] ?? "block", "\(settingKey).action", allowed: [])
                    } else {
                        ruleAction = try action(setting, settingKey, allowed: [])
                    }
                    let scanner = try makeScanner(kind, options: options, key: settingKey)
                    append(GuardrailRule(kind: kind, action: ruleAction, scanner: scanner), direction, to: &result)
                }
            }
        }
        return result
    }

    /// `webhook: {url, action, timeout_ms, on_error, key}`.
    private func readWebhook(_ value: Any, _ key: String, direction: GuardrailDirection, policy: String) throws
        -> GuardrailWebhook
    {
        let fields = try mapping(value, key, allowed: ["url", "action", "timeout_ms", "on_error", "key"])
        guard let url = try string(fields["url"], "\(key).url"),
            url.hasPrefix("http://") || url.hasPrefix("https://")
        else {
            throw fail("\(key).url", "is required: the service's http:// or https:// URL")
        }
        let hookAction = try action(fields["action"] ?? "block", "\(key).action", allowed: [])
        guard hookAction == .block || hookAction == .flag else {
            throw fail("\(key).action", "must be block or flag")
        }
        let timeout = try int(fields["timeout_ms"], "\(key).timeout_ms", range: 1...60_000) ?? 1000
        let onError = try string(fields["on_error"], "\(key).on_error") ?? "block"
        guard onError == "block" || onError == "allow" else {
            throw fail("\(key).on_error", "must be block (fail closed, the default) or allow")
        }
        let keyName = try string(fields["key"], "\(key).key")
        if let keyName, !SealedKeyStore.isValidName(keyName) {
            throw fail("\(key).key", "is not a sealed key name (letters, digits, '.', '_', '-')")
        }
        return GuardrailWebhook(
            direction: direction, url: url, keyName: keyName, action: hookAction, failsClosed: onError == "block",
            timeout: .milliseconds(timeout),
            endpoint: GuardrailWebhook.endpointName(policy: policy, direction: direction))
    }

    /// The options each scanner takes besides `action`.
    static let options: [ScannerKind: Set<String>] = [
        .pii: ["names"], .promptInjection: ["threshold"], .bannedSubstrings: ["values", "case_sensitive"],
        .markdownImageExfil: ["allow_hosts"],
    ]

    private func append(_ rule: GuardrailRule, _ direction: GuardrailDirection, to policy: inout GuardrailPolicy) {
        guard rule.action != .off else { return }
        switch direction {
        case .input: policy.input.append(rule)
        case .output: policy.output.append(rule)
        }
    }

    private func makeScanner(_ kind: ScannerKind, options: [String: Any], key: String) throws -> any TextScanner {
        switch kind {
        case .secrets: return SecretScanner()
        case .pii: return PIIScanner(names: try strings(options["names"], "\(key).names"))
        case .invisibleText: return InvisibleTextScanner()
        case .promptInjection:
            let threshold = try string(options["threshold"], "\(key).threshold").map { text -> Double in
                guard let value = Double(text), (0...1).contains(value) else {
                    throw fail("\(key).threshold", "must be a number from 0 to 1")
                }
                return value
            }
            return PromptInjectionScanner(threshold: threshold ?? 0.75)
        case .bannedSubstrings:
            let values = try strings(options["values"], "\(key).values")
            guard !values.isEmpty else { throw fail("\(key).values", "is required: a list of substrings") }
            return BannedSubstringScanner(
                values, caseSensitive: try bool(options["case_sensitive"], "\(key).case_sensitive") ?? false)
        case .markdownImageExfil:
            return MarkdownExfilScanner(allowedHosts: try strings(options["allow_hosts"], "\(key).allow_hosts"))
        case .regex, .tokenLimit, .canary, .json, .webhook:
            throw fail(key, "is not a scanner")
        }
    }

    private func action(_ value: Any, _ key: String, allowed: Set<GuardrailAction>) throws -> GuardrailAction {
        guard let text = try string(value, key), let action = GuardrailAction(rawValue: text) else {
            throw fail(key, "must be one of: \(GuardrailAction.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return action
    }

    func bool(_ value: Any?, _ key: String) throws -> Bool? {
        guard let value, !(value is GatewayConfig.Null) else { return nil }
        switch try string(value, key) {
        case "true"?: return true
        case "false"?: return false
        default: throw fail(key, "must be true or false")
        }
    }

    func strings(_ value: Any?, _ key: String) throws -> [String] {
        guard let value, !(value is GatewayConfig.Null) else { return [] }
        guard let list = value as? [Any] else { throw fail(key, "must be a list") }
        return try list.enumerated().map { index, item in
            guard let text = try string(item, "\(key)[\(index)]"), !text.isEmpty else {
                throw fail("\(key)[\(index)]", "must be text")
            }
            return text
        }
    }
}

/// Policies that ship with the gateway.
public enum GuardrailPolicies {
    public static let builtInDefaultName = "default"

    /// `default`: refuse prompts carrying credentials, strip invisible text, flag likely prompt
    /// injection; redact credentials and data-carrying markdown images from answers.
    public static func builtInDefault() -> GuardrailPolicy {
        GuardrailPolicy(
            name: builtInDefaultName,
            input: [
                GuardrailRule(kind: .secrets, action: .block, scanner: SecretScanner()),
                GuardrailRule(kind: .invisibleText, action: .redact, scanner: InvisibleTextScanner()),
                GuardrailRule(kind: .promptInjection, action: .flag, scanner: PromptInjectionScanner()),
            ],
            output: [
                GuardrailRule(kind: .secrets, action: .redact, scanner: SecretScanner()),
                GuardrailRule(kind: .markdownImageExfil, action: .redact, scanner: MarkdownExfilScanner()),
            ])
    }
}
