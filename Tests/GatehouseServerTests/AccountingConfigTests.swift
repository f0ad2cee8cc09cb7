import Crypto
import GatehouseCore
import GatehousePolicy
import GatehouseSecurity
import GatehouseServer
import Logging
import NIOCore
import NIOHTTP1
import Testing

@Suite("Configuration and front: prices, budgets, limits, the ledger's state")
struct AccountingConfigTests {
    let providers = "providers:\n  oa: {kind: openai}\n"

    @Test("reads prices, the pricing policy, budgets and limits per scope, deployment limits and the state")
    func reads() throws {
        let yaml =
            providers + """
                models:
                  - name: chat
                    deployments:
                      - {name: one, provider: oa, model: gpt-4o, limits: {rpm: 500, tpm: 300000}}
                      - {name: two, provider: oa, model: my-tune}
                prices:
                  my-tune: {input_per_mtok: 0.3, output_per_mtok: 1.2, cached_input_per_mtok: 0.1, context_window: 32000}
                pricing: {unknown: deny, default_max_tokens: 2048}
                budgets:
                  subjects: {ana: {usd: 20}}
                  teams: {red: {usd: 0.5, period: day}}
                limits:
                  models: {chat: {rpm: 60}}
                  teams: {red: {tpm: 1000}}
                state:
                  driver: postgres
                  url: postgres://gatehouse@db:5432/ledger
                  password_key: ledger-db
                  retention: 90d
                  on_unavailable: allow
                """
        let config = try GatewayConfig.parse(yaml, file: "g.yaml", environment: [:])
        let policy = config.accounting
        #expect(policy.unknownPrice == .deny && policy.defaultMaxTokens == 2048)
        #expect(policy.prices.price(publicName: "chat", upstreamModel: "my-tune")?.cachedInputPerMTok == 0.1)
        #expect(policy.prices.price(publicName: "chat", upstreamModel: "gpt-4o")?.inputPerMTok == 2.5)
        #expect(policy.budgets[.subject]?["ana"] == .init(amount: Nanodollars(20_000_000_000), period: .month))
        #expect(policy.budgets[.team]?["red"] == .init(amount: Nanodollars(500_000_000), period: .day))
        #expect(policy.rates[.model]?["chat"]?.requestsPerMinute == 60)
        #expect(policy.rates[.team]?["red"]?.tokensPerMinute == 1000)
        #expect(config.routes[0].deployments[0].requestsPerMinute == 500)
        #expect(config.routes[0].deployments[0].tokensPerMinute == 300_000)
        #expect(config.routes[0].deployments[1].requestsPerMinute == nil)
        #expect(config.state.driver == .postgres && config.state.passwordKey == "ledger-db")
        #expect(config.state.retentionSeconds == 90 * 86_400 && config.state.failOpen)
    }

    @Test(
        "refuses what would be wrong or unsafe, naming the setting",
        arguments: [
            ("state: {driver: postgres, url: 'postgres://u:hunter2@db/x'}", "state.url"),
            ("state: {driver: postgres}", "state.url"),
            ("state: {driver: mysql}", "state.driver"),
            ("state: {path: relative.sqlite}", "state.path"),
            ("state: {password_key: 'not a name'}", "state.password_key"),
            ("budgets: {teams: {red: {usd: 1, period: year}}}", "budgets.teams.red.period"),
            ("budgets: {teams: {red: {period: day}}}", "budgets.teams.red.usd"),
            ("budgets: {groups: {}}", "budgets.groups"),
            ("limits: {subjects: {ana: {}}}", "limits.subjects.ana"),
            ("limits: {subjects: {ana: {rpm: 0}}}", "limits.subjects.ana.rpm"),
            ("prices: {m: {input_per_mtok: 1}}", "prices.m.output_per_mtok"),
            ("prices: {m: {input_per_mtok: -1, output_per_mtok: 1}}", "prices.m.input_per_mtok"),
            ("pricing: {unknown: guess}", "pricing.unknown"),
        ])
    func refuses(section: String, key: String) throws {
        let yaml = providers + "models: [{name: m, provider: oa}]\n" + section
        do {
            _ = try GatewayConfig.parse(yaml, file: "g.yaml", environment: [:])
            Issue.record("accepted: \(section)")
        } catch let error as GatewayConfig.LoadError {
            #expect(error.key == key, "\(error)")
            #expect(!error.description.contains("hunter2"))
        }
    }

    @Test("pricing.unknown: deny refuses an unpriced model before the provider is asked; priced answers carry their cost")
    func unknownPrice() async throws {
        let harness = Harness()
        var policy = AccountingPolicy()
        policy.unknownPrice = .deny
        policy.prices = PriceTable(configured: ["gpt": ModelPrice(inputPerMTok: 1000, outputPerMTok: 2000)])
        let catalog = ModelCatalog([
            Deployment(publicName: "gpt", provider: "openai", kind: .openAI, upstreamModel: "gpt-up"),
            Deployment(publicName: "free", provider: "openai", kind: .openAI, upstreamModel: "nothing-known"),
        ])
        let verifier = TokenVerifier(publicKeys: [harness.authority.keyID: harness.authority.publicKey])
        let gateway = Gateway(
            credentials: StaticCredentials(verifier: verifier), catalog: catalog, egress: harness.egress,
            limits: .init(), logger: Logger(label: "test"), accounting: Accounting(policy: policy, catalog: catalog))
        let headers: HTTPHeaders = [
            "content-type": "application/json", "authorization": "Bearer \(try harness.token())",
        ]
        let refused = await TestResponse(
            await gateway.respond(
                to: FrontRequest(method: .POST, path: "/v1/chat/completions", headers: headers, body: chatBody(model: "free"))))
        #expect(refused.status == .forbidden)
        #expect((try JSONValue.decode(refused.body))["error"]?["code"]?.stringValue == "price_unknown")
        #expect(harness.egress.requests.isEmpty)
        let priced = await TestResponse(
            await gateway.respond(
                to: FrontRequest(method: .POST, path: "/v1/chat/completions", headers: headers, body: chatBody())))
        #expect(priced.status == .ok)
        // 3 prompt tokens at $1000 and 1 completion token at $2000 per million.
        #expect(priced.headers.first(name: "x-gatehouse-cost-usd") == "0.005")
    }
}
