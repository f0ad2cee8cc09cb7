import Foundation
import GatehouseCore
import GatehouseSecurity
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// The keyholder: the only component that holds provider keys and the only one that
/// talks to providers. It resolves a provider name to its configured endpoint, strips
/// any credential-looking header the front supplied, injects the provider's key last,
/// never follows redirects, and caps response time.
///
/// Threat assumptions: requests come from the front, which parses untrusted input and
/// may be compromised; it can name a configured provider and a path, nothing else.
public final class Keyholder: @unchecked Sendable {
    public struct Limits: Sendable {
        public var connectTimeout: TimeAmount = .seconds(10)
        public var requestTimeout: TimeAmount = .seconds(300)
        public var streamTimeout: TimeAmount = .seconds(900)
        public var maxConnectionsPerHost = 256
        /// The most bytes of one provider answer the keyholder passes on (non-streamed and streamed alike).
        public var maxResponseBytes = 256 << 20

        public init() {}
    }

    /// Headers the front may never set: credentials, routing, framing.
    static let forbiddenHeaders: Set<String> = [
        "authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie", "host",
        "content-length", "transfer-encoding", "connection", "upgrade", "te", "forwarded", "x-forwarded-for",
        "x-forwarded-host",
    ]

    private let endpoints: [String: ProviderEndpoint]
    private let keyStore: SealedKeyStore?
    /// Where refusals and upstream requests are recorded (hash-chained, signed checkpoints).
    public let audit: AuditWriter?
    private let credentialsLock = NSLock()
    /// The unsealed key of each provider, with the fingerprint it was unsealed at.
    private var credentials: [String: (secret: Secret, fingerprint: String)]
    /// Connections to providers at literal or operator-trusted addresses, one client per origin.
    private let clients: [String: UpstreamClient]
    /// By endpoint name, the route of each endpoint whose address does not depend on a lookup (a literal address,
    /// or one trusted as configured), decided once at start; host names are routed through their pins.
    private let fixedRoutes: [String: Result<UpstreamClient, AddressRefusal>]
    /// TLS contexts by the `ca_file` they add to the system's trust roots ("" for none).
    private let tlsContexts: [String: NIOSSLContext]
    private let events: UpstreamClient.Events
    public let limits: Limits
    public let metrics: EgressMetrics
    private let logger: Logger

    /// Unseals the key of every endpoint that names one. Fails closed: a provider whose
    /// key cannot be unsealed stops the start, with a message naming the provider and key.
    public init(
        endpoints: [ProviderEndpoint], keyStore: SealedKeyStore?, audit: AuditWriter? = nil, limits: Limits = Limits(),
        logger: Logger
    ) throws {
        self.audit = audit
        var byName: [String: ProviderEndpoint] = [:]
        var credentials: [String: (secret: Secret, fingerprint: String)] = [:]
        for endpoint in endpoints {
            byName[endpoint.name] = endpoint
            guard let keyName = endpoint.keyName else { continue }
            guard let keyStore else {
                throw EgressError.missingKey(provider: endpoint.name, key: keyName, underlying: "no key store")
            }
            do {
                let secret = try keyStore.unseal(name: keyName)
                credentials[endpoint.name] = (secret, SealedKeyStore.fingerprint(of: secret))
            } catch {
                throw EgressError.missingKey(provider: endpoint.name, key: keyName, underlying: "\(error)")
            }
        }
        self.endpoints = byName
        self.credentials = credentials
        self.keyStore = keyStore
        self.limits = limits
        self.logger = logger
        let metrics = EgressMetrics()
        self.metrics = metrics
        // Each TCP connection to a provider is counted and recorded, with the address actually dialled.
        let events = UpstreamClient.Events { event, target in
            metrics.connections.add([event])
            guard event != "closed" else { return }
            if event == "tls_failed" {
                logger.warning("provider certificate refused", metadata: ["gatehouse.egress.target": .string(target)])
            }
            audit?.record(.egressConnect, fields: ["event": .string(event), "target": .string(String(target.prefix(300)))])
        }
        self.events = events
        // One TLS context per set of trust roots: the system's, or the system's plus a provider's `ca_file`.
        var contexts: [String: NIOSSLContext] = [:]
        var clients: [String: UpstreamClient] = [:]
        for endpoint in byName.values where endpoint.scheme == "https" {
            let roots = endpoint.caFile ?? ""
            guard contexts[roots] == nil else { continue }
            do {
                contexts[roots] = try UpstreamClient.makeTLSContext(extraTrustRoots: endpoint.caFile)
            } catch {
                throw EgressError.tlsUnavailable(provider: endpoint.name, underlying: "\(error)")
            }
        }
        self.tlsContexts = contexts
        for endpoint in byName.values where clients[Self.clientKey(endpoint)] == nil {
            clients[Self.clientKey(endpoint)] = UpstreamClient(
                target: UpstreamTarget(scheme: endpoint.scheme, host: endpoint.host, port: endpoint.port),
                tls: contexts[endpoint.caFile ?? ""], connectTimeout: limits.connectTimeout,
                maxConnections: limits.maxConnectionsPerHost, events: events)
        }
        self.clients = clients
        var fixedRoutes: [String: Result<UpstreamClient, AddressRefusal>] = [:]
        for endpoint in byName.values {
            fixedRoutes[endpoint.name] = Self.fixedRoute(to: endpoint, clients: clients)
        }
        self.fixedRoutes = fixedRoutes
        refreshPins()
    }

    /// Endpoints with the same origin and trust roots share a client (and its connections).
    static func clientKey(_ endpoint: ProviderEndpoint) -> String {
        endpoint.origin + " " + (endpoint.caFile ?? "")
    }

    public func shutdown() async throws {
        let pinnedClients = resolutionLock.withLock { pins.values.compactMap(\.client) + retired }
        for pinned in pinnedClients { await pinned.shutdown() }
        for client in clients.values { await client.shutdown() }
    }

    /// Starts `request` upstream; its answer goes to `sink`, on `eventLoop` (the caller's loop:
    /// the upstream connection is one of that loop's, so the answer crosses no thread). A
    /// request the keyholder refuses throws before anything is sent. Every refusal is logged,
    /// counted and recorded.
    public func start(_ request: EgressRequest, on eventLoop: any EventLoop, sink: any EgressAnswerSink) throws(GatewayError)
        -> EgressCall
    {
        let (client, head, endpoint) = try prepare(request)
        let timeout = request.isStreaming ? limits.streamTimeout : limits.requestTimeout
        let answer = EgressAnswer(keyholder: self, provider: endpoint.name, origin: endpoint.origin, sink: sink)
        let connectTimeout = request.timeouts.connect.map { TimeAmount.nanoseconds($0.nanosecondsClamped) }
        let call = client.execute(
            head: head, body: request.body, on: eventLoop, deadline: .now() + timeout, connectTimeout: connectTimeout,
            sink: answer)
        answer.call = call
        return EgressCall(call: call)
    }

    /// Checks a request and builds what goes upstream: the provider's path, the front's headers
    /// minus any credential, routing or framing header, and the provider's key, injected last.
    func prepare(_ request: EgressRequest) throws(GatewayError) -> (UpstreamClient, HTTPRequestHead, ProviderEndpoint) {
        guard let endpoint = endpoints[request.provider] else {
            refuse("unknown_provider", provider: request.provider)
            throw GatewayError(.internalError, "The gateway has no route for this model.", code: .unknownProvider)
        }
        let target: String
        do {
            target = try endpoint.target(for: request)
        } catch {
            refuse("path_refused", provider: endpoint.name)
            throw GatewayError(.invalidRequest, "The request path was refused.", code: .egressPathRefused)
        }
        let client: UpstreamClient
        switch route(to: endpoint) {
        case .success(let routed): client = routed
        case .failure(let refusal):
            refuse("address_refused", provider: endpoint.name, detail: refusal.reason)
            throw GatewayError(
                .upstreamFailure, "The '\(endpoint.name)' provider resolved to an address the gateway may not reach.",
                code: .egressAddressRefused)
        }
        let method: HTTPMethod
        switch request.method {
        case "GET": method = .GET
        case "POST": method = .POST
        default:
            refuse("method_refused", provider: endpoint.name)
            throw GatewayError(.invalidRequest, "The request method was refused.", code: .egressMethodRefused)
        }
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headers.count + 4)
        headers.add(name: "host", value: client.target.hostHeader)
        var stripped: [String] = []
        for header in request.headers {
            let name = header.name.lowercased()
            if Self.forbiddenHeaders.contains(name) || name.hasPrefix("proxy-") {
                stripped.append(name)
                continue
            }
            headers.add(name: header.name, value: header.value)
        }
        if !stripped.isEmpty { refuse("headers_stripped", provider: endpoint.name, detail: stripped.joined(separator: ",")) }
        headers.replaceOrAdd(name: "user-agent", value: "gatehouse")
        if let body = request.body {
            headers.add(name: "content-length", value: String(body.readableBytes))
        } else if method == .POST {
            headers.add(name: "content-length", value: "0")
        }
        if let secret = credentialsLock.withLock({ credentials[endpoint.name]?.secret }) {
            // Injected last, so nothing the front sent can shadow it.
            headers.replaceOrAdd(name: endpoint.credentialHeader, value: endpoint.credentialValue(secret))
        }
        return (client, HTTPRequestHead(version: .http1_1, method: method, uri: target, headers: headers), endpoint)
    }

    /// Maps a failure of the upstream client before any answer to what the front is told (and counts it).
    func failure(_ failure: UpstreamFailure, provider: String) -> GatewayError {
        let mapped: GatewayError
        switch failure {
        case .connectTimeout, .deadlineExceeded:
            mapped = GatewayError(.upstreamTimeout, "The '\(provider)' provider did not answer in time.", code: .upstreamTimeout)
        case .connectFailed, .connectionLost, .shutDown:
            mapped = GatewayError(.upstreamFailure, "Could not reach the '\(provider)' provider.", code: .upstreamUnreachable)
        }
        logger.debug(
            "egress failed", metadata: ["gatehouse.provider": .string(provider), "gatehouse.egress.failure": .string("\(failure)")])
        metrics.failures.add([provider, mapped.code])
        return mapped
    }

    struct AddressRefusal: Error {
        let reason: String
    }

    /// A client pinned to the address a host name was checked at.
    struct Pin {
        var address: String?
        /// The client pinned to `address` (none before a first public answer).
        var client: UpstreamClient?
        var checked: ContinuousClock.Instant
        var refusal: String?
    }

    private let resolutionLock = NSLock()
    private var pins: [String: Pin] = [:]
    /// Clients replaced by a new pin; shut down once their requests can no longer be running.
    private var retired: [UpstreamClient] = []

    /// The client to reach `endpoint` with, or why its host may not be reached now. Never
    /// blocks: it runs on the event loop of the request.
    ///
    /// Providers configured at a non-public literal address (or `localhost`) are trusted as
    /// configured and share one client. A host name must resolve to public addresses only:
    /// it is resolved and checked at start and every 10 seconds after (``refreshPins()``, off
    /// the event loops), and its requests go through a client pinned to the checked address
    /// (``AddressPin``), so a second lookup at connect time cannot differ.
    func route(to endpoint: ProviderEndpoint) -> Result<UpstreamClient, AddressRefusal> {
        if let fixed = fixedRoutes[endpoint.name] { return fixed }
        let pin = resolutionLock.withLock { pins[Self.clientKey(endpoint)] }
        if let refusal = pin?.refusal { return .failure(AddressRefusal(reason: refusal)) }
        guard let pinned = pin?.client, pin?.address != nil else { return .failure(AddressRefusal(reason: "unresolved")) }
        return .success(pinned)
    }

    /// The route of an endpoint whose address needs no lookup; nil for a host name, which must be pinned.
    private static func fixedRoute(
        to endpoint: ProviderEndpoint, clients: [String: UpstreamClient]
    ) -> Result<UpstreamClient, AddressRefusal>? {
        guard let client = clients[clientKey(endpoint)] else { return .failure(AddressRefusal(reason: "unknown_origin")) }
        if EgressAddressPolicy.isExplicitlyNonPublic(host: endpoint.host) { return .success(client) }
        if let category = EgressAddressPolicy.category(of: endpoint.host) {
            return category == .public ? .success(client) : .failure(AddressRefusal(reason: category.rawValue))
        }
        return nil
    }

    /// Whether the endpoint is reached by a host name that must be resolved and pinned.
    static func needsPin(_ endpoint: ProviderEndpoint) -> Bool {
        !EgressAddressPolicy.isExplicitlyNonPublic(host: endpoint.host) && EgressAddressPolicy.category(of: endpoint.host) == nil
    }

    /// Resolves every provider host name and updates its pin: a non-public answer refuses the
    /// provider, a new public answer moves the pin (requests in flight keep their connections).
    /// Blocks on DNS: call it at start and then from a background thread (``refreshPinsInBackground()``).
    public func refreshPins() {
        for endpoint in endpoints.values where Self.needsPin(endpoint) { refreshPin(endpoint) }
    }

    /// ``refreshPins()`` on a thread of its own, so DNS never blocks an event loop or the task pool.
    public func refreshPinsInBackground() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                self.refreshPins()
                done.resume()
            }
        }
    }

    private func refreshPin(_ endpoint: ProviderEndpoint) {
        let key = Self.clientKey(endpoint)
        let now = ContinuousClock.now
        let cached = resolutionLock.withLock { pins[key] }
        let answers = EgressAddressPolicy.resolve(host: endpoint.host, port: endpoint.port)
        let decision = AddressPin.decide(current: cached?.refusal == nil ? cached?.address : nil, answers: answers)
        resolutionLock.withLock {
            var pin = pins[key] ?? Pin(address: nil, client: nil, checked: now, refusal: nil)
            pin.checked = now
            switch decision {
            case .keep:
                pin.refusal = nil
            case .pin(let address):
                if let old = pin.client { retire(old) }
                pin = Pin(
                    address: address,
                    client: UpstreamClient(
                        target: UpstreamTarget(
                            scheme: endpoint.scheme, host: endpoint.host, port: endpoint.port, pinnedAddress: address),
                        tls: tlsContexts[endpoint.caFile ?? ""], connectTimeout: limits.connectTimeout,
                        maxConnections: limits.maxConnectionsPerHost, events: events),
                    checked: now, refusal: nil)
                logger.info(
                    "provider address pinned",
                    metadata: ["gatehouse.egress.provider": .string(endpoint.name), "gatehouse.egress.address": .string(address)])
            case .refuse(let reason):
                pin.refusal = reason
            }
            pins[key] = pin
        }
    }

    /// Shuts a replaced client down after the longest a request through it may still run.
    private func retire(_ old: UpstreamClient) {
        retired.append(old)
        let grace = limits.streamTimeout + .seconds(5)
        Task { [weak self] in
            try? await Task.sleep(for: .nanoseconds(grace.nanoseconds))
            self?.resolutionLock.withLock { self?.retired.removeAll { $0 === old } }
            await old.shutdown()
        }
    }

    /// Re-reads sealed keys whose fingerprint changed (`gatehouse keys rotate`) and swaps them in.
    /// Requests already sent keep the key they were sent with; new ones use the new key.
    /// A key that fails to unseal keeps the previous one (and is logged): rotation never drops traffic.
    public func reloadRotatedKeys() {
        guard let keyStore else { return }
        for endpoint in endpoints.values {
            guard let keyName = endpoint.keyName, let info = try? keyStore.info(name: keyName) else { continue }
            let known = credentialsLock.withLock { credentials[endpoint.name]?.fingerprint }
            guard info.fingerprint != known else { continue }
            do {
                let secret = try keyStore.unseal(name: keyName)
                let fingerprint = SealedKeyStore.fingerprint(of: secret)
                credentialsLock.withLock { credentials[endpoint.name] = (secret, fingerprint) }
                logger.notice(
                    "provider key rotated",
                    metadata: [
                        "gatehouse.egress.provider": .string(endpoint.name), "gatehouse.key.name": .string(keyName),
                        "gatehouse.key.fingerprint": .string(fingerprint),
                    ])
            } catch {
                logger.error(
                    "cannot unseal a rotated key; keeping the previous one",
                    metadata: ["gatehouse.egress.provider": .string(endpoint.name), "gatehouse.key.name": .string(keyName)])
            }
        }
    }

    /// Records a refused (or sanitised) egress attempt. Names and codes only: never URLs, bodies or keys.
    public func refuse(_ reason: String, provider: String, detail: String? = nil) {
        var metadata: Logger.Metadata = [
            "gatehouse.egress.refusal": .string(reason),
            "gatehouse.egress.provider": .string(String(provider.prefix(64))),
        ]
        if let detail { metadata["gatehouse.egress.detail"] = .string(detail) }
        logger.warning("egress refused", metadata: metadata)
        metrics.refusals.add([reason])
        var fields: AuditFields = ["reason": .string(reason), "provider": .string(String(provider.prefix(64)))]
        if let detail { fields["detail"] = .string(String(detail.prefix(200))) }
        record(.egressRefused, fields)
    }

    /// Appends to the audit log, if any; an audit failure is logged, never thrown into a request.
    public func record(_ kind: AuditKind, _ fields: AuditFields) {
        guard let audit else { return }
        do {
            try audit.append(kind, fields: fields)
        } catch {
            logger.error("cannot write the audit log", metadata: ["gatehouse.error": .string("\(error)")])
        }
    }

}
