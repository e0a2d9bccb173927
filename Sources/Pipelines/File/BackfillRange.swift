import Columnar

/// The partition values a backfill runs: dates from `from` to `to`
/// inclusive, `step` apart (`1d`, `7d`, `2w`, `1mo`), oldest first unless
/// `backwards` (newest first, what a team usually wants first).
public enum BackfillRange {
    /// At most this many partitions in one backfill.
    public static let limit = 100_000

    public static func dates(from: String, to: String, step: String = "1d", backwards: Bool = false) throws(PipelineError) -> [String] {
        func bad(_ m: String) -> PipelineError { PipelineError(file: "backfill", nil, m) }
        guard let a = Dates.parseDate(from) else { throw bad("--from '\(from)' is not a date (YYYY-MM-DD)") }
        guard let b = Dates.parseDate(to) else { throw bad("--to '\(to)' is not a date (YYYY-MM-DD)") }
        guard a <= b else { throw bad("--from \(Dates.format(days: a)) is after --to \(Dates.format(days: b))") }
        guard let (n, unit) = parseStep(step) else { throw bad("--step '\(step)' is not a step such as 1d, 7d, 2w or 1mo") }
        var out: [Int32] = []
        var d = a, i: Int32 = 0
        while d <= b {
            out.append(d)
            guard out.count <= limit else { throw bad("the backfill has more than \(limit) partitions; split it or take a larger --step") }
            i += 1
            d = unit == "mo" ? Dates.addMonths(a, i * n) : a + i * n * (unit == "w" ? 7 : 1)
        }
        return (backwards ? out.reversed() : out).map { Dates.format(days: $0) }
    }

    static func parseStep(_ s: String) -> (Int32, String)? {
        for unit in ["mo", "d", "w"] where s.hasSuffix(unit) {
            guard let n = Int32(s.dropLast(unit.count)), n >= 1, n <= 3660 else { return nil }
            return (n, unit)
        }
        return nil
    }
}
