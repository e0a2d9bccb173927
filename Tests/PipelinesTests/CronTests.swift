import Foundation
import Testing
@testable import Pipelines

struct CronTests {
    let utc = TimeZone(identifier: "UTC")!
    func ms(_ s: String) -> Int64 {
        let f = ISO8601DateFormatter()
        return Int64(f.date(from: s)!.timeIntervalSince1970 * 1000)
    }

    @Test func fieldsAndAliases() {
        #expect(Cron("0 2 * * *") != nil)
        #expect(Cron("*/15 9-17 * * 1-5") != nil)
        #expect(Cron("@daily")?.next(after: ms("2026-11-01T10:00:00Z"), in: utc) == ms("2026-11-02T00:00:00Z"))
        for bad in ["", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "*/0 * * * *", "5-1 * * * *", "a * * * *"] {
            #expect(Cron(bad) == nil, "\(bad)")
        }
    }

    @Test func nextAndPrevious() {
        let c = Cron("30 6 * * *")!
        #expect(c.next(after: ms("2026-11-01T06:30:00Z"), in: utc) == ms("2026-11-02T06:30:00Z"))
        #expect(c.next(after: ms("2026-11-01T06:29:59Z"), in: utc) == ms("2026-11-01T06:30:00Z"))
        #expect(c.previous(before: ms("2026-11-02T06:30:00Z"), in: utc) == ms("2026-11-01T06:30:00Z"))
        let weekdays = Cron("0 9 * * 1-5")!
        // 2026-11-07 is a Saturday: the next weekday 09:00 is Monday the 9th.
        #expect(weekdays.next(after: ms("2026-11-06T10:00:00Z"), in: utc) == ms("2026-11-09T09:00:00Z"))
        #expect(Cron("0 0 1 * *")!.previous(before: ms("2026-03-01T00:00:00Z"), in: utc) == ms("2026-02-01T00:00:00Z"))
    }

    @Test func inATimeZone() {
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        // 02:00 in Berlin (CET, UTC+1 in November) is 01:00 UTC.
        #expect(Cron("0 2 * * *")!.next(after: ms("2026-11-01T12:00:00Z"), in: berlin) == ms("2026-11-02T01:00:00Z"))
        // Across the spring change (2026-03-29, 02:00 → 03:00): 03:00 CEST is 01:00 UTC.
        #expect(Cron("0 3 * * *")!.next(after: ms("2026-03-28T12:00:00Z"), in: berlin) == ms("2026-03-29T01:00:00Z"))
    }
}
