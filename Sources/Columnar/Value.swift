/// One scalar, laid out as its column's physical type (a DECIMAL is its unscaled
/// integer, a DATE its day number). A value means something only with its DataType.
public enum Value: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)          // INTEGER, BIGINT, DATE, TIMESTAMP, DECIMAL(p<=18)
    case wide(Int128)        // DECIMAL(p>18)
    case double(Double)
    case string(String)
    case interval(Interval)

    public var isNull: Bool { if case .null = self { return true }; return false }

    /// The integer payload of any integer-like value, widened.
    public var integer: Int128? {
        switch self {
        case .int(let v): return Int128(v)
        case .wide(let v): return v
        default: return nil
        }
    }
}

/// Renders a value of `type` the way DuckDB prints it (used by the CLI, CSV and tests).
public func render(_ value: Value, as type: DataType) -> String? {
    switch value {
    case .null: return nil
    case .bool(let b): return b ? "true" : "false"
    case .int(let v):
        switch type {
        case .date: return Dates.format(days: Int32(truncatingIfNeeded: v))
        case .timestamp: return Dates.format(micros: v)
        case .decimal(_, let s): return Decimal128.format(Int128(v), scale: s)
        default: return String(v)
        }
    case .wide(let v): return Decimal128.format(v, scale: type.decimalScale)
    case .double(let d): return formatDouble(d)
    case .string(let s): return s
    case .interval(let i): return Dates.format(interval: i)
    }
}

/// Shortest round-trip text for a double, DuckDB-style for special values.
public func formatDouble(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) + ".0" }
    return "\(d)"
}
