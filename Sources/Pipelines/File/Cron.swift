import Foundation

/// A five-field cron expression (minute hour day-of-month month day-of-week,
/// with `*`, lists, ranges and `/step`; or @hourly, @daily, @weekly,
/// @monthly), matched in a time zone. Pure: it is given instants and answers
/// instants, so the machine that fires schedules never reads a clock.
public struct Cron: Sendable, Equatable, CustomStringConvertible {
    public let text: String
    let minutes: Set<Int>, hours: Set<Int>, days: Set<Int>, months: Set<Int>, weekdays: Set<Int>
    /// Cron's rule: when both day fields are restricted, either may match.
    let daysRestricted: Bool, weekdaysRestricted: Bool

    public var description: String { text }

    public init?(_ text: String) {
        let aliases = ["@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"]
        let expanded = aliases[text.lowercased()] ?? text
        let f = expanded.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard f.count == 5,
              let mi = Cron.field(f[0], 0...59), let h = Cron.field(f[1], 0...23), let d = Cron.field(f[2], 1...31),
              let mo = Cron.field(f[3], 1...12), var w = Cron.field(f[4], 0...7) else { return nil }
        if w.remove(7) != nil { w.insert(0) }   // 7 is Sunday too
        self.text = text
        (minutes, hours, days, months, weekdays) = (mi, h, d, mo, w)
        daysRestricted = f[2] != "*"
        weekdaysRestricted = f[4] != "*"
    }

    static func field(_ s: String, _ range: ClosedRange<Int>) -> Set<Int>? {
        var out: Set<Int> = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { return nil }
            var step = 1
            if pieces.count == 2 { guard let n = Int(pieces[1]), n >= 1, n <= range.upperBound + 1 else { return nil }; step = n }
            var lo = range.lowerBound, hi = range.upperBound
            if pieces[0] != "*" {
                let ends = pieces[0].split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count <= 2, let a = Int(ends[0]), range.contains(a) else { return nil }
                lo = a
                hi = pieces.count == 2 && ends.count == 1 ? range.upperBound : a
                if ends.count == 2 { guard let b = Int(ends[1]), range.contains(b), b >= a else { return nil }; hi = b }
            }
            out.formUnion(stride(from: lo, through: hi, by: step))
        }
        return out
    }

    /// The first matching minute strictly after `ms` (epoch milliseconds), in `zone`.
    public func next(after ms: Int64, in zone: TimeZone) -> Int64? { search(from: ms, forward: true, zone) }

    /// The last matching minute strictly before `ms`.
    public func previous(before ms: Int64, in zone: TimeZone) -> Int64? { search(from: ms, forward: false, zone) }

    private func search(from ms: Int64, forward: Bool, _ zone: TimeZone) -> Int64? {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = zone
        let minute: Int64 = 60_000
        // Whole minutes: the first candidate after (or before) `ms`.
        var t = forward ? (ms / minute + 1) * minute : ((ms - 1) / minute) * minute
        if !forward && ms % minute == 0 { t = ms - minute }
        for _ in 0..<200_000 {
            let date = Date(timeIntervalSince1970: Double(t) / 1000)
            let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: date)
            guard let mo = c.month, let d = c.day, let h = c.hour, let mi = c.minute, let wd = c.weekday else { return nil }
            let dayOK: Bool
            switch (daysRestricted, weekdaysRestricted) {
            case (true, true): dayOK = days.contains(d) || weekdays.contains(wd - 1)
            default: dayOK = days.contains(d) && weekdays.contains(wd - 1)
            }
            // Jump a whole unit when a coarser field cannot match.
            let unit: Calendar.Component?
            if !months.contains(mo) { unit = .month } else if !dayOK { unit = .day } else if !hours.contains(h) { unit = .hour }
            else if !minutes.contains(mi) { unit = .minute } else { return t }
            guard let unit, let start = cal.dateInterval(of: unit, for: date) else { return nil }
            let edge = forward ? start.end.timeIntervalSince1970 : start.start.timeIntervalSince1970 - 60
            let nextT = Int64((edge * 1000).rounded())
            t = forward ? max(nextT, t + minute) : min(nextT, t - minute)
        }
        return nil
    }
}
