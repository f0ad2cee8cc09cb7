import Foundation

/// How often a budget starts again: each UTC calendar day, ISO week (from Monday), calendar
/// month, or never.
public enum BudgetPeriod: String, Sendable, CaseIterable {
    case day, week, month, total

    /// The period `date` falls in: a label that names it in the store (`2026-12-07`,
    /// `2026-W50`, `2026-12`, `total`) and when the next one starts (nil for `total`).
    public func window(at date: Date) -> (label: String, resetsAt: Date?) {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        switch self {
        case .total:
            return ("total", nil)
        case .day:
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            let start = calendar.date(from: parts) ?? date
            let label = "\(parts.year ?? 0)-\(two(parts.month ?? 0))-\(two(parts.day ?? 0))"
            return (label, calendar.date(byAdding: .day, value: 1, to: start))
        case .week:
            let parts = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
            let start = calendar.date(from: parts) ?? date
            return (
                "\(parts.yearForWeekOfYear ?? 0)-W\(two(parts.weekOfYear ?? 0))",
                calendar.date(byAdding: .day, value: 7, to: start)
            )
        case .month:
            let parts = calendar.dateComponents([.year, .month], from: date)
            let start = calendar.date(from: parts) ?? date
            return ("\(parts.year ?? 0)-\(two(parts.month ?? 0))", calendar.date(byAdding: .month, value: 1, to: start))
        }
    }
}
