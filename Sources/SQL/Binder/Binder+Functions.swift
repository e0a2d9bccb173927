import Columnar
import Patterns

extension Binder {
    /// Types a scalar function call and inserts the casts its arguments need.
    func bindFunction(_ name: String, _ args: [BoundExpr], _ locs: [SourceLocation], _ loc: SourceLocation) throws(SQLError) -> BoundExpr {
        func arity(_ r: ClosedRange<Int>) throws(SQLError) {
            guard r.contains(args.count) else {
                let want = r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "\(r.lowerBound) to \(r.upperBound)"
                throw SQLError.binder("\(name)() takes \(want) arguments, not \(args.count)", loc)
            }
        }
        func arg(_ i: Int, _ t: DataType) throws(SQLError) -> BoundExpr { try coerce(args[i], to: t, at: locs[i]) }
        /// All arguments cast to the type they have in common (coalesce, greatest, least).
        func commonArgs() throws(SQLError) -> (args: [BoundExpr], type: DataType) {
            guard !args.isEmpty else { throw SQLError.binder("\(name)() needs arguments", loc) }
            var t = args[0].type
            for a in args.dropFirst() {
                guard let u = TypeRules.common(t, a.type) else { throw SQLError.binder("\(name)() mixes \(t) and \(a.type)", loc) }
                t = u
            }
            if t == .null { t = .integer }
            var out: [BoundExpr] = []
            for i in args.indices { out.append(try arg(i, t)) }
            return (out, t)
        }
        func stringArgs() throws(SQLError) -> [BoundExpr] {
            var out: [BoundExpr] = []
            for i in args.indices { out.append(try arg(i, .varchar)) }
            return out
        }
        func intArg(_ i: Int) throws(SQLError) -> BoundExpr {
            guard args[i].type.isIntegral || args[i].type == .null || (args[i].type.isNumeric && args[i].isConstant) else {
                throw SQLError.binder("\(name)() needs an integer for argument \(i + 1), not \(args[i].type)", locs[i])
            }
            return try arg(i, .bigint)
        }
        switch name {
        case "upper", "lower", "ucase", "lcase":
            try arity(1...1)
            return .call(name.hasPrefix("u") ? .upper : .lower, try stringArgs(), .varchar)
        case "length", "char_length", "character_length", "strlen":
            try arity(1...1)
            return .call(name == "strlen" ? .strlen : .length, try stringArgs(), .bigint)
        case "trim", "ltrim", "rtrim":
            try arity(1...2)
            return .call(ScalarFunction(rawValue: name)!, try stringArgs(), .varchar)
        case "concat":
            guard !args.isEmpty else { throw SQLError.binder("concat() needs arguments", loc) }
            // concat skips NULLs (unlike ||), as in DuckDB and PostgreSQL.
            var out: [BoundExpr] = []
            for i in args.indices { out.append(.call(.coalesce, [try arg(i, .varchar), .literal(.string(""), .varchar)], .varchar)) }
            return out.dropFirst().reduce(out[0]) { .call(.concat, [$0, $1], .varchar) }
        case "replace":
            try arity(3...3)
            return .call(.replace, try stringArgs(), .varchar)
        case "substring", "substr":
            try arity(2...3)
            var a = [try arg(0, .varchar), try intArg(1)]
            if args.count == 3 { a.append(try intArg(2)) }
            return .call(.substring, a, .varchar)
        case "lpad", "rpad":
            try arity(3...3)
            return .call(name == "lpad" ? .lpad : .rpad, [try arg(0, .varchar), try intArg(1), try arg(2, .varchar)], .varchar)
        case "split_part":
            try arity(3...3)
            return .call(.splitPart, [try arg(0, .varchar), try arg(1, .varchar), try intArg(2)], .varchar)
        case "regexp_matches", "regexp_full_match":
            try arity(2...3)
            let options = try regexOptions(args, at: 2, locs, name)
            return .call(name == "regexp_matches" ? .regexpMatches : .regexpFullMatch, [try arg(0, .varchar), try arg(1, .varchar), options], .boolean)
        case "regexp_replace":
            try arity(3...4)
            let options = try regexOptions(args, at: 3, locs, name)
            return .call(.regexpReplace, [try arg(0, .varchar), try arg(1, .varchar), try arg(2, .varchar), options], .varchar)
        case "regexp_extract":
            try arity(2...4)
            var group = BoundExpr.literal(.int(0), .bigint)
            if args.count > 2 {
                guard case .literal(let v, _) = try ConstantFolder.fold(try intArg(2)), v.integer != nil else {
                    throw SQLError.binder("regexp_extract() needs a constant group number", locs[2])
                }
                group = .literal(v, .bigint)
            }
            let options = try regexOptions(args, at: 3, locs, name)
            return .call(.regexpExtract, [try arg(0, .varchar), try arg(1, .varchar), group, options], .varchar)
        case "make_date":
            try arity(3...3)
            return .call(.makeDate, [try intArg(0), try intArg(1), try intArg(2)], .date)
        case "last_day":
            try arity(1...1)
            return .call(.lastDay, [try arg(0, .date)], .date)
        case "left", "right":
            try arity(2...2)
            return .call(name == "left" ? .left : .right, [try arg(0, .varchar), try intArg(1)], .varchar)
        case "position", "strpos", "instr":
            try arity(2...2)
            // position(needle IN haystack) arrives as (needle, haystack); strpos(haystack, needle).
            let (hay, needle) = name == "position" ? (1, 0) : (0, 1)
            return .call(.strpos, [try arg(hay, .varchar), try arg(needle, .varchar)], .bigint)
        case "starts_with", "prefix", "contains", "ends_with", "suffix":
            try arity(2...2)
            let canonical: ScalarFunction = ["prefix": .startsWith, "starts_with": .startsWith, "suffix": .endsWith, "ends_with": .endsWith][name] ?? .contains
            return .call(canonical, try stringArgs(), .boolean)
        case "repeat":
            try arity(2...2)
            return .call(.repeatString, [try arg(0, .varchar), try intArg(1)], .varchar)
        case "reverse":
            try arity(1...1)
            return .call(.reverse, try stringArgs(), .varchar)
        case "coalesce", "ifnull":
            let (out, t) = try commonArgs()
            return .call(.coalesce, out, t)
        case "nullif":
            try arity(2...2)
            guard let t = TypeRules.common(args[0].type, args[1].type) else { throw SQLError.binder("nullif() compares \(args[0].type) with \(args[1].type)", loc) }
            return .call(.nullif, [try arg(0, t), try arg(1, t)], t == .null ? .integer : t)
        case "greatest", "least":
            let (out, t) = try commonArgs()
            return .call(name == "greatest" ? .greatest : .least, out, t)
        case "abs":
            try arity(1...1)
            guard args[0].type.isNumeric else { throw SQLError.binder("abs() needs a number, not \(args[0].type)", locs[0]) }
            return .call(.abs, args, args[0].type)
        case "round", "floor", "ceil", "ceiling", "trunc":
            try arity(name == "round" ? 1...2 : 1...1)
            let t = args[0].type
            guard t.isNumeric || t == .null else { throw SQLError.binder("\(name)() needs a number, not \(t)", locs[0]) }
            var digits = 0
            if args.count == 2 {
                guard case .literal(let v, _) = try ConstantFolder.fold(args[1]), let d = v.integer else {
                    throw SQLError.binder("round() needs a constant number of digits", locs[1])
                }
                digits = Int(d)
            }
            let canonical: ScalarFunction = ["round": .round, "floor": .floor, "ceil": .ceil, "ceiling": .ceil, "trunc": .trunc][name]!
            let result: DataType
            switch t {
            // To tens and beyond, the integer part may carry one more digit (DuckDB's widening: 999 to 1000).
            case .decimal(let p, let s) where digits < 0 && name == "round": result = .decimal(precision: min(38, max(p, p - s + 1)), scale: 0)
            case .decimal(let p, let s): result = .decimal(precision: p, scale: max(0, min(s, digits)))
            case .null: result = .double
            default: result = t
            }
            return .call(canonical, [args[0], .literal(.int(Int64(digits)), .bigint)], result)
        case "sqrt", "ln", "log", "log10", "log2", "exp":
            try arity(1...1)
            let function: ScalarFunction = ["sqrt": .sqrt, "ln": .ln, "log": .log10, "log10": .log10, "log2": .log2, "exp": .exp][name]!
            return .call(function, [try arg(0, .double)], .double)
        case "power", "pow":
            try arity(2...2)
            return .call(.power, [try arg(0, .double), try arg(1, .double)], .double)
        case "current_date", "today":
            try arity(0...0)
            return .call(.currentDate, [], .date)
        case "current_timestamp", "now":
            try arity(0...0)
            return .call(.currentTimestamp, [], .timestamp)
        case "date_part", "datepart", "year", "month", "day", "quarter", "dayofweek", "dayofyear", "week", "hour", "minute", "second", "epoch",
             "isodow", "isoyear", "yearweek", "millennium", "decade", "century", "dayofmonth", "weekday", "weekofyear", "millisecond",
             "microsecond", "epoch_us":
            var part: String
            var value: BoundExpr
            if name == "date_part" || name == "datepart" {
                try arity(2...2)
                guard case .literal(.string(let p), _) = try ConstantFolder.fold(args[0]) else {
                    // The part from a column: each row's own, as a DOUBLE (as DuckDB).
                    var v = args[1]
                    if v.type == .varchar && v.isConstant { v = try coerce(v, to: .timestamp, at: loc) }
                    guard [.date, .timestamp].contains(v.type) || v.type == .null else { throw SQLError.binder("date_part() needs a DATE or TIMESTAMP, not \(v.type)", locs[1]) }
                    return .call(.datePart, [try arg(0, .varchar), v], .double)
                }
                part = p.lowercased(); value = args[1]
            } else {
                try arity(1...1)
                part = name; value = args[0]
            }
            part = DateParts.canonical(part) ?? part
            guard DateParts.all.contains(part) else { throw SQLError.binder("unknown date part \"\(part)\"", locs[0]) }
            if value.type == .varchar && value.isConstant { value = try coerce(value, to: .timestamp, at: loc) }
            guard [.date, .timestamp, .interval].contains(value.type) || value.type == .null else {
                throw SQLError.binder("\(name)() needs a DATE or TIMESTAMP, not \(value.type)", loc)
            }
            return .call(.datePart, [.literal(.string(part), .varchar), value], part == "epoch" ? .double : .bigint)
        case "epoch_ms":
            try arity(1...1)
            if args[0].type.isIntegral {
                return .call(.timestampFromMillis, [try arg(0, .bigint)], .timestamp)
            }
            return .call(.datePart, [.literal(.string("epoch_ms"), .varchar), try arg(0, .timestamp)], .bigint)
        case "date_add":
            try arity(2...2)
            return try arithmetic("+", args[0], args[1], loc)
        case "strftime":
            try arity(2...2)
            // strftime(format, value) is accepted too, as DuckDB does.
            let (value, format) = args[0].type == .varchar && args[1].type != .varchar ? (1, 0) : (0, 1)
            let v = args[value].type == .date ? try arg(value, .timestamp) : args[value]
            guard v.type == .timestamp || v.type == .null else { throw SQLError.binder("strftime() needs a DATE or TIMESTAMP, not \(v.type)", locs[value]) }
            let f = try arg(format, .varchar)
            if case .literal(.string(let text), _) = f { _ = try DateFormat(text) }
            return .call(.strftime, [v, f], .varchar)
        case "strptime", "try_strptime":
            try arity(2...2)
            let f = try arg(1, .varchar)
            if case .literal(.string(let text), _) = f { _ = try DateFormat(text) }
            return .call(name == "strptime" ? .strptime : .tryStrptime, [try arg(0, .varchar), f], .timestamp)
        case "md5", "sha256":
            try arity(1...1)
            return .call(name == "md5" ? .md5 : .sha256, try stringArgs(), .varchar)
        case "hash":
            guard !args.isEmpty else { throw SQLError.binder("hash() needs arguments", loc) }
            return .call(.hash, args, .bigint)
        case "hex", "to_hex":
            try arity(1...1)
            guard args[0].type.isIntegral || args[0].type == .varchar || args[0].type == .null else {
                throw SQLError.binder("hex() needs an integer or a string, not \(args[0].type)", locs[0])
            }
            return .call(.hex, [args[0].type.isIntegral ? try arg(0, .bigint) : try arg(0, .varchar)], .varchar)
        case "date_trunc", "datetrunc":
            try arity(2...2)
            guard case .literal(.string(let p), _) = args[0], let part = DateParts.canonical(p.lowercased()) else {
                throw SQLError.binder("date_trunc() needs a constant part name such as 'month'", locs[0])
            }
            var value = args[1]
            if value.type == .varchar && value.isConstant { value = try coerce(value, to: .timestamp, at: loc) }
            guard value.type == .date || value.type == .timestamp else { throw SQLError.binder("date_trunc() needs a DATE or TIMESTAMP, not \(value.type)", locs[1]) }
            return .call(.dateTrunc, [.literal(.string(part), .varchar), value], .timestamp)
        case "date_diff", "datediff", "date_sub", "datesub":
            try arity(3...3)
            guard case .literal(.string(let p), _) = args[0], let part = DateParts.canonical(p.lowercased()) else {
                throw SQLError.binder("\(name)() needs a constant part name such as 'day'", locs[0])
            }
            let t: DataType = args[1].type == .timestamp || args[2].type == .timestamp ? .timestamp : .date
            return .call(name.hasPrefix("date_sub") || name == "datesub" ? .dateSub : .dateDiff,
                         [.literal(.string(part), .varchar), try arg(1, t), try arg(2, t)], .bigint)
        case "grouping", "grouping_id":
            guard !args.isEmpty else { throw SQLError.binder("grouping() needs at least one GROUP BY expression", loc) }
            return .call(.grouping, args, .bigint)
        case "typeof":
            try arity(1...1)
            // The argument stays in the tree so typeof(sum(x)) still makes an aggregate query.
            return .call(.typeof, [args[0], .literal(.string(args[0].type.description), .varchar)], .varchar)
        case "unnest", "map", "list_value", "struct_pack", "array_agg", "list", "json_extract", "json_extract_string", "to_json", "json",
             "regexp_extract_all", "regexp_split_to_array", "string_split", "str_split", "generate_subscripts", "array_length", "len":
            throw SQLError.unsupported("\(name)() works on LIST, STRUCT, MAP or JSON values, which are not supported yet (a later release)", loc)
        default:
            let known = ["upper", "lower", "length", "trim", "concat", "replace", "substring", "position", "strpos", "coalesce", "nullif",
                         "abs", "round", "date_part", "date_trunc", "date_diff", "extract", "year", "month", "current_date", "sum", "count",
                         "avg", "min", "max", "median", "stddev", "greatest", "least", "starts_with", "contains", "left", "right"]
            let hint = nearestName(to: name, among: known).map { "; did you mean \($0)()?" } ?? ""
            throw SQLError.binder("unknown function \(name)()\(hint)", loc)
        }
    }
}

extension Binder {
    /// A regular expression call's options argument: a constant string of known letters ('' when absent).
    func regexOptions(_ args: [BoundExpr], at k: Int, _ locs: [SourceLocation], _ name: String) throws(SQLError) -> BoundExpr {
        guard k < args.count else { return .literal(.string(""), .varchar) }
        guard case .literal(let v, _) = try ConstantFolder.fold(try coerce(args[k], to: .varchar, at: locs[k])), case .string(let s) = v else {
            throw SQLError.binder("\(name)() needs its options as a constant string such as 'i'", locs[k])
        }
        if let bad = s.first(where: { !RegexOptions.letters.contains($0) }) {
            throw SQLError.binder("Unrecognized regex option \(bad) (known: c, i, l, m, n, p, s, g)", locs[k])
        }
        return .literal(.string(s), .varchar)
    }
}

/// Names of date parts, with their accepted spellings.
public enum DateParts {
    public static let all: Set<String> = ["year", "quarter", "month", "week", "day", "dayofweek", "dayofyear", "hour", "minute", "second", "millisecond",
                                          "microsecond", "epoch", "decade", "century", "millennium", "isodow", "isoyear", "yearweek", "epoch_ms", "epoch_us"]
    public static func canonical(_ p: String) -> String? {
        let map = ["years": "year", "yy": "year", "y": "year", "yr": "year", "months": "month", "mon": "month", "mm": "month",
                   "days": "day", "d": "day", "dd": "day", "dow": "dayofweek", "doy": "dayofyear", "weeks": "week", "w": "week",
                   "hours": "hour", "h": "hour", "minutes": "minute", "min": "minute", "seconds": "second", "s": "second",
                   "sec": "second", "quarters": "quarter", "q": "quarter", "ms": "millisecond", "milliseconds": "millisecond",
                   "us": "microsecond", "microseconds": "microsecond", "dayofmonth": "day", "weekday": "dayofweek", "weekofyear": "week",
                   "millennia": "millennium", "mil": "millennium", "decades": "decade", "centuries": "century"]
        let c = map[p] ?? p
        return all.contains(c) ? c : nil
    }
}

extension Binder {
    /// A select item with `COLUMNS('regex')` (or `COLUMNS(*)`): one item per
    /// column of the FROM clause whose name the regex matches somewhere, with
    /// its name (the column's own where the item is just COLUMNS(...)).
    func expandColumns(_ e: Expr, _ scope: Scope) throws(SQLError) -> [(Expr, String)] {
        guard let selector = e.columnsSelector else { return [(e, displayName(e))] }
        let visible = scope.entries.filter { !$0.qualifiedOnly }
        var picked = visible
        if selector != "*" {
            do throws(PatternError) {
                let m = try Pattern(selector).matcher()
                picked = []
                for v in visible where try m.contains(v.column.name) { picked.append(v) }
            } catch {
                throw SQLError.binder("COLUMNS(): \(error.message)", e.location)
            }
        }
        guard !picked.isEmpty else { throw SQLError.binder("No columns match the regex \"\(selector)\" in COLUMNS()", e.location) }
        return picked.map { v in
            let ref = Expr(.column(v.table.map { [$0, v.column.name] } ?? [v.column.name]), e.location)
            let expanded = e.replacingColumns { parts in parts.first == Expr.columnsMarker ? ref : nil }
            if case .column = e.kind { return (expanded, v.column.name) }
            return (expanded, displayName(expanded))
        }
    }
}
