import Synchronization

/// A family of monotonic counters that share a name and label names, rendered in the
/// Prometheus text exposition format. Labels are names and codes the gateway chose
/// (provider, status, reason), never caller text, so the number of series stays bounded.
public final class CounterFamily: Sendable {
    public let name: String
    public let help: String
    public let labelNames: [String]
    private let values = Mutex<[[String]: Int64]>([:])

    public init(_ name: String, help: String, labels: [String] = []) {
        self.name = name
        self.help = help
        self.labelNames = labels
    }

    /// Adds `amount` to the series with these label values (in `labelNames` order).
    public func add(_ labels: [String] = [], _ amount: Int64 = 1) {
        values.withLock { $0[labels, default: 0] += amount }
    }

    /// The current value of one series (0 if never added to).
    public func value(_ labels: [String] = []) -> Int64 {
        values.withLock { $0[labels] ?? 0 }
    }

    public func render(into text: inout String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) counter\n"
        let series = values.withLock { $0 }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        if series.isEmpty, labelNames.isEmpty { text += "\(name) 0\n" }
        for (labels, value) in series {
            text += name + MetricsText.labelSet(labelNames, labels) + " \(value)\n"
        }
    }
}

/// A family of histograms (cumulative buckets, sum and count) with one label set each.
public final class HistogramFamily: Sendable {
    public let name: String
    public let help: String
    public let labelNames: [String]
    public let bounds: [Double]

    struct Series {
        var buckets: [Int64]
        var sum = 0.0
        var count: Int64 = 0

        mutating func record(_ bucket: Int, _ value: Double) {
            buckets[bucket] += 1
            sum += value
            count += 1
        }
    }

    private let series = Mutex<[[String]: Series]>([:])

    public init(_ name: String, help: String, labels: [String] = [], bounds: [Double]) {
        self.name = name
        self.help = help
        self.labelNames = labels
        self.bounds = bounds.sorted()
    }

    public func observe(_ labels: [String], _ value: Double) {
        let index = bounds.firstIndex { value <= $0 } ?? bounds.count
        let buckets = bounds.count + 1
        // Updated in place: a copy taken out of the dictionary would copy its buckets on write.
        series.withLock { all in
            all[labels, default: Series(buckets: Array(repeating: 0, count: buckets))].record(index, value)
        }
    }

    public func render(into text: inout String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        let all = series.withLock { $0 }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        for (labels, entry) in all {
            var cumulative: Int64 = 0
            for (index, bound) in (bounds.map { MetricsText.number($0) } + ["+Inf"]).enumerated() {
                cumulative += entry.buckets[index]
                text += "\(name)_bucket" + MetricsText.labelSet(labelNames + ["le"], labels + [bound]) + " \(cumulative)\n"
            }
            let labelSet = MetricsText.labelSet(labelNames, labels)
            text += "\(name)_sum\(labelSet) \(MetricsText.number(entry.sum))\n\(name)_count\(labelSet) \(entry.count)\n"
        }
    }
}

public enum MetricsText {
    /// `{name="value",…}` with values escaped as the text format requires; empty without labels.
    static func labelSet(_ names: [String], _ values: [String]) -> String {
        guard !names.isEmpty else { return "" }
        let pairs = zip(names, values).map { name, value in
            var escaped = ""
            for character in value {
                switch character {
                case "\\": escaped += "\\\\"
                case "\"": escaped += "\\\""
                case "\n": escaped += "\\n"
                default: escaped.append(character)
                }
            }
            return "\(name)=\"\(escaped)\""
        }
        return "{" + pairs.joined(separator: ",") + "}"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// A gauge with one value and no labels.
    public static func gauge(_ name: String, help: String, _ value: Int64) -> String {
        "# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name) \(value)\n"
    }
}
