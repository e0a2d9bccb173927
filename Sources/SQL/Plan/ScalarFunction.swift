/// Every scalar function and operator the engine evaluates, resolved by the
/// binder from what the query wrote (`ucase` and `upper` are both `.upper`).
/// The raw value is the canonical name: what EXPLAIN prints and the plan's
/// wire form carries. Kernels switch on the case, never on a string.
public enum ScalarFunction: String, Sendable, Hashable, CaseIterable {
    // Logic and comparison
    case and, or, not
    case isNull = "is_null", isNotNull = "is_not_null"
    case eq, ne, lt, le, gt, ge
    case isDistinct = "is_distinct", isNotDistinct = "is_not_distinct"
    // Arithmetic
    case add, subtract, multiply, divide, intDivide = "int_divide", modulo, negate
    case abs, round, floor, ceil, trunc, sqrt, ln, log10, log2, exp, power
    // Choice
    case coalesce, nullif, greatest, least
    // Strings
    case upper, lower, length, strlen, trim, ltrim, rtrim, concat, replace, substring, left, right, strpos
    case startsWith = "starts_with", endsWith = "ends_with", contains, like, ilike
    case repeatString = "repeat", reverse
    // Dates and times
    case currentDate = "current_date", currentTimestamp = "current_timestamp"
    case datePart = "date_part", dateTrunc = "date_trunc", dateDiff = "date_diff", dateSub = "date_sub"
    // Types
    case typeof

    /// Its operator symbol, for binary operators EXPLAIN prints infix.
    public var symbol: String? {
        switch self {
        case .eq: "="
        case .ne: "<>"
        case .lt: "<"
        case .le: "<="
        case .gt: ">"
        case .ge: ">="
        case .add: "+"
        case .subtract: "-"
        case .multiply: "*"
        case .divide: "/"
        case .intDivide: "//"
        case .modulo: "%"
        case .and: "AND"
        case .or: "OR"
        default: nil
        }
    }

    /// The comparison with its operands swapped (`a < b` is `b > a`).
    public var flipped: ScalarFunction {
        switch self {
        case .lt: .gt
        case .le: .ge
        case .gt: .lt
        case .ge: .le
        default: self
        }
    }

    public var isComparison: Bool { [.eq, .ne, .lt, .le, .gt, .ge].contains(self) }
}
