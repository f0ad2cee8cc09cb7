import Foundation

/// Reads audit log lines for display, without verifying them (``AuditVerifier`` does that).
public enum AuditLogReader {
    /// One complete line of the log.
    public struct Line: Sendable {
        /// The 1-based line number (the record's position).
        public let number: Int
        /// The record, when the line parses as one.
        public let record: AuditRecord?
        /// The line's bytes decoded as UTF-8 (invalid sequences replaced).
        public let text: String
    }

    /// The complete lines of `log`, or only the last `tail` of them; a partial last line is left out.
    ///
    /// Throws `io_failed` when the file cannot be read and `invalid_log` when it does not exist.
    public static func lines(of log: URL, tail: Int? = nil) throws -> [Line] {
        guard FileManager.default.fileExists(atPath: log.path) else {
            throw AuditError(code: "invalid_log", message: "there is no audit log at '\(log.path)'")
        }
        let data: Data
        do {
            data = try Data(contentsOf: log, options: .alwaysMapped)
        } catch {
            throw AuditError(code: "io_failed", message: "cannot read '\(log.path)'")
        }
        let keep = tail.map { max(0, $0) }
        return data.withUnsafeBytes { raw -> [Line] in
            var ranges: [(Int, Range<Int>)] = []
            var start = 0
            var number = 0
            for index in 0..<raw.count where raw[index] == 0x0A {
                number += 1
                ranges.append((number, start..<index))
                if let keep, ranges.count > keep * 2 + 1024 { ranges.removeFirst(ranges.count - keep) }
                start = index + 1
            }
            if let keep { ranges = Array(ranges.suffix(keep)) }
            return ranges.map { number, range in
                let bytes = UnsafeRawBufferPointer(rebasing: raw[range])
                return Line(
                    number: number, record: AuditRecord.parse(line: bytes),
                    text: String(decoding: bytes, as: UTF8.self))
            }
        }
    }
}
