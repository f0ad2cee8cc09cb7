import GatehouseCore

/// The keyholder's counters. The front serves them on `/metrics` (it asks over the link),
/// so an operator sees both processes in one scrape.
public final class EgressMetrics: Sendable {
    public let requests = CounterFamily(
        "gatehouse_egress_requests_total", help: "Requests the keyholder sent to providers, by provider and HTTP status.",
        labels: ["provider", "status"])
    public let failures = CounterFamily(
        "gatehouse_egress_failures_total", help: "Requests to providers that got no answer, by provider and error code.",
        labels: ["provider", "code"])
    public let refusals = CounterFamily(
        "gatehouse_egress_refusals_total", help: "Egress attempts the keyholder refused or sanitised, by reason.",
        labels: ["reason"])
    public let connections = CounterFamily(
        "gatehouse_egress_connections_total", help: "TCP connections to providers, by event (opened, failed, closed).",
        labels: ["event"])
    public let linkConnections = CounterFamily(
        "gatehouse_link_connections_total", help: "Connections to the keyholder socket, by outcome.", labels: ["result"])
    public let frontRecords = CounterFamily(
        "gatehouse_audit_front_records_total", help: "Audit records forwarded by the front, by outcome.", labels: ["result"])

    public init() {}

    public func render() -> String {
        var text = ""
        for family in [requests, failures, refusals, connections, linkConnections, frontRecords] { family.render(into: &text) }
        return text
    }
}
