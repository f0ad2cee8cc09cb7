import Foundation

/// RFC 3339 times in UTC by integer arithmetic, for 1970 to 2199.
///
/// Foundation's `ISO8601FormatStyle` writes the same text, but its first use loads ICU's time-zone
/// data (about 2 MB per process); the timestamps in records and state files are always UTC, so they
/// need none of it. Dates outside the range, and text these do not read, still go to Foundation.
enum UTCTime {
    /// `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, truncated), or `YYYY-MM-DDTHH:MM:SS.mmmZ` with
    /// `fraction` (milliseconds, truncated); nil for a date before 1970 or from 2200 on.
    static func format(_ date: Date, fraction: Bool) -> String? {
        let seconds = date.timeIntervalSince1970
        // Checked as a Double: converting one outside Int64's range would trap.
        guard seconds >= 0, seconds < 7_258_118_400 else { return nil }
        let milliseconds = fraction ? Int64((seconds * 1000).rounded(.down)) : Int64(seconds.rounded(.down)) * 1000
        return format(milliseconds: milliseconds, fraction: fraction)
    }

    private static func format(milliseconds value: Int64, fraction: Bool) -> String {
        let (days, inDay) = value.quotientAndRemainder(dividingBy: 86_400_000)
        let (year, month, day) = civil(days: days)
        return String(unsafeUninitializedCapacity: 24) { out in
            var index = 0
            /// Writes `value` in `digits` decimal digits, then `after`.
            func put(_ value: Int64, _ digits: Int, _ after: Unicode.Scalar) {
                var value = value
                for position in stride(from: index + digits - 1, through: index, by: -1) {
                    out[position] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                out[index + digits] = UInt8(ascii: after)
                index += digits + 1
            }
            put(year, 4, "-")
            put(month, 2, "-")
            put(day, 2, "T")
            put(inDay / 3_600_000, 2, ":")
            put(inDay / 60_000 % 60, 2, ":")
            if fraction {
                put(inDay / 1_000 % 60, 2, ".")
                put(inDay % 1_000, 3, "Z")
            } else {
                put(inDay / 1_000 % 60, 2, "Z")
            }
            return index
        }
    }

    /// Seconds since 1970 for exactly `YYYY-MM-DDTHH:MM:SSZ` naming a real time from 1970 to 2199; nil otherwise.
    static func parseSeconds(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8(parseSeconds)
    }

    private static func parseSeconds(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ start: Int, _ count: Int) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[start..<start + count] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
            let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
            (1970..<2200).contains(year), (1...12).contains(month), hour < 24, minute < 60, second < 60
        else { return nil }
        let days = Self.days(year: year, month: month, day: 1) + day - 1
        // A day past the month's end (February 30) is not a date.
        guard day >= 1, civil(days: days) == (year, month, day) else { return nil }
        return days * 86_400 + hour * 3_600 + minute * 60 + second
    }

    /// Civil date from days since 1970-01-01 (proleptic Gregorian), after Howard Hinnant's `civil_from_days`.
    static func civil(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Days since 1970-01-01 of a civil date, after Howard Hinnant's `days_from_civil`.
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
