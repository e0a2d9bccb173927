import Foundation

/// The SQL types Sluice stores. Every column of every type may hold NULLs.
public enum DataType: Hashable, Sendable, CustomStringConvertible {
    case boolean
    case tinyint, smallint          // 8- and 16-bit, held in 32 bits
    case integer                    // 32-bit
    case bigint                     // 64-bit
    case hugeint                    // 128-bit
    case utinyint, usmallint        // unsigned 8- and 16-bit, held in 32 bits
    case uinteger                   // unsigned 32-bit, held in 64 bits
    case ubigint                    // unsigned 64-bit, held in 128 bits
    case double
    case decimal(precision: Int, scale: Int)  // exact, up to 38 digits
    case varchar
    case date                       // days since 1970-01-01
    case timestamp                  // microseconds since 1970-01-01 00:00:00
    case interval                   // months, days, microseconds
    case null                       // the type of a bare NULL literal

    public static let maxDecimalPrecision = 38

    public var description: String {
        switch self {
        case .boolean: return "BOOLEAN"
        case .tinyint: return "TINYINT"
        case .smallint: return "SMALLINT"
        case .integer: return "INTEGER"
        case .bigint: return "BIGINT"
        case .hugeint: return "HUGEINT"
        case .utinyint: return "UTINYINT"
        case .usmallint: return "USMALLINT"
        case .uinteger: return "UINTEGER"
        case .ubigint: return "UBIGINT"
        case .double: return "DOUBLE"
        case .decimal(let p, let s): return "DECIMAL(\(p),\(s))"
        case .varchar: return "VARCHAR"
        case .date: return "DATE"
        case .timestamp: return "TIMESTAMP"
        case .interval: return "INTERVAL"
        case .null: return "NULL"
        }
    }

    /// How values of this type are laid out in memory.
    public var physical: PhysicalType {
        switch self {
        case .boolean, .null: return .bool
        case .tinyint, .smallint, .integer, .utinyint, .usmallint, .date: return .int32
        case .bigint, .uinteger, .timestamp: return .int64
        case .hugeint, .ubigint: return .int128
        case .decimal(let p, _): return p <= 18 ? .int64 : .int128
        case .double: return .double
        case .varchar: return .string
        case .interval: return .interval
        }
    }

    public var isNumeric: Bool {
        switch self {
        case .double, .decimal: return true
        default: return isIntegral
        }
    }
    public var isIntegral: Bool { integerRange != nil }

    /// The values an integer type holds; nil for every other type. Narrow types are
    /// held in a wider physical type, so every kernel checks results against this.
    public var integerRange: ClosedRange<Int128>? {
        switch self {
        case .tinyint: return Int128(Int8.min)...Int128(Int8.max)
        case .smallint: return Int128(Int16.min)...Int128(Int16.max)
        case .integer: return Int128(Int32.min)...Int128(Int32.max)
        case .bigint: return Int128(Int64.min)...Int128(Int64.max)
        case .hugeint: return Int128.min...Int128.max
        case .utinyint: return 0...Int128(UInt8.max)
        case .usmallint: return 0...Int128(UInt16.max)
        case .uinteger: return 0...Int128(UInt32.max)
        case .ubigint: return 0...Int128(UInt64.max)
        default: return nil
        }
    }
    public var isUnsigned: Bool { self == .utinyint || self == .usmallint || self == .uinteger || self == .ubigint }
    /// Bits of an integer type (0 for others).
    public var integerBits: Int {
        switch self {
        case .tinyint, .utinyint: return 8
        case .smallint, .usmallint: return 16
        case .integer, .uinteger: return 32
        case .bigint, .ubigint: return 64
        case .hugeint: return 128
        default: return 0
        }
    }
    public var decimalScale: Int { if case .decimal(_, let s) = self { return s }; return 0 }

    /// Parses DuckDB's spelling of a type name: `DECIMAL(12,2)`, `INT`, `TEXT`, ...
    public static func parse(_ text: String) -> DataType? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        if t.hasPrefix("DECIMAL") || t.hasPrefix("NUMERIC") {
            guard let open = t.firstIndex(of: "(") else { return .decimal(precision: 18, scale: 3) }
            guard let close = t.firstIndex(of: ")"), open < close else { return nil }
            let parts = t[t.index(after: open)..<close].split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard let p = parts.first ?? nil, p >= 1, p <= maxDecimalPrecision else { return nil }
            let s = parts.count > 1 ? (parts[1] ?? -1) : 0
            guard s >= 0, s <= p else { return nil }
            return .decimal(precision: p, scale: s)
        }
        switch t {
        case "BOOLEAN", "BOOL": return .boolean
        case "TINYINT", "INT1": return .tinyint
        case "SMALLINT", "INT2", "SHORT": return .smallint
        case "INTEGER", "INT", "INT4", "SIGNED": return .integer
        case "BIGINT", "INT8", "LONG": return .bigint
        case "HUGEINT", "INT128": return .hugeint
        case "UTINYINT", "UINT8": return .utinyint
        case "USMALLINT", "UINT16": return .usmallint
        case "UINTEGER", "UINT32": return .uinteger
        case "UBIGINT", "UINT64": return .ubigint
        case "DOUBLE", "FLOAT8", "FLOAT", "REAL", "FLOAT4": return .double
        case "VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR": return .varchar
        case "DATE": return .date
        case "TIMESTAMP", "DATETIME": return .timestamp
        case "INTERVAL": return .interval
        default:
            if t.hasPrefix("VARCHAR(") || t.hasPrefix("CHAR(") { return .varchar }
            return nil
        }
    }
}

public enum PhysicalType: UInt8, Sendable {
    case bool = 1, int32, int64, int128, double, string, interval
}

/// An INTERVAL value: calendar months and days kept apart from exact time, as in PostgreSQL.
public struct Interval: Hashable, Sendable, Comparable {
    public var months: Int32
    public var days: Int32
    public var micros: Int64
    public init(months: Int32 = 0, days: Int32 = 0, micros: Int64 = 0) {
        self.months = months; self.days = days; self.micros = micros
    }
    /// Ordering by an approximate length (a month as 30 days), as PostgreSQL and DuckDB do.
    private var approximateMicros: Int128 {
        Int128(months) * 30 * 86_400_000_000 + Int128(days) * 86_400_000_000 + Int128(micros)
    }
    public static func < (a: Interval, b: Interval) -> Bool { a.approximateMicros < b.approximateMicros }
}


