import Foundation
import GatehouseCore
import GatehouseSecurity

extension Gateway {
    /// `GET /v1/gatehouse/usage?group_by=subject|team|model|day&from=…&to=…` (a token with the
    /// `usage:read` or `admin` scope): requests, tokens and cost from the usage store, grouped.
    /// `from` and `to` are RFC 3339 times, dates (`2026-12-07`, midnight UTC) or Unix seconds;
    /// `from` defaults to 30 days ago and `to` to now; `to` is excluded.
    func usage(_ request: FrontRequest) async -> FrontResponse {
        var exchange = Exchange(dialect: .openAI)
        do {
            let principal = try authenticate(request, exchange: &exchange)
            guard principal.scopes.contains(.usageRead) || principal.scopes.contains(.admin) else {
                refused("scope_required", exchange: exchange, principal: principal)
                throw GatewayError(
                    .forbidden, "This token has neither the 'usage:read' nor the 'admin' scope.", code: .scopeRequired)
            }
            let items = request.queryItems
            let grouping = items["group_by"] ?? "subject"
            guard ["subject", "team", "model", "day"].contains(grouping) else {
                throw GatewayError.invalidField("group_by", "expected subject, team, model or day")
            }
            let now = Date()
            let from = try Self.time(items["from"], field: "from") ?? now.addingTimeInterval(-30 * 86_400)
            let to = try Self.time(items["to"], field: "to") ?? now.addingTimeInterval(1)
            guard from < to else { throw GatewayError.invalidField("from", "must be before 'to'") }
            guard let ledger = accounting.ledger else {
                throw GatewayError(
                    .upstreamUnavailable, "This gateway has no usage store.", code: .accountingUnavailable)
            }
            let answer: JSONValue
            do {
                answer = try await ledger.askLedger(
                    .object([
                        "op": .string("usage"), "group_by": .string(grouping),
                        "from_ms": .int(Int64(from.timeIntervalSince1970 * 1000)),
                        "to_ms": .int(Int64(to.timeIntervalSince1970 * 1000)),
                    ]))
            } catch {
                throw GatewayError(
                    .upstreamUnavailable, "The usage store cannot be reached right now.", code: .accountingUnavailable,
                    retryAfter: "1")
            }
            guard let groups = answer["groups"]?.arrayValue else {
                throw GatewayError(
                    .upstreamUnavailable, "The usage store cannot be reached right now.", code: .accountingUnavailable,
                    retryAfter: "1")
            }
            finish(exchange, status: 200)
            let body: JSONValue = .object([
                "object": .string("list"), "group_by": .string(grouping),
                "from": .string(from.formatted(Date.ISO8601FormatStyle())),
                "to": .string(to.formatted(Date.ISO8601FormatStyle())), "data": .array(groups),
            ])
            return .json(.ok, body.encodedBuffer(), requestID: exchange.id)
        } catch {
            return failure(error, exchange: exchange)
        }
    }

    /// A query time: RFC 3339, a date (midnight UTC), or Unix seconds.
    static func time(_ text: String?, field: String) throws -> Date? {
        guard let text, !text.isEmpty else { return nil }
        if let seconds = Int64(text), seconds >= 0 { return Date(timeIntervalSince1970: TimeInterval(seconds)) }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return date }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle().year().month().day()) { return date }
        throw GatewayError.invalidField(field, "expected an RFC 3339 time, a date like 2026-12-07, or Unix seconds")
    }
}
