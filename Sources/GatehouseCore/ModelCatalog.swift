/// How a model picks among its healthy deployments.
public enum RoutingStrategy: String, Sendable, CaseIterable {
    /// In the written order: the first healthy deployment answers.
    case ordered
    /// At random, in proportion to each deployment's weight.
    case weighted
    /// The fewest requests in flight.
    case leastBusy = "least-busy"
    /// The lower decaying average time to first byte of two drawn at random.
    case latency
    /// The cheapest (lowest `cost_rank`), the others by weight among equals.
    case cost
}

/// Per-attempt time limits; `nil` leaves the keyholder's own limits.
public struct RouteTimeouts: Sendable, Equatable {
    /// Connecting to the provider (a new connection only).
    public var connect: Duration?
    /// From sending the request to the first byte of the answer (a stream's first chunk).
    public var firstByte: Duration?
    /// Between two chunks of a stream.
    public var idle: Duration?
    /// The whole attempt, answer included.
    public var total: Duration?

    public init(connect: Duration? = nil, firstByte: Duration? = nil, idle: Duration? = nil, total: Duration? = nil) {
        self.connect = connect
        self.firstByte = firstByte
        self.idle = idle
        self.total = total
    }

    public var isEmpty: Bool { connect == nil && firstByte == nil && idle == nil && total == nil }
}

/// One deployment of a model, with what the strategies weigh it by.
public struct RouteDeployment: Sendable, Equatable {
    public var deployment: Deployment
    /// Share of traffic under `weighted` (and among equals under `cost`); at least 1.
    public var weight: Int
    /// Lower is cheaper, under `cost`; unranked deployments come last.
    public var costRank: Int?
    /// Index of this deployment's health in the router (unique across the catalog).
    public var slot: Int = 0
    /// The provider's own limits on this deployment (`limits: {rpm, tpm}`): at its limit, the
    /// router skips it rather than hammer it.
    public var requestsPerMinute: Int64?
    public var tokensPerMinute: Int64?

    public init(
        _ deployment: Deployment, weight: Int = 1, costRank: Int? = nil, requestsPerMinute: Int64? = nil,
        tokensPerMinute: Int64? = nil
    ) {
        self.deployment = deployment
        self.weight = max(1, weight)
        self.costRank = costRank
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
    }
}

/// A public model: its deployments, how to choose among them, and what to try when they fail.
public struct ModelRoute: Sendable, Equatable {
    /// The name callers send.
    public var name: String
    public var strategy: RoutingStrategy
    public var deployments: [RouteDeployment]
    /// Public models tried, in order, once this model's attempts are spent.
    public var fallbacks: [String]
    /// Public models tried instead when a provider says the prompt is too long.
    public var contextWindowFallbacks: [String]
    /// Further attempts after the first, across this model's deployments.
    public var retries: Int
    public var timeouts: RouteTimeouts

    public init(
        name: String, strategy: RoutingStrategy = .weighted, deployments: [RouteDeployment], fallbacks: [String] = [],
        contextWindowFallbacks: [String] = [], retries: Int = 2, timeouts: RouteTimeouts = RouteTimeouts()
    ) {
        self.name = name
        self.strategy = strategy
        self.deployments = deployments
        self.fallbacks = fallbacks
        self.contextWindowFallbacks = contextWindowFallbacks
        self.retries = retries
        self.timeouts = timeouts
    }

    /// A model served by one deployment (the one-provider form of the configuration).
    public init(_ deployment: Deployment, retries: Int = 2) {
        self.init(name: deployment.publicName, deployments: [RouteDeployment(deployment)], retries: retries)
    }

    /// The provider named for this model in listings: its first deployment's.
    public var provider: String { deployments.first?.deployment.provider ?? "" }
}

/// The public model names the gateway serves, each with its deployments.
public struct ModelCatalog: Sendable {
    public let models: [ModelRoute]
    private let byName: [String: Int]
    /// How many deployments there are across all models (the router's health slots).
    public let slotCount: Int

    public init(routes: [ModelRoute]) {
        var models: [ModelRoute] = []
        var byName: [String: Int] = [:]
        var slot = 0
        for var route in routes where byName[route.name] == nil {
            for index in route.deployments.indices {
                route.deployments[index].deployment.publicName = route.name
                route.deployments[index].slot = slot
                slot += 1
            }
            byName[route.name] = models.count
            models.append(route)
        }
        self.models = models
        self.byName = byName
        self.slotCount = slot
    }

    /// A catalog of single-deployment models.
    public init(_ deployments: [Deployment]) {
        self.init(routes: deployments.map { ModelRoute($0) })
    }

    public func route(named name: String) -> ModelRoute? { byName[name].map { models[$0] } }
}

extension Duration {
    /// Whole milliseconds, rounded down (negative durations give 0).
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    /// As a NIO time amount.
    public var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow
            ? Int64.max : seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
