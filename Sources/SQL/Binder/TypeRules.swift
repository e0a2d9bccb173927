import Columnar

/// DuckDB's typing rules for operators and functions, as far as this engine goes.
enum TypeRules {
    /// The DECIMAL an integer type widens to in mixed arithmetic.
    static func asDecimal(_ t: DataType) -> DataType? {
        switch t {
        case .tinyint, .utinyint: return .decimal(precision: 3, scale: 0)
        case .smallint, .usmallint: return .decimal(precision: 5, scale: 0)
        case .integer, .uinteger: return .decimal(precision: 10, scale: 0)
        case .bigint: return .decimal(precision: 19, scale: 0)
        case .ubigint: return .decimal(precision: 20, scale: 0)
        case .hugeint: return .decimal(precision: 38, scale: 0)
        case .decimal: return t
        default: return nil
        }
    }

    static func signedInteger(bits: Int) -> DataType {
        switch bits {
        case ...8: return .tinyint
        case ...16: return .smallint
        case ...32: return .integer
        case ...64: return .bigint
        default: return .hugeint
        }
    }

    /// The integer type both integer types are cast to (CASE, UNION, comparisons):
    /// the wider of one signedness; a signed type twice as wide as an unsigned one.
    static func commonInteger(_ a: DataType, _ b: DataType) -> DataType {
        if a.isUnsigned == b.isUnsigned { return a.integerBits >= b.integerBits ? a : b }
        let (signed, unsigned) = a.isUnsigned ? (b, a) : (a, b)
        return signedInteger(bits: max(signed.integerBits, 2 * unsigned.integerBits))
    }

    /// The type of `+ - * // %` on two integer types, as DuckDB picks its overloads:
    /// mixed signedness keeps a strictly wider signed type, else goes to BIGINT (HUGEINT beside UBIGINT).
    static func integerArithmetic(_ a: DataType, _ b: DataType) -> DataType {
        if a.isUnsigned == b.isUnsigned { return a.integerBits >= b.integerBits ? a : b }
        let (signed, unsigned) = a.isUnsigned ? (b, a) : (a, b)
        if signed.integerBits > unsigned.integerBits { return signed }
        return unsigned == .ubigint ? .hugeint : .bigint
    }

    static func decimalParts(_ t: DataType) -> (p: Int, s: Int) {
        if case .decimal(let p, let s) = t { return (p, s) }
        return (18, 0)
    }

    /// The type both sides are cast to before comparing or combining (CASE, COALESCE, IN).
    static func common(_ a: DataType, _ b: DataType) -> DataType? {
        if a == b { return a }
        if a == .null { return b }
        if b == .null { return a }
        switch (a, b) {
        case _ where a.isIntegral && b.isIntegral: return commonInteger(a, b)
        case (.double, _) where b.isNumeric, (_, .double) where a.isNumeric: return .double
        case (.decimal, _) where b.isNumeric, (_, .decimal) where a.isNumeric:
            let (p1, s1) = decimalParts(asDecimal(a)!), (p2, s2) = decimalParts(asDecimal(b)!)
            let s = max(s1, s2)
            return .decimal(precision: min(38, max(p1 - s1, p2 - s2) + s), scale: s)
        case (.date, .timestamp), (.timestamp, .date): return .timestamp
        case (.varchar, _): return b
        case (_, .varchar): return a
        default: return nil
        }
    }

    /// Result type of arithmetic `op` on `a` and `b`, nil if not defined.
    static func arithmetic(_ op: String, _ a: DataType, _ b: DataType) -> DataType? {
        switch (op, a, b) {
        case ("+", .date, .interval), ("+", .interval, .date), ("-", .date, .interval): return .timestamp
        case ("+", .timestamp, .interval), ("+", .interval, .timestamp), ("-", .timestamp, .interval): return .timestamp
        case ("+", .interval, .interval), ("-", .interval, .interval): return .interval
        case ("-", .date, .date): return .bigint
        case ("-", .timestamp, .timestamp): return .interval
        case ("+", .date, _) where b.isIntegral && b.integerBits <= 64, ("-", .date, _) where b.isIntegral && b.integerBits <= 64: return .date
        case ("+", _, .date) where a.isIntegral && a.integerBits <= 64: return .date
        default: break
        }
        let l = a == .null ? b : a, r = b == .null ? a : b
        guard l.isNumeric || l == .null, r.isNumeric || r == .null else { return nil }
        if l == .null && r == .null { return .integer }
        if op == "/" { return .double }
        if l == .double || r == .double { return .double }
        if case .decimal = l {} else if case .decimal = r {} else {
            // Integers: overflow is a runtime error, as in DuckDB.
            return integerArithmetic(l, r)
        }
        let (p1, s1) = decimalParts(asDecimal(l)!), (p2, s2) = decimalParts(asDecimal(r)!)
        switch op {
        case "+", "-":
            let s = max(s1, s2)
            return .decimal(precision: min(38, max(p1 - s1, p2 - s2) + s + 1), scale: s)
        case "*":
            let s = s1 + s2
            guard s <= 38 else { return nil }
            var p = p1 + p2
            // DuckDB keeps a product of two 64-bit decimals in 64 bits, checking overflow at run time.
            if p1 <= 18, p2 <= 18, s <= 18 { p = min(p, 18) }
            return .decimal(precision: min(38, max(p, s)), scale: s)
        case "%", "//":
            let s = max(s1, s2)
            return .decimal(precision: min(38, max(p1 - s1, p2 - s2) + s), scale: s)
        default: return nil
        }
    }
}
