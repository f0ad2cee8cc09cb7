import GatehouseCore
import GatehousePolicy
import GatehouseServer
import Testing

@Suite("Configuration: models with deployments, fallbacks, retries, timeouts and the router")
struct RoutingConfigTests {
    let providers = "providers:\n  oa: {kind: openai}\n  an: {kind: anthropic}\n"

    @Test("reads a model group and the router's settings")
    func group() throws {
        let yaml =
            providers + """
                router:
                  cooldown: {failures: 5, window_s: 30, cooldown_s: 10}
                  retries: 1
                  backoff: {base_ms: 20, max_ms: 500}
                models:
                  - name: smart
                    strategy: latency
                    deployments:
                      - {name: primary, provider: oa, model: gpt-4o, weight: 3, cost_rank: 2}
                      - {provider: an, model: claude, default_max_tokens: 900}
                    fallbacks: [cheap]
                    context_window_fallbacks: [long]
                    retries: 4
                    timeouts: {connect_ms: 2000, first_byte_ms: 30000, idle_ms: 15000, total_ms: 600000}
                  - {name: cheap, provider: oa, model: gpt-4o-mini}
                  - {name: long, provider: an}
                """
        let config = try GatewayConfig.parse(yaml, file: "g.yaml", environment: [:])
        #expect(config.cooldown == CooldownPolicy(failures: 5, window: .seconds(30), cooldown: .seconds(10)))
        #expect(config.backoff.base == .milliseconds(20) && config.backoff.cap == .milliseconds(500))
        let smart = try #require(config.routes.first)
        #expect(smart.strategy == .latency)
        #expect(smart.deployments.map(\.deployment.name) == ["primary", "an"])
        #expect(smart.deployments.map(\.weight) == [3, 1])
        #expect(smart.deployments.map(\.costRank) == [2, nil])
        #expect(smart.deployments[1].deployment.defaultMaxTokens == 900)
        #expect(smart.deployments.allSatisfy { $0.deployment.publicName == "smart" })
        #expect(smart.fallbacks == ["cheap"] && smart.contextWindowFallbacks == ["long"])
        #expect(smart.retries == 4)
        #expect(
            smart.timeouts
                == RouteTimeouts(
                    connect: .seconds(2), firstByte: .seconds(30), idle: .seconds(15), total: .seconds(600)))
        // The one-provider form: one deployment named after its provider, the router's default retries.
        let cheap = config.routes[1]
        #expect(cheap.deployments.map(\.deployment.name) == ["oa"])
        #expect(cheap.strategy == .weighted && cheap.retries == 1)
        #expect(config.routes[2].deployments[0].deployment.upstreamModel == "long")
    }

    @Test("defaults: weighted, two retries, no timeouts of the model's own, cooldown 3 in 60 s for 30 s")
    func defaults() throws {
        let config = try GatewayConfig.parse(
            providers + "models: [{name: m, provider: oa}]", file: "g.yaml", environment: [:])
        #expect(config.routes[0].retries == 2 && config.routes[0].timeouts.isEmpty)
        #expect(config.cooldown == CooldownPolicy())
    }

    @Test(
        "names the file, the key and the problem",
        arguments: [
            ("models: [{name: m, strategy: random, provider: oa}]", "models[0].strategy"),
            ("models: [{name: m, deployments: []}]", "models[0].deployments"),
            ("models: [{name: m, provider: oa, deployments: [{provider: oa}]}]", "models[0].provider"),
            ("models: [{name: m, deployments: [{provider: oa}, {provider: oa}]}]", "models[0].deployments[1].name"),
            ("models: [{name: m, deployments: [{name: 'a/b', provider: oa}]}]", "models[0].deployments[0].name"),
            ("models: [{name: m, deployments: [{provider: nope}]}]", "models[0].deployments[0].provider"),
            ("models: [{name: m, deployments: [{provider: oa, weight: 0}]}]", "models[0].deployments[0].weight"),
            ("models: [{name: m, deployments: [{provider: oa, url: 'http://x'}]}]", "models[0].deployments[0].url"),
            ("models: [{name: m, provider: oa, fallbacks: [ghost]}]", "models[0].fallbacks"),
            ("models: [{name: m, provider: oa, fallbacks: [m]}]", "models[0].fallbacks"),
            (
                "models: [{name: m, provider: oa, context_window_fallbacks: ghost}]",
                "models[0].context_window_fallbacks"
            ),
            ("models: [{name: m, provider: oa, retries: 11}]", "models[0].retries"),
            ("models: [{name: m, provider: oa, timeouts: {first_byte_ms: 0}}]", "models[0].timeouts.first_byte_ms"),
            ("models: [{name: m, provider: oa, timeouts: {read_ms: 5}}]", "models[0].timeouts.read_ms"),
            ("router: {cooldown: {failures: 0}}\nmodels: [{name: m, provider: oa}]", "router.cooldown.failures"),
            ("router: {strategy: weighted}\nmodels: [{name: m, provider: oa}]", "router.strategy"),
        ])
    func invalid(yaml: String, key: String) {
        #expect {
            _ = try GatewayConfig.parse(providers + yaml, file: "bad.yaml", environment: [:])
        } throws: { error in
            "\(error)".hasPrefix("bad.yaml: \(key):")
        }
    }
}

@Suite("Configuration: guardrail policies")
struct GuardrailConfigTests {
    let base = "providers:\n  oa: {kind: openai}\n"

    @Test("reads policies, attaches them to models, and knows the built-in default")
    func policies() throws {
        let yaml =
            base + """
                guardrails:
                  default: default
                  policies:
                    strict:
                      input:
                        secrets: block
                        pii: {action: redact, names: [Ada Lovelace]}
                        prompt_injection: {action: flag, threshold: 0.5}
                        banned_substrings: {action: block, values: [Falcon], case_sensitive: true}
                        regex: [{name: ticket, pattern: "TCK-[0-9]{6}", action: redact}]
                        token_limit: 1000
                        invisible_text: off
                      output: {secrets: redact, markdown_image_exfil: {action: redact, allow_hosts: [a.example]}, canary: block, json: block}
                models:
                  - {name: m, provider: oa, guardrails: strict}
                  - {name: n, provider: oa}
                """
        let config = try GatewayConfig.parse(yaml, file: "g.yaml", environment: [:])
        let strict = try #require(config.guardrailPolicies["strict"])
        #expect(strict.input.map(\.kind) == [.secrets, .pii, .promptInjection, .bannedSubstrings, .regex])
        #expect(strict.input.map(\.action) == [.block, .redact, .flag, .block, .redact])
        #expect(strict.input.last?.label == "ticket")
        #expect(strict.tokenLimit == 1000 && strict.canary == .block && strict.json == .block)
        #expect(strict.output.map(\.kind) == [.secrets, .markdownImageExfil])
        #expect(config.modelGuardrails == ["m": "strict"])
        #expect(config.defaultGuardrails == "default")
        #expect(config.guardrailPolicies["default"]?.input.map(\.kind) == [.secrets, .invisibleText, .promptInjection])
    }

    @Test(
        "names the file, the key and the problem",
        arguments: [
            ("guardrails: {policies: {p: {input: {canary: block}}}}", "guardrails.policies.p.input.canary"),
            (
                "guardrails: {policies: {p: {output: {prompt_injection: block}}}}",
                "guardrails.policies.p.output.prompt_injection"
            ),
            ("guardrails: {policies: {p: {input: {secrets: maybe}}}}", "guardrails.policies.p.input.secrets"),
            (
                "guardrails: {policies: {p: {input: {regex: [{name: r, pattern: '(a)\\1'}]}}}}",
                "guardrails.policies.p.input.regex[0].pattern"
            ),
            (
                "guardrails: {policies: {p: {input: {regex: [{pattern: 'a'}]}}}}",
                "guardrails.policies.p.input.regex[0].name"
            ),
            (
                "guardrails: {policies: {p: {input: {banned_substrings: {action: block}}}}}",
                "guardrails.policies.p.input.banned_substrings.values"
            ),
            (
                "guardrails: {policies: {p: {input: {prompt_injection: {threshold: 2}}}}}",
                "guardrails.policies.p.input.prompt_injection.threshold"
            ),
            (
                "guardrails: {policies: {p: {input: {pii: {action: redact, colour: red}}}}}",
                "guardrails.policies.p.input.pii.colour"
            ),
            ("guardrails: {default: nope}", "guardrails.default"),
            ("guardrails: {policies: {p: {output: {json: redact}}}}", "guardrails.policies.p.output.json"),
            (
                "guardrails: {policies: {p: {input: {webhook: {action: block}}}}}",
                "guardrails.policies.p.input.webhook.url"
            ),
            (
                "guardrails: {policies: {p: {input: {webhook: {url: 'ftp://x', action: block}}}}}",
                "guardrails.policies.p.input.webhook.url"
            ),
            (
                "guardrails: {policies: {p: {input: {webhook: {url: 'http://127.0.0.1:9/s', action: redact}}}}}",
                "guardrails.policies.p.input.webhook.action"
            ),
            (
                "guardrails: {policies: {p: {output: {webhook: {url: 'http://127.0.0.1:9/s', on_error: maybe}}}}}",
                "guardrails.policies.p.output.webhook.on_error"
            ),
            ("guardrails: {policies: {p: {input: {json: block}}}}", "guardrails.policies.p.input.json"),
            ("guardrails: {policies: {'a b': {}}}", "guardrails.policies.a b"),
        ])
    func invalid(yaml: String, key: String) {
        #expect {
            _ = try GatewayConfig.parse(
                base + yaml + "\nmodels: [{name: m, provider: oa}]", file: "bad.yaml", environment: [:])
        } throws: { error in
            "\(error)".hasPrefix("bad.yaml: \(key):")
        }
    }

    @Test("a webhook becomes an endpoint of the keyholder's own, with its key, timeout and failure mode")
    func webhooks() throws {
        let yaml =
            base + """
                guardrails:
                  policies:
                    p:
                      input: {webhook: {url: "http://127.0.0.1:8700/scan", key: hook, timeout_ms: 250}}
                      output: {webhook: {url: "https://scan.example/out", action: flag, on_error: allow}}
                models: [{name: m, provider: oa, guardrails: p}]
                """
        let config = try GatewayConfig.parse(yaml, file: "g.yaml", environment: [:])
        let policy = try #require(config.guardrailPolicies["p"])
        let input = try #require(policy.webhooks(.input).first)
        #expect(input.endpoint == "guardrail-webhook.p.input" && input.keyName == "hook")
        #expect(input.action == .block && input.failsClosed && input.timeout == .milliseconds(250))
        let output = try #require(policy.webhooks(.output).first)
        #expect(output.action == .flag && !output.failsClosed && output.timeout == .seconds(1))
        #expect(
            config.webhookEndpoints.map(\.name) == ["guardrail-webhook.p.input", "guardrail-webhook.p.output"])
        #expect(config.webhookEndpoints.first?.baseURL == "http://127.0.0.1:8700/scan")
        #expect(config.webhookEndpoints.first?.keyName == "hook")
        #expect(!config.providers.contains { $0.name.hasPrefix("guardrail-webhook") })
    }

    @Test("a webhook's answer is read strictly; its type is kept only when it is a short lower-case name")
    func webhookAnswers() {
        #expect(
            GuardrailWebhook.parse(#"{"flagged": true, "type": "topic_x"}"#) == .init(flagged: true, label: "topic_x"))
        #expect(GuardrailWebhook.parse(#"{"flagged": false}"#) == .init(flagged: false, label: nil))
        #expect(GuardrailWebhook.parse(#"{"flagged": true, "type": "Drop Table; --"}"#)?.label == nil)
        #expect(GuardrailWebhook.parse(#"{"flagged": "yes"}"#) == nil)
        #expect(GuardrailWebhook.parse("not json") == nil)
    }

    @Test("a model naming a policy that does not exist is refused")
    func unknownModelPolicy() {
        #expect(throws: GatewayConfig.LoadError.self) {
            try GatewayConfig.parse(
                base + "models: [{name: m, provider: oa, guardrails: ghost}]", file: "g.yaml", environment: [:])
        }
    }
}
