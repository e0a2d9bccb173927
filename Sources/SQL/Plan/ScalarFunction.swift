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
    case lpad, rpad, splitPart = "split_part"
    /// Regular expressions (PCRE2); the last argument is the options string ('i', 'g', ...).
    case regexpMatches = "regexp_matches", regexpFullMatch = "regexp_full_match", regexpReplace = "regexp_replace", regexpExtract = "regexp_extract"
    // Dates and times
    case currentDate = "current_date", currentTimestamp = "current_timestamp"
    case datePart = "date_part", dateTrunc = "date_trunc", dateDiff = "date_diff", dateSub = "date_sub"
    case makeDate = "make_date", lastDay = "last_day"
    case strftime, strptime, tryStrptime = "try_strptime"
    /// epoch_ms(BIGINT): the timestamp that many milliseconds after 1970-01-01.
    case timestampFromMillis = "epoch_ms_to_timestamp"
    // Digests and hashes
    case md5, sha256, hash, hex
    // Types
    case typeof
    /// `TRY_CAST(x AS t)`: the call's type is the target; NULL where a value does not convert.
    case tryCast = "try_cast"
    /// `grouping(a, ...)`: only between binding and placing the aggregate, which turns it into a column.
    case grouping

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

    /// How many arguments a call has as the binder makes it (round gets its
    /// digits, date functions their part, typeof the type's name); the
    /// evaluator refuses any other count, so a plan from elsewhere cannot make
    /// a kernel read an argument that is not there.
    public var arity: ClosedRange<Int> {
        switch self {
        case .currentDate, .currentTimestamp: 0...0
        case .not, .isNull, .isNotNull, .negate, .abs, .sqrt, .ln, .log10, .log2, .exp, .upper, .lower, .length, .strlen, .reverse, .tryCast, .lastDay,
             .timestampFromMillis, .md5, .sha256, .hex: 1...1
        case .strftime, .strptime, .tryStrptime: 2...2
        case .hash: 1...Int.max
        case .lpad, .rpad, .splitPart, .makeDate, .regexpMatches, .regexpFullMatch: 3...3
        case .regexpReplace, .regexpExtract: 4...4
        case .like, .ilike: 2...3
        case .trim, .ltrim, .rtrim: 1...2
        case .substring: 2...3
        case .replace, .dateDiff, .dateSub: 3...3
        case .coalesce, .greatest, .least, .grouping: 1...Int.max
        case .and, .or, .eq, .ne, .lt, .le, .gt, .ge, .isDistinct, .isNotDistinct, .add, .subtract, .multiply, .divide, .intDivide,
             .modulo, .power, .nullif, .concat, .left, .right, .strpos, .startsWith, .endsWith, .contains,
             .repeatString, .typeof, .round, .floor, .ceil, .trunc, .datePart, .dateTrunc: 2...2
        }
    }
}
