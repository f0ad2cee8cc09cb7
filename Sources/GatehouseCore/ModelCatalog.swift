/// The public model names the gateway serves, each bound to a deployment.
public struct ModelCatalog: Sendable {
    public let deployments: [Deployment]
    private let byName: [String: Deployment]

    public init(_ deployments: [Deployment]) {
        self.deployments = deployments
        var byName: [String: Deployment] = [:]
        for deployment in deployments where byName[deployment.publicName] == nil {
            byName[deployment.publicName] = deployment
        }
        self.byName = byName
    }

    public func deployment(named name: String) -> Deployment? { byName[name] }
}
