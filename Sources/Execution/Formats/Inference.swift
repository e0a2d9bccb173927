import Columnar
import SQL

/// Type inference from sample text values, DuckDB-style: BOOLEAN, BIGINT, DOUBLE,
/// DATE, TIMESTAMP, else VARCHAR. Empty values are NULL and do not vote.
enum Inference {
    static let candidates: [DataType] = [.boolean, .bigint, .double, .date, .timestamp]

    static func fits(_ v: String, _ t: DataType) -> Bool {
        switch t {
        case .boolean: return ["true", "false"].contains(v.lowercased())
        case .bigint: return Int64(v) != nil
        case .double: return Double(v) != nil && v.contains(where: \.isNumber) && !v.lowercased().contains("n")
        case .date: return Dates.parseDate(v) != nil
        case .timestamp: return Dates.parseTimestamp(v) != nil
        default: return true
        }
    }

    static func commonType<S: Sequence>(_ values: S) -> DataType where S.Element == String {
        var possible = candidates
        var any = false
        for v in values where !v.isEmpty {
            any = true
            possible.removeAll { !fits(v, $0) }
            if possible.isEmpty { return .varchar }
        }
        return any ? possible[0] : .varchar
    }
}
