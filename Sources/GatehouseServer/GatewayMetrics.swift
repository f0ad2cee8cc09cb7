import GatehouseCore

/// The front's counters, served on `GET /metrics` (Prometheus text format) together with
/// the keyholder's. Labels are the gateway's own names (dialect, provider, status, reason),
/// never principals or caller text.
public final class GatewayMetrics: Sendable {
    public let requests = CounterFamily(
        "gatehouse_requests_total", help: "Requests answered, by ingress dialect, provider and HTTP status.",
        labels: ["dialect", "provider", "status"])
    public let duration = HistogramFamily(
        "gatehouse_request_duration_seconds", help: "Time from request to the end of the answer, by ingress dialect.",
        labels: ["dialect"], bounds: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300])
    public let tokens = CounterFamily(
        "gatehouse_tokens_total", help: "Tokens reported by providers, by provider and type (prompt, completion).",
        labels: ["provider", "type"])
    public let authRefusals = CounterFamily(
        "gatehouse_auth_refusals_total", help: "Requests refused authentication or authorization, by reason.",
        labels: ["reason"])
    public let attempts = CounterFamily(
        "gatehouse_route_attempts_total",
        help: "Attempts at a deployment, by model, deployment and outcome (ok or an error code).",
        labels: ["model", "deployment", "outcome"])
    public let retries = CounterFamily(
        "gatehouse_route_retries_total", help: "Attempts after a request's first, by the model being tried.",
        labels: ["model"])
    public let fallbacks = CounterFamily(
        "gatehouse_route_fallbacks_total", help: "Requests that moved on to a fallback model, by model and fallback.",
        labels: ["model", "fallback"])
    public let cooldowns = CounterFamily(
        "gatehouse_route_health_changes_total",
        help: "Deployments taken out (cooldown, unhealthy) or restored, by model, deployment and change.",
        labels: ["model", "deployment", "change"])
    public let guardrailFindings = CounterFamily(
        "gatehouse_guardrail_findings_total",
        help: "What the guardrails found, by direction, scanner, finding type and action (never the text).",
        labels: ["direction", "scanner", "type", "action"])
    public let sandboxBlocked = CounterFamily(
        "gatehouse_sandbox_blocked_total", help: "System calls the front's sandbox refused, by kind.", labels: ["kind"])

    public init() {}

    public func render() -> String {
        var text = ""
        requests.render(into: &text)
        duration.render(into: &text)
        tokens.render(into: &text)
        authRefusals.render(into: &text)
        attempts.render(into: &text)
        retries.render(into: &text)
        fallbacks.render(into: &text)
        cooldowns.render(into: &text)
        guardrailFindings.render(into: &text)
        sandboxBlocked.render(into: &text)
        return text
    }
}
