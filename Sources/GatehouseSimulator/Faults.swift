/// Decides which fault, if any, a request gets.
///
/// Order: the `x-sim-fault` header (`none` suppresses faults), then `sim:fault=KIND` in the echo text,
/// then one draw from a generator seeded by `seed`, which picks the first configured kind whose
/// cumulative rate covers it (so the kinds' rates add up).
final class FaultPlanner: Sendable {
    static let headerName = "x-sim-fault"
    private static let echoMarker = "sim:fault="

    /// Each configured kind with the upper end of its share of [0, 1); kinds with no share are left out.
    private let thresholds: [(kind: SimulatorFault, upTo: Double)]
    private let generator: Locked<SplitMix64>

    init(options: SimulatorOptions) {
        self.thresholds = Self.thresholds(options.resolvedFaultRates)
        self.generator = Locked(SplitMix64(seed: options.seed))
    }

    func fault(header: String?, echo: String) -> SimulatorFault? {
        if let header = header?.trimmingWhitespace().lowercased(), !header.isEmpty {
            if header == "none" { return nil }
            if let fault = SimulatorFault(rawValue: header) { return fault }
        }
        if let fault = Self.fault(inEcho: echo) { return fault }
        guard let first = thresholds.first else { return nil }
        if first.upTo >= 1 { return first.kind }
        let draw = generator.withLock { $0.nextUnit() }
        return thresholds.first { draw < $0.upTo }?.kind
    }

    static func fault(inEcho echo: String) -> SimulatorFault? {
        guard let range = echo.firstRange(of: echoMarker) else { return nil }
        let kind = echo[range.upperBound...].prefix { $0.isLetter || $0.isNumber }
        return SimulatorFault(rawValue: kind.lowercased())
    }

    /// Running sums of the positive rates, the last one raised to 1 when the rates add up to 1
    /// within rounding (0.1 + 0.2 + 0.7 is not exactly 1 in floating point).
    static func thresholds(_ rates: [(kind: SimulatorFault, rate: Double)]) -> [(kind: SimulatorFault, upTo: Double)] {
        var total = 0.0
        var thresholds: [(kind: SimulatorFault, upTo: Double)] = []
        for (kind, rate) in rates where rate > 0 {
            total += rate
            thresholds.append((kind: kind, upTo: total))
        }
        if let last = thresholds.indices.last, abs(thresholds[last].upTo - 1) < 1e-9 {
            thresholds[last].upTo = 1
        }
        return thresholds
    }
}

/// Thrown from a response body writer to drop the connection without completing the response.
struct SimulatedConnectionReset: Error {}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
