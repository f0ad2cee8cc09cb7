import Foundation
import GatehouseCore
import GatehousePolicy
import GatehouseProviders
import GatehouseSecurity
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The front's request pipeline (Pipeline/, one stage a file): authenticate, parse,
/// authorize, route (attempts, retries and fallbacks around the one provider call),
/// encode, record. Holds public keys only and no provider key: the egress transport is
/// its one road out.
public struct Gateway: Sendable {
    public struct Limits: Sendable {
        public var maxBodyBytes: Int
        public var maxUpstreamBodyBytes: Int

        public init(maxBodyBytes: Int = 16 << 20, maxUpstreamBodyBytes: Int = 64 << 20) {
            self.maxBodyBytes = maxBodyBytes
            self.maxUpstreamBodyBytes = maxUpstreamBodyBytes
        }
    }

    let credentials: any CredentialSource
    let catalog: ModelCatalog
    let egress: any EgressTransport
    let limits: Limits
    let logger: Logger
    /// Where request metadata and refusals are recorded (in a deployed front: forwarded to the keyholder's log).
    let audit: any AuditSink
    public let metrics: GatewayMetrics
    /// More metrics text served on `/metrics` after the front's own (the keyholder's counters).
    let extraMetrics: @Sendable () async -> String
    /// Deployment health and the choice of deployment for each attempt.
    let router: Router
    /// The wait between attempts.
    let backoff: Backoff
    /// The guardrail policies, and which model uses which.
    let guardrails: GuardrailSettings
    /// Prices, budgets and rate limits.
    let accounting: Accounting

    public init(
        verifier: TokenVerifier, catalog: ModelCatalog, egress: any EgressTransport, limits: Limits, logger: Logger
    ) {
        self.init(
            credentials: StaticCredentials(verifier: verifier), catalog: catalog, egress: egress, limits: limits,
            logger: logger)
    }

    public init(
        credentials: any CredentialSource, catalog: ModelCatalog, egress: any EgressTransport, limits: Limits,
        logger: Logger,
        audit: any AuditSink = DiscardingAuditSink(), metrics: GatewayMetrics = GatewayMetrics(),
        extraMetrics: @escaping @Sendable () async -> String = { "" }, cooldown: CooldownPolicy = CooldownPolicy(),
        backoff: Backoff = Backoff(), guardrails: GuardrailSettings = GuardrailSettings(),
        accounting: Accounting? = nil
    ) {
        self.guardrails = guardrails
        self.accounting = accounting ?? Accounting(catalog: catalog)
        self.router = Router(slots: catalog.slotCount, policy: cooldown)
        self.backoff = backoff
        self.credentials = credentials
        self.catalog = catalog
        self.egress = egress
        self.limits = limits
        self.logger = logger
        self.audit = audit
        self.metrics = metrics
        self.extraMetrics = extraMetrics
    }

    /// A request id unique to this gateway: a random prefix drawn once per process, then a
    /// counter (drawing randomness per request cost two system calls). Ids are labels for
    /// correlating logs and the audit trail, not secrets.
    static func makeRequestID() -> String {
        let count = requestCounter.add(1, ordering: .relaxed).newValue
        return requestIDPrefix + String(count, radix: 16)
    }

    private static let requestIDPrefix: String = {
        var generator = SystemRandomNumberGenerator()
        let random = String(generator.next() | (1 << 63), radix: 16)
        return "req_" + random + "_"
    }()
    private static let requestCounter = Atomic<UInt64>(0)
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
