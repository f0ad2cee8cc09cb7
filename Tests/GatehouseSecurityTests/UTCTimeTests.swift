import Foundation
import Testing

@testable import GatehouseSecurity

@Suite("UTC timestamps without ICU")
struct UTCTimeTests {
    @Test("state-file timestamps read and write as Foundation's ISO 8601 style does")
    func matchesFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        var seconds: [Int64] = [0, 59, 86_399, 86_400, 951_782_400, 951_868_800, 4_107_542_399, 7_258_118_399, 7_258_118_400, -1]
        for _ in 0..<10_000 { seconds.append(Int64.random(in: -100_000_000..<7_400_000_000, using: &generator)) }
        for (index, value) in seconds.enumerated() {
            // Fractions both sides of a half: the format truncates, as Foundation's does.
            let date = Date(timeIntervalSince1970: Double(value) + [0.0, 0.25, 0.5, 0.75, 0.999][index % 5])
            let expected = date.formatted(Date.ISO8601FormatStyle())
            #expect(Timestamp.format(date) == expected, "\(value)")
            #expect(Timestamp.parse(expected) == (try Date.ISO8601FormatStyle().parse(expected)), "\(expected)")
        }
    }

    @Test("text that is not exactly a real UTC second is not read by the integer path (Foundation reads it)", arguments: [
        "2023-02-29T00:00:00Z", "2024-02-30T00:00:00Z", "2024-04-31T12:00:00Z", "2024-13-01T00:00:00Z",
        "2024-00-10T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z",
        "2024-01-01T23:59:60Z", "2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00.5Z", "2024-01-01 00:00:00Z",
        "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "2024-1-01T00:00:00Z", "２０24-01-01T00:00:00Z", "",
    ])
    func strictOrDelegated(text: String) {
        #expect(UTCTime.parseSeconds(text) == nil)
    }

    @Test("leap days and month ends")
    func calendar() {
        #expect(UTCTime.parseSeconds("2024-02-29T12:00:00Z") == 1_709_208_000)
        #expect(UTCTime.parseSeconds("2000-02-29T00:00:00Z") == 951_782_400)
        #expect(UTCTime.parseSeconds("2199-12-31T23:59:59Z") == 7_258_118_399)
        #expect(UTCTime.parseSeconds("1970-01-01T00:00:00Z") == 0)
        for days in stride(from: Int64(0), to: 84_000, by: 7) {
            let (year, month, day) = UTCTime.civil(days: days)
            #expect(UTCTime.days(year: year, month: month, day: day) == days)
        }
    }
}
