import GatehouseServer
import Testing

@Suite("Configuration")
struct GatewayConfigTests {
    let validYAML = """
        server: {port: 4000}
        providers:
          oa: {kind: openai, key: oa-key}
          local: {kind: openai-compatible, base_url: "${LOCAL_URL:-http://127.0.0.1:8000}/v1"}
        models:
          - {name: gpt, provider: oa, model: gpt-4o}
          - {name: llama, provider: local}
        """

    @Test("reads providers, models, defaults and environment references")
    func valid() throws {
        let config = try GatewayConfig.parse(validYAML, file: "g.yaml", environment: ["LOCAL_URL": "http://10.0.0.5:9000"])
        #expect(config.port == 4000)
        let byName = Dictionary(uniqueKeysWithValues: config.providers.map { ($0.name, $0) })
        #expect(byName["oa"]?.baseURL == "https://api.openai.com/v1")
        #expect(byName["local"]?.baseURL == "http://10.0.0.5:9000/v1")
        #expect(byName["oa"]?.keyName == "oa-key")
        #expect(byName["local"]?.keyName == nil)
        #expect(byName["oa"]?.caFile == nil)
        let privateCA = try GatewayConfig.parse(
            "providers: {v: {kind: openai-compatible, base_url: 'https://vllm.internal/v1', ca_file: /etc/ca.pem}}\n"
                + "models: [{name: m, provider: v}]", file: "g.yaml", environment: [:])
        #expect(privateCA.providers.first?.caFile == "/etc/ca.pem")
        #expect(config.models.map(\.upstreamModel) == ["gpt-4o", "llama"])
        #expect(config.schedulerSliceMicroseconds == 100)
        let kernelDefault = try GatewayConfig.parse(
            "server: {scheduler_slice_us: 0, event_loops: 3}\n" + validYAML.split(separator: "\n").dropFirst().joined(separator: "\n"),
            file: "g.yaml", environment: [:])
        #expect(kernelDefault.schedulerSliceMicroseconds == 0)
        #expect(kernelDefault.eventLoops == 3)
        #expect(config.eventLoops == 0)
        let longest = String(repeating: "z", count: 64)
        let names = try GatewayConfig.parse(
            "providers: {\(longest): {kind: openai, key: A.b_c-9}, 0-x.Y_z: {kind: anthropic}}\n"
                + "models: [{name: m, provider: \(longest)}, {name: n, provider: 0-x.Y_z}]", file: "g.yaml", environment: [:])
        #expect(Set(names.providers.map(\.name)) == [longest, "0-x.Y_z"])
        #expect(names.providers.first { $0.name == longest }?.keyName == "A.b_c-9")
    }

    @Test("types plain scalars without the regex resolver: nulls, integers, and everything else as text")
    func scalars() throws {
        let providers = "providers: {a: {kind: openai, key: ~}}\n"
        let typed = try GatewayConfig.parse(
            "server: {port: 0x1F90, max_body_bytes: 1_048_576, scheduler_slice_us: '250', host: null}\n" + providers
                + "models: [{name: 'true', provider: a, model: yes}, {name: 3.5, provider: a, model: 2026-12-04}, "
                + "{name: '42', provider: a, model: 42, default_max_tokens: +0b1000}]",
            file: "g.yaml", environment: [:])
        #expect(typed.port == 8080)
        #expect(typed.maxBodyBytes == 1_048_576)
        #expect(typed.schedulerSliceMicroseconds == 250)
        #expect(typed.host == nil)
        #expect(typed.providers.first?.keyName == nil)
        #expect(typed.models.map(\.publicName) == ["true", "3.5", "42"])
        #expect(typed.models.map(\.upstreamModel) == ["yes", "2026-12-04", "42"])
        #expect(typed.models.map(\.defaultMaxTokens) == [4096, 4096, 8])
        // Anchors and aliases still resolve; an empty value is no value.
        let aliased = try GatewayConfig.parse(
            "server:\n  port:\nproviders:\n  a: &base {kind: openai}\n  b: *base\nmodels: [{name: m, provider: b}]",
            file: "g.yaml", environment: [:])
        #expect(aliased.port == nil)
        #expect(aliased.providers.map(\.name).sorted() == ["a", "b"])
        // YAML 1.1 integers: a leading 0 is octal, `0b` digits inside a hexadecimal number are digits,
        // `_` may follow a prefix; where text is wanted, the number keeps the form it was written in.
        for (written, port) in [("0x0b1", 177), ("0443", 291), ("0x_1F90", 8080), ("0o_17", 15), ("-0", 0), ("+0b1_0", 2)] {
            let config = try GatewayConfig.parse(
                "server: {port: \(written)}\n" + providers + "models: [{name: m, provider: a}]", file: "g.yaml", environment: [:])
            #expect(config.port == port, "\(written)")
        }
        let asWritten = try GatewayConfig.parse(
            "auth: {audience: 0800}\n" + providers + "models: [{name: 007, provider: a, model: 0x1F}, {name: 1_000, provider: a}]",
            file: "g.yaml", environment: [:])
        #expect(asWritten.audience == "0800")
        #expect(asWritten.models.map(\.publicName) == ["007", "1_000"])
        #expect(asWritten.models.first?.upstreamModel == "0x1F")
    }

    @Test("names the file, the key and the problem", arguments: [
        ("providers: {a: {kind: magic}}\nmodels: [{name: m, provider: a}]", "providers.a.kind"),
        ("providers: {a: {kind: openai, base_url: 'ftp://x'}}\nmodels: [{name: m, provider: a}]", "providers.a.base_url"),
        ("providers: {a: {kind: openai-compatible}}\nmodels: [{name: m, provider: a}]", "providers.a.base_url"),
        ("providers: {a: {kind: openai}}\nmodels: [{name: m, provider: b}]", "models[0].provider"),
        ("providers: {a: {kind: openai, api_key: sk-x}}\nmodels: [{name: m, provider: a}]", "providers.a.api_key"),
        ("providers: {a: {kind: openai, key: 'sk-real key'}}\nmodels: [{name: m, provider: a}]", "providers.a.key"),
        ("providers: {a: {kind: openai}}\nmodels: [{name: m, provider: a}, {name: m, provider: a}]", "models[1].name"),
        ("providers: {a: {kind: openai}}\nmodels: []", "models"),
        ("server: {port: 99999}\nproviders: {a: {kind: openai}}\nmodels: [{name: m, provider: a}]", "server.port"),
        ("server: {scheduler_slice_us: 200000}\nproviders: {a: {kind: openai}}\nmodels: [{name: m, provider: a}]", "server.scheduler_slice_us"),
        ("server: {event_loops: -1}\nproviders: {a: {kind: openai}}\nmodels: [{name: m, provider: a}]", "server.event_loops"),
        ("server: {event_loops: 2.5}\nproviders: {a: {kind: openai}}\nmodels: [{name: m, provider: a}]", "server.event_loops"),
        ("providers: {a: {kind: openai, base_url: '${NOPE}'}}\nmodels: [{name: m, provider: a}]", "providers.a.base_url"),
        ("prividers: {}", "prividers"),
        ("providers: {a: {kind: openai-compatible, base_url: 'http://h/v1', ca_file: /ca.pem}}\nmodels: [{name: m, provider: a}]", "providers.a.ca_file"),
        ("providers: {a: {kind: openai, ca_file: ca.pem}}\nmodels: [{name: m, provider: a}]", "providers.a.ca_file"),
        ("providers: {'-a': {kind: openai}}\nmodels: [{name: m, provider: '-a'}]", "providers.-a"),
        ("providers: {'a b': {kind: openai}}\nmodels: [{name: m, provider: 'a b'}]", "providers.a b"),
        ("providers: {'é': {kind: openai}}\nmodels: [{name: m, provider: 'é'}]", "providers.é"),
        ("providers: {'a\u{301}': {kind: openai}}\nmodels: [{name: m, provider: a}]", "providers.a\u{301}"),
        ("providers: {\(String(repeating: "a", count: 65)): {kind: openai}}\nmodels: [{name: m, provider: a}]",
         "providers.\(String(repeating: "a", count: 65))"),
        ("providers: {a: {kind: openai, key: 'key/../x'}}\nmodels: [{name: m, provider: a}]", "providers.a.key"),
        ("providers: {a: {kind: openai, key: '_k'}}\nmodels: [{name: m, provider: a}]", "providers.a.key"),
        ("server: {port: 80.5}\nproviders: {a: {kind: openai}}\nmodels: [{name: m, provider: a}]", "server.port"),
        ("server: {port: 0x}\nproviders: {a: {kind: openai}}\nmodels: [{name: m, provider: a}]", "server.port"),
        ("server: {port: 9223372036854775808}\nproviders: {a: {kind: openai}}\nmodels: [{name: m, provider: a}]", "server.port"),
        ("server: {port: _80}\nproviders: {a: {kind: openai}}\nmodels: [{name: m, provider: a}]", "server.port"),
        ("providers: {a: {kind: openai}}\nmodels: [{name: [m], provider: a}]", "models[0].name"),
        ("providers: ~\nmodels: [{name: m, provider: a}]", "providers"),
        ("providers: {a: {kind: openai}}\nmodels: [{name: m, provider: a}]\n? [k]\n: v", "(syntax)"),
        ("providers: {a: {kind: openai}, a: {kind: anthropic}}\nmodels: [{name: m, provider: a}]", "(syntax)"),
        ("providers: {a: {kind: openai-compatible, base_url: 'http://%FF/v1'}}\nmodels: [{name: m, provider: a}]", "providers.a.base_url"),
        ("providers: {a: {kind: openai-compatible, base_url: 'http://a%2Fb/v1'}}\nmodels: [{name: m, provider: a}]", "providers.a.base_url"),
    ])
    func invalid(yaml: String, key: String) {
        #expect {
            _ = try GatewayConfig.parse(yaml, file: "bad.yaml", environment: [:])
        } throws: { error in
            let description = "\(error)"
            return description.hasPrefix("bad.yaml: \(key):")
        }
    }
}
