/// Calendar arithmetic on day numbers (days since 1970-01-01, proleptic Gregorian)
/// and timestamps (microseconds since the epoch). Pure functions; thread-safe.
public enum Dates {
    public static let microsPerDay: Int64 = 86_400_000_000

    /// Howard Hinnant's days_from_civil.
    public static func days(year: Int, month: Int, day: Int) -> Int32 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return Int32(era * 146097 + doe - 719468)
    }

    public static func civil(_ days: Int32) -> (year: Int, month: Int, day: Int) {
        let z = Int(days) + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    public static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }
    public static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Parses `YYYY-MM-DD`; nil if malformed or not a real date.
    public static func parseDate(utf8 b: UnsafeRawBufferPointer) -> Int32? {
        // The common shape, YYYY-MM-DD exactly, without the general loop.
        if b.count == 10, b[4] == 45, b[7] == 45 {
            @inline(__always) func digit(_ k: Int) -> Int { Int(b[k] &- 48) }
            let ds = (digit(0), digit(1), digit(2), digit(3), digit(5), digit(6), digit(8), digit(9))
            if ds.0 < 10, ds.1 < 10, ds.2 < 10, ds.3 < 10, ds.4 < 10, ds.5 < 10, ds.6 < 10, ds.7 < 10 {
                let y = ds.0 * 1000 + ds.1 * 100 + ds.2 * 10 + ds.3, m = ds.4 * 10 + ds.5, d = ds.6 * 10 + ds.7
                guard m >= 1, m <= 12, d >= 1, d <= daysIn(year: y, month: m) else { return nil }
                return days(year: y, month: m, day: d)
            }
        }
        var i = 0, n = b.count
        while i < n, b[i] == 32 { i += 1 }
        while n > i, b[n - 1] == 32 { n -= 1 }
        func number(_ count: ClosedRange<Int>) -> Int? {
            var v = 0, k = 0
            while i < n, b[i] >= 48, b[i] <= 57, k < count.upperBound { v = v * 10 + Int(b[i] - 48); i += 1; k += 1 }
            return count.contains(k) ? v : nil
        }
        guard let y = number(4...4), i < n, b[i] == UInt8(ascii: "-") else { return nil }
        i += 1
        guard let m = number(1...2), i < n, b[i] == UInt8(ascii: "-") else { return nil }
        i += 1
        guard let d = number(1...2), i == n, (1...12).contains(m), d >= 1, d <= daysIn(year: y, month: m) else { return nil }
        return days(year: y, month: m, day: d)
    }

    public static func parseDate(_ s: String) -> Int32? {
        Array(s.utf8).withUnsafeBytes { parseDate(utf8: $0) }
    }

    /// Parses `YYYY-MM-DD[ T]HH:MM:SS[.ffffff]`, or a bare date as midnight.
    public static func parseTimestamp(_ s: String) -> Int64? {
        let t = s.trimmingCharacters(in: .whitespaces)
        let parts = t.split(whereSeparator: { $0 == " " || $0 == "T" }).map(String.init)
        guard let first = parts.first, let day = parseDate(first) else { return nil }
        var micros = Int64(day) * microsPerDay
        if parts.count == 1 { return micros }
        guard parts.count == 2 else { return nil }
        var time = parts[1]
        if time.hasSuffix("Z") { time.removeLast() }
        let hms = time.split(separator: ":", omittingEmptySubsequences: false)
        guard hms.count == 2 || hms.count == 3, let h = Int(hms[0]), let m = Int(hms[1]), h < 24, m < 60 else { return nil }
        var secMicros: Int64 = 0
        if hms.count == 3 {
            let sec = hms[2].split(separator: ".", omittingEmptySubsequences: false)
            guard let s = Int(sec[0]), s < 60 else { return nil }
            secMicros = Int64(s) * 1_000_000
            if sec.count == 2 {
                var frac = String(sec[1].prefix(6))
                guard frac.allSatisfy(\.isNumber), !frac.isEmpty else { return nil }
                while frac.count < 6 { frac += "0" }
                secMicros += Int64(frac)!
            }
        }
        micros += Int64(h) * 3_600_000_000 + Int64(m) * 60_000_000 + secMicros
        return micros
    }

    public static func format(days: Int32) -> String {
        let (y, m, d) = civil(days)
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2)
    }

    public static func format(micros: Int64) -> String {
        var day = micros / microsPerDay
        var rest = micros % microsPerDay
        if rest < 0 { rest += microsPerDay; day -= 1 }
        let s = rest / 1_000_000, f = rest % 1_000_000
        var out = format(days: Int32(day)) + " " + pad(Int(s / 3600), 2) + ":" + pad(Int(s / 60 % 60), 2) + ":" + pad(Int(s % 60), 2)
        if f != 0 {
            var frac = pad(Int(f), 6)
            while frac.hasSuffix("0") { frac.removeLast() }
            out += "." + frac
        }
        return out
    }

    public static func format(interval i: Interval) -> String {
        var parts: [String] = []
        let years = i.months / 12, months = i.months % 12
        if years != 0 { parts.append("\(years) year" + (abs(years) == 1 ? "" : "s")) }
        if months != 0 { parts.append("\(months) month" + (abs(months) == 1 ? "" : "s")) }
        if i.days != 0 { parts.append("\(i.days) day" + (abs(i.days) == 1 ? "" : "s")) }
        if i.micros != 0 || parts.isEmpty {
            let neg = i.micros < 0
            let m = abs(i.micros), s = m / 1_000_000
            var t = (neg ? "-" : "") + pad(Int(s / 3600), 2) + ":" + pad(Int(s / 60 % 60), 2) + ":" + pad(Int(s % 60), 2)
            if m % 1_000_000 != 0 { t += "." + pad(Int(m % 1_000_000), 6) }
            parts.append(t)
        }
        return parts.joined(separator: " ")
    }

    /// Adds calendar months, clamping the day to the target month's length (Jan 31 + 1 month = Feb 28/29).
    public static func addMonths(_ days: Int32, _ months: Int32) -> Int32 {
        if months == 0 { return days }
        let (y, m, d) = civil(days)
        let total = y * 12 + (m - 1) + Int(months)
        let ny = total >= 0 ? total / 12 : (total - 11) / 12
        let nm = total - ny * 12 + 1
        return Dates.days(year: ny, month: nm, day: min(d, daysIn(year: ny, month: nm)))
    }

    public static func add(_ i: Interval, toDate days: Int32) -> Int64 {
        let d = addMonths(days, i.months) + i.days
        return Int64(d) * microsPerDay + i.micros
    }

    public static func add(_ i: Interval, toTimestamp ts: Int64) -> Int64 {
        var day = ts / microsPerDay, rest = ts % microsPerDay
        if rest < 0 { rest += microsPerDay; day -= 1 }
        let d = addMonths(Int32(day), i.months) + i.days
        return Int64(d) * microsPerDay + rest + i.micros
    }

    private static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(abs(v))
        return (v < 0 ? "-" : "") + (s.count >= width ? s : String(repeating: "0", count: width - s.count) + s)
    }
}
