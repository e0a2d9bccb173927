import Columnar

/// A parameter's value, typed. It enters SQL only as a literal of its type
/// (`sqlLiteral`), so no value can change a query's shape.
public enum ParamValue: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Days since 1970-01-01.
    case date(Int32)
    case int(Int64)
    case string(String)
    /// Microseconds since 1970-01-01 00:00:00.
    case timestamp(Int64)

    public var kind: Param.Kind {
        switch self {
        case .date: return .date
        case .int: return .int
        case .string: return .string
        case .timestamp: return .timestamp
        }
    }

    /// Reads a value written as text (`--param date=2026-11-01`, a default in the file).
    public static func parse(_ text: String, as kind: Param.Kind) -> ParamValue? {
        switch kind {
        case .date: return Dates.parseDate(text).map(ParamValue.date)
        case .int: return Int64(text).map(ParamValue.int)
        case .string: return .string(text)
        case .timestamp: return Dates.parseTimestamp(text).map(ParamValue.timestamp)
        }
    }

    /// How the value reads in a message, a partition directory, a run's record.
    public var description: String {
        switch self {
        case .date(let d): return Dates.format(days: d)
        case .int(let i): return String(i)
        case .string(let s): return s
        case .timestamp(let t): return Dates.format(micros: t)
        }
    }

    /// The value as a SQL literal of its type: `DATE '2026-11-01'`, `42`,
    /// `'it''s'`, `TIMESTAMP '2026-11-01 06:00:00'`.
    public var sqlLiteral: String {
        switch self {
        case .date: return "DATE '\(description)'"
        case .int(let i): return i < 0 ? "(\(i))" : String(i)
        case .string(let s): return "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
        case .timestamp: return "TIMESTAMP '\(description)'"
        }
    }
}
