/// Decides which fault, if any, a request gets.
///
/// Order: the `x-sim-fault` header (`none` suppresses faults), then `sim:fault=KIND` in the echo text,
/// then the configured fault with probability `faultRate`, drawn from a generator seeded by `seed`.
final class FaultPlanner: Sendable {
    static let headerName = "x-sim-fault"
    private static let echoMarker = "sim:fault="

    private let configured: SimulatorFault?
    private let rate: Double
    private let generator: Locked<SplitMix64>

    init(options: SimulatorOptions) {
        self.configured = options.fault
        self.rate = options.faultRate
        self.generator = Locked(SplitMix64(seed: options.seed))
    }

    func fault(header: String?, echo: String) -> SimulatorFault? {
        if let header = header?.trimmingWhitespace().lowercased(), !header.isEmpty {
            if header == "none" { return nil }
            if let fault = SimulatorFault(rawValue: header) { return fault }
        }
        if let fault = Self.fault(inEcho: echo) { return fault }
        guard let configured else { return nil }
        if rate >= 1 { return configured }
        if rate <= 0 { return nil }
        let draw = generator.withLock { $0.nextUnit() }
        return draw < rate ? configured : nil
    }

    static func fault(inEcho echo: String) -> SimulatorFault? {
        guard let range = echo.firstRange(of: echoMarker) else { return nil }
        let kind = echo[range.upperBound...].prefix { $0.isLetter || $0.isNumber }
        return SimulatorFault(rawValue: kind.lowercased())
    }
}

/// Thrown from a response body writer to drop the connection without completing the response.
struct SimulatedConnectionReset: Error {}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
