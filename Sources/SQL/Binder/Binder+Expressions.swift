import Columnar

extension Binder {
    func bindExpr(_ e: Expr, _ scope: Scope) throws(SQLError) -> BoundExpr {
        let loc = e.location
        switch e.kind {
        case .column(let parts):
            if parts.first == Expr.columnsMarker { throw SQLError.binder("COLUMNS(...) is only allowed in the select list", loc) }
            do {
                let c = try scope.resolve(parts, at: loc)
                return .column(c.id, c.type)
            } catch {
                // A name of an enclosing query (the innermost that has it): the subquery is correlated.
                for outer in outerScopes.reversed() {
                    if let c = try? outer.resolve(parts, at: loc) { return .column(c.id, c.type) }
                }
                throw error
            }
        case .literal(let lit):
            return try bindLiteral(lit, loc)
        case .unary(let op, let x):
            let b = try bindExpr(x, scope)
            if op == "NOT" {
                let c = try coerce(b, to: .boolean, at: x.location)
                return .call(.not, [c], .boolean)
            }
            guard b.type.isNumeric || b.type == .interval || b.type == .null else {
                throw SQLError.binder("cannot negate a \(b.type)", loc)
            }
            return .call(.negate, [b], b.type == .null ? .integer : b.type)
        case .binary(let op, let l, let r):
            let a = try bindExpr(l, scope), b = try bindExpr(r, scope)
            switch op {
            case "AND", "OR":
                return .call(op == "AND" ? .and : .or, [try coerce(a, to: .boolean, at: l.location), try coerce(b, to: .boolean, at: r.location)], .boolean)
            case "=", "<>", "<", "<=", ">", ">=":
                return try comparison(op, a, b, loc)
            case "||":
                return .call(.concat, [try coerce(a, to: .varchar, at: l.location), try coerce(b, to: .varchar, at: r.location)], .varchar)
            default:
                return try arithmetic(op, adoptingType(of: b, a, l), adoptingType(of: a, b, r), loc)
            }
        case .function(let name, let args, let distinct, let star):
            if let kind = aggregateKind(name, star: star) {
                return try bindAggregate(kind, name: name, args: args, distinct: distinct, scope, loc)
            }
            var bound: [BoundExpr] = []
            for a in args { bound.append(try bindExpr(a, scope)) }
            return try bindFunction(name, bound, args.map(\.location), loc)
        case .orderedAggregate(let f, let order):
            guard case .function(let name, let args, let distinct, let star) = f.kind, let kind = aggregateKind(name, star: star) else {
                throw SQLError.binder("ORDER BY inside a call's arguments is only for aggregate functions", loc)
            }
            guard case .aggregate(var call) = try bindAggregate(kind, name: name, args: args, distinct: distinct, scope, loc) else {
                throw SQLError.binder("internal error: \(name) did not bind to an aggregate", loc)
            }
            for o in order {
                let key = try bindExpr(o.expr, scope)
                if containsAggregate(key) { throw SQLError.binder("aggregate function calls cannot be nested", o.expr.location) }
                call.orderBy.append(SortKey(expr: key, ascending: o.ascending, nullsFirst: o.nullsFirst ?? false))
            }
            return .aggregate(call)
        case .window(let name, let args, let distinct, let star, let spec):
            return try bindWindow(name, args, distinct: distinct, star: star, spec, scope, loc)
        case .caseWhen(let operand, let whens, let otherwise):
            let op = try operand.map { (x) throws(SQLError) in try bindExpr(x, scope) }
            var conds: [BoundExpr] = [], results: [BoundExpr] = []
            for (c, r) in whens {
                let bc = try bindExpr(c, scope)
                conds.append(op == nil ? try coerce(bc, to: .boolean, at: c.location) : bc)
                results.append(try bindExpr(r, scope))
            }
            if let op { for i in conds.indices { conds[i] = try comparison("=", op, conds[i], whens[i].0.location) } }
            let other = try otherwise.map { (x) throws(SQLError) in try bindExpr(x, scope) }
            var type = results[0].type
            for r in results.dropFirst() + (other.map { [$0] } ?? []) {
                guard let t = TypeRules.common(type, r.type) else { throw SQLError.binder("CASE mixes \(type) and \(r.type)", loc) }
                type = t
            }
            if type == .null { type = .integer }
            var ws: [BoundExpr.When] = []
            for i in conds.indices { ws.append(.init(condition: conds[i], result: try coerce(results[i], to: type, at: loc))) }
            return .caseWhen(ws, otherwise: try other.map { (x) throws(SQLError) in try coerce(x, to: type, at: loc) }, type)
        case .tryCast(let x, let t):
            return .call(.tryCast, [try bindExpr(x, scope)], t)
        case .cast(let x, let t):
            let b = try bindExpr(x, scope)
            return try ConstantFolder.castIfConstant(b, to: t, at: loc)
        case .inList(let x, let items, let negated):
            let b = try bindExpr(x, scope)
            var list: [BoundExpr] = []
            for i in items { list.append(try bindExpr(i, scope)) }
            var type = b.type
            for i in list {
                guard let t = TypeRules.common(type, i.type) else { throw SQLError.binder("IN list compares \(b.type) with \(i.type)", i == list[0] ? items[0].location : loc) }
                type = t
            }
            var coerced: [BoundExpr] = []
            for (k, i) in list.enumerated() { coerced.append(try coerce(i, to: type, at: items[k].location)) }
            return .inList(try coerce(b, to: type, at: x.location), coerced, negated: negated)
        case .inSubquery(let x, let q, let negated):
            let b = try bindExpr(x, scope)
            let sub = try subquery(q, loc, enclosing: scope)
            guard sub.plan.columns.count == 1 else { throw SQLError.binder("subquery in IN must return one column, not \(sub.plan.columns.count)", loc) }
            let st = sub.plan.columns[0].type
            guard let t = TypeRules.common(b.type, st) else { throw SQLError.binder("IN compares \(b.type) with a subquery of \(st)", loc) }
            if t != st { sub.plan = castOutput(sub.plan, to: t) }
            return .inSubquery(try coerce(b, to: t, at: x.location), sub, negated: negated)
        case .scalarSubquery(let q):
            let sub = try subquery(q, loc, enclosing: scope)
            guard sub.plan.columns.count == 1 else { throw SQLError.binder("scalar subquery must return one column, not \(sub.plan.columns.count)", loc) }
            return .scalarSubquery(sub, sub.plan.columns[0].type)
        case .exists(let q, let negated):
            return .exists(try subquery(q, loc, enclosing: scope), negated: negated)
        case .between(let x, let lo, let hi, let negated):
            let b = try bindExpr(x, scope)
            let both = BoundExpr.call(.and, [
                try comparison(">=", b, try bindExpr(lo, scope), lo.location),
                try comparison("<=", b, try bindExpr(hi, scope), hi.location),
            ], .boolean)
            return negated ? .call(.not, [both], .boolean) : both
        case .like(let x, let p, let negated, let ci, let escape):
            let b = try coerce(try bindExpr(x, scope), to: .varchar, at: x.location)
            let pat = try coerce(try bindExpr(p, scope), to: .varchar, at: p.location)
            var args = [b, pat]
            if let escape {
                // One constant character (or none: no escape).
                guard case .literal(let v, _) = try ConstantFolder.fold(try coerce(try bindExpr(escape, scope), to: .varchar, at: escape.location)),
                      case .string(let c) = v, c.utf8.count <= 1 else {
                    throw SQLError.binder("the ESCAPE of LIKE must be one constant character", escape.location)
                }
                args.append(.literal(.string(c), .varchar))
            }
            let call = BoundExpr.call(ci ? .ilike : .like, args, .boolean)
            return negated ? .call(.not, [call], .boolean) : call
        case .isNull(let x, let negated):
            return .call(negated ? .isNotNull : .isNull, [try bindExpr(x, scope)], .boolean)
        case .isDistinctFrom(let l, let r, let negated):
            let a = try bindExpr(l, scope), b = try bindExpr(r, scope)
            guard let t = TypeRules.common(a.type, b.type) else { throw SQLError.binder("cannot compare \(a.type) with \(b.type)", loc) }
            return .call(negated ? .isNotDistinct : .isDistinct, [try coerce(a, to: t, at: l.location), try coerce(b, to: t, at: r.location)], .boolean)
        case .extract(let field, let x):
            let b = try bindExpr(x, scope)
            return try bindFunction("date_part", [.literal(.string(field), .varchar), b], [loc, x.location], loc)
        case .structLiteral, .listLiteral:
            throw SQLError.unsupported("LIST and STRUCT values are not supported yet (only as table function options); nested types come in a later release", loc)
        }
    }

    func subquery(_ q: Query, _ loc: SourceLocation, enclosing: Scope) throws(SQLError) -> Subquery {
        outerScopes.append(enclosing)
        defer { outerScopes.removeLast() }
        let plan = try bindQuery(q, outer: nil)
        nextSubqueryID += 1
        return Subquery(id: nextSubqueryID, plan: plan)
    }

    func castOutput(_ plan: LogicalPlan, to t: DataType) -> LogicalPlan {
        let c = plan.columns[0]
        return .project(plan, [.cast(.column(c.id, c.type), t)], columns: [newColumn(c.name, t)])
    }

    func bindLiteral(_ lit: Literal, _ loc: SourceLocation) throws(SQLError) -> BoundExpr {
        switch lit {
        case .null: return .literal(.null, .null)
        case .bool(let b): return .literal(.bool(b), .boolean)
        case .string(let s): return .literal(.string(s), .varchar)
        case .number(let n):
            if n.contains("e") || n.contains("E") {
                guard let d = Double(n) else { throw SQLError.syntax("bad number \(n)", loc) }
                return .literal(.double(d), .double)
            }
            if !n.contains(".") {
                if let v = Int32(n) { return .literal(.int(Int64(v)), .integer) }
                if let v = Int64(n) { return .literal(.int(v), .bigint) }
                if let v = Int128(n) { return .literal(.wide(v), .hugeint) }
            }
            let digits = n.filter(\.isNumber)
            let scale = n.firstIndex(of: ".").map { n.distance(from: $0, to: n.endIndex) - 1 } ?? 0
            let precision = max(digits.drop { $0 == "0" }.count, scale, 1)
            guard precision <= 38, let v = Decimal128.parse(n, scale: scale) else {
                guard let d = Double(n) else { throw SQLError.syntax("bad number \(n)", loc) }
                return .literal(.double(d), .double)
            }
            let t = DataType.decimal(precision: precision, scale: scale)
            return .literal(precision <= 18 ? .int(Int64(v)) : .wide(v), t)
        case .typed(let t, let s):
            return try ConstantFolder.castIfConstant(.literal(.string(s), .varchar), to: t, at: loc)
        case .interval(let text, let unit):
            guard let i = Intervals.parse(text, unit: unit) else { throw SQLError.binder("bad interval '\(text)'\(unit.map { " \($0)" } ?? "")", loc) }
            return .literal(.interval(i), .interval)
        }
    }

    /// Casts `e` to `t` if needed, folding the cast of a constant right away so that
    /// `date_col < '1998-01-01'` compares dates, not strings.
    func coerce(_ e: BoundExpr, to t: DataType, at loc: SourceLocation) throws(SQLError) -> BoundExpr {
        if e.type == t { return e }
        if e.type == .null { return .literal(.null, t) }
        if e.type == .varchar, t != .varchar, !e.isConstant {
            // DuckDB casts VARCHAR columns implicitly only to compare with literals; be as strict.
            throw SQLError.binder("cannot use a VARCHAR where \(t) is expected; add an explicit CAST", loc)
        }
        return try ConstantFolder.castIfConstant(e, to: t, at: loc)
    }

    func comparison(_ op: String, _ a: BoundExpr, _ b: BoundExpr, _ loc: SourceLocation) throws(SQLError) -> BoundExpr {
        var t: DataType?
        if a.type == .varchar, b.type != .varchar, a.isConstant { t = b.type }
        else if b.type == .varchar, a.type != .varchar, b.isConstant { t = a.type }
        else { t = TypeRules.common(a.type, b.type) }
        guard var t else { throw SQLError.binder("cannot compare \(a.type) with \(b.type)", loc) }
        if t == .null { t = .integer }
        let name: ScalarFunction = ["=": .eq, "<>": .ne, "<": .lt, "<=": .le, ">": .gt, ">=": .ge][op]!
        return .call(name, [try coerce(a, to: t, at: loc), try coerce(b, to: t, at: loc)], .boolean)
    }

    /// An integer literal beside an integer of another type takes that type when
    /// it fits (DuckDB's integer literals): `tinyint_col + 1` stays TINYINT.
    func adoptingType(of other: BoundExpr, _ e: BoundExpr, _ source: Expr) -> BoundExpr {
        guard case .literal(.number(let text)) = source.kind, !text.contains("."), !text.lowercased().contains("e"),
              case .literal(let v, let t) = e, t.isIntegral, other.type.isIntegral, other.type != t,
              let i = v.integer, let range = other.type.integerRange, range.contains(i) else { return e }
        return .literal(other.type.physical == .int128 ? .wide(i) : .int(Int64(i)), other.type)
    }

    func arithmetic(_ op: String, _ a: BoundExpr, _ b: BoundExpr, _ loc: SourceLocation) throws(SQLError) -> BoundExpr {
        var a = a, b = b
        // A string literal next to a date or interval is one of those (`date_col - '1 day'`).
        if a.type == .varchar, a.isConstant, b.type == .date || b.type == .timestamp { a = try coerce(a, to: b.type, at: loc) }
        if b.type == .varchar, b.isConstant, a.type == .date || a.type == .timestamp {
            b = try coerce(b, to: (op == "-" && (try? coerce(b, to: a.type, at: loc)) != nil) ? a.type : .interval, at: loc)
        }
        guard let result = TypeRules.arithmetic(op, a.type, b.type) else {
            throw SQLError.binder("no operator \(a.type) \(op) \(b.type)", loc)
        }
        let name: ScalarFunction = ["+": .add, "-": .subtract, "*": .multiply, "/": .divide, "//": .intDivide, "%": .modulo][op]!
        if result.isNumeric, a.type.isNumeric || a.type == .null, b.type.isNumeric || b.type == .null {
            // Operands are cast to a common type first; the result type may be wider.
            let operandType: DataType
            switch result {
            case .double: operandType = .double
            case .decimal:
                operandType = op == "*" ? result : (TypeRules.common(a.type == .null ? b.type : a.type, b.type == .null ? a.type : b.type) ?? result)
            default: operandType = result
            }
            if op == "*", case .decimal = result {
                // Multiplication keeps each side's own scale; only integers become decimals.
                let la = try coerce(a, to: TypeRules.asDecimal(a.type) ?? (a.type == .null ? .decimal(precision: 18, scale: 0) : a.type), at: loc)
                let lb = try coerce(b, to: TypeRules.asDecimal(b.type) ?? (b.type == .null ? .decimal(precision: 18, scale: 0) : b.type), at: loc)
                return .call(name, [la, lb], result)
            }
            return .call(name, [try coerce(a, to: operandType, at: loc), try coerce(b, to: operandType, at: loc)], result)
        }
        return .call(name, [a, b], result)
    }

    func aggregateKind(_ name: String, star: Bool) -> AggregateKind? {
        switch name {
        case "count": return star ? .countStar : .count
        case "sum": return .sum
        case "avg", "mean": return .avg
        case "min": return .min
        case "max": return .max
        case "stddev", "stddev_samp": return .stddev
        case "stddev_pop": return .stddevPop
        case "variance", "var_samp": return .varianceSamp
        case "var_pop": return .variancePop
        case "median": return .median
        case "bool_and": return .bool_and
        case "bool_or": return .bool_or
        case "any_value", "arbitrary": return .any_value
        case "first": return .first
        case "last": return .last
        case "string_agg", "group_concat", "listagg": return .stringAgg
        case "arg_min", "argmin", "min_by": return .argMin
        case "arg_max", "argmax", "max_by": return .argMax
        case "mode": return .mode
        case "approx_count_distinct": return .approxCountDistinct
        case "quantile_cont": return .quantileCont
        case "quantile_disc", "quantile": return .quantileDisc
        case "covar_pop", "covar_samp", "corr", "regr_slope", "regr_intercept", "regr_count", "regr_r2", "regr_avgx", "regr_avgy",
             "regr_sxx", "regr_syy", "regr_sxy":
            return AggregateKind(rawValue: name)
        default: return nil
        }
    }

    /// `overWindow`: the aggregate of a window function, whose argument may be an aggregate of the groups (`sum(sum(x)) OVER ()`).
    func bindAggregate(_ kind: AggregateKind, name: String, args: [Expr], distinct: Bool, _ scope: Scope, _ loc: SourceLocation,
                       overWindow: Bool = false) throws(SQLError) -> BoundExpr {
        if kind == .countStar { return .aggregate(AggregateCall(kind: .countStar, argument: nil, distinct: false, type: .bigint)) }
        if kind.takesExtra { return try bindTwoArgumentAggregate(kind, name: name, args: args, distinct: distinct, scope, loc, overWindow: overWindow) }
        guard args.count == 1 else { throw SQLError.binder("\(name) takes one argument, not \(args.count)", loc) }
        let arg = try bindExpr(args[0], scope)
        if !overWindow, containsAggregate(arg) { throw SQLError.binder("aggregate function calls cannot be nested", args[0].location) }
        let t = arg.type
        let type: DataType
        var input = arg
        switch kind {
        case .count, .countStar, .approxCountDistinct: type = .bigint
        case .sum:
            switch t {
            case _ where t.isIntegral || t == .null:
                // Every integer sum is a HUGEINT, as in DuckDB; it adds 64-bit inputs into 128 bits.
                type = .hugeint; input = try coerce(arg, to: t.physical == .int128 ? .hugeint : .bigint, at: loc)
            case .double: type = .double
            case .decimal(_, let s): type = .decimal(precision: 38, scale: s)
            default: throw SQLError.binder("sum() needs a number, not \(t)", args[0].location)
            }
        case .avg, .stddev, .stddevPop, .varianceSamp, .variancePop:
            guard t.isNumeric || t == .null else { throw SQLError.binder("\(name)() needs a number, not \(t)", args[0].location) }
            type = .double
        case .median:
            switch t {
            case .decimal, .date, .timestamp: type = t
            case _ where t.isIntegral || t == .double || t == .null: type = .double
            default: throw SQLError.binder("median() needs a number or date, not \(t)", args[0].location)
            }
        case .min, .max, .any_value, .mode, .first, .last: type = t == .null ? .integer : t
        case .bool_and, .bool_or:
            input = try coerce(arg, to: .boolean, at: loc); type = .boolean
        default:
            throw SQLError.binder("\(name) takes two arguments", loc)
        }
        return .aggregate(AggregateCall(kind: kind, argument: input, distinct: distinct, type: type))
    }
}

extension Binder {
    /// string_agg(x [, separator]), arg_min/arg_max(value, key), quantile_cont/quantile_disc(x, fraction).
    func bindTwoArgumentAggregate(_ kind: AggregateKind, name: String, args: [Expr], distinct: Bool, _ scope: Scope, _ loc: SourceLocation,
                                  overWindow: Bool) throws(SQLError) -> BoundExpr {
        let allowed = kind == .stringAgg ? 1...2 : 2...2
        guard allowed.contains(args.count) else { throw SQLError.binder("\(name) takes \(allowed.upperBound) arguments, not \(args.count)", loc) }
        var bound: [BoundExpr] = []
        for a in args {
            let b = try bindExpr(a, scope)
            if !overWindow, containsAggregate(b) { throw SQLError.binder("aggregate function calls cannot be nested", a.location) }
            bound.append(b)
        }
        let value = bound[0]
        switch kind {
        case .stringAgg:
            var separator = BoundExpr.literal(.string(","), .varchar)
            if bound.count == 2 {
                guard case .literal(let v, _) = try ConstantFolder.fold(try coerce(bound[1], to: .varchar, at: args[1].location)), !v.isNull else {
                    throw SQLError.binder("string_agg's separator must be a constant string", args[1].location)
                }
                separator = .literal(v, .varchar)
            }
            return .aggregate(AggregateCall(kind: kind, argument: try coerce(value, to: .varchar, at: args[0].location), distinct: distinct, type: .varchar,
                                            extra: separator))
        case .argMin, .argMax:
            return .aggregate(AggregateCall(kind: kind, argument: value, distinct: false, type: value.type == .null ? .integer : value.type, extra: bound[1]))
        case _ where kind.isPairStatistic:
            for (k, b) in bound.enumerated() where !(b.type.isNumeric || b.type == .null) {
                throw SQLError.binder("\(name)() needs numbers, not \(b.type)", args[k].location)
            }
            return .aggregate(AggregateCall(kind: kind, argument: try coerce(value, to: .double, at: args[0].location), distinct: false,
                                            type: kind == .regrCount ? .bigint : .double, extra: try coerce(bound[1], to: .double, at: args[1].location)))
        default:
            guard case .literal(let v, _) = try ConstantFolder.fold(try coerce(bound[1], to: .double, at: args[1].location)), case .double(let q) = v,
                  q >= 0, q <= 1 else {
                throw SQLError.binder("\(name)'s fraction must be a constant between 0 and 1", args[1].location)
            }
            let type: DataType
            switch value.type {
            case .decimal: type = value.type
            case _ where value.type.isIntegral || value.type == .double || value.type == .null: type = kind == .quantileCont ? .double : (value.type == .null ? .integer : value.type)
            // A discrete quantile picks a value, so anything ordered will do; a continuous one interpolates numbers.
            case .varchar, .date, .timestamp, .boolean:
                guard kind == .quantileDisc else { throw SQLError.binder("\(name)() needs a number, not \(value.type)", args[0].location) }
                type = value.type
            default: throw SQLError.binder("\(name)() needs a number, not \(value.type)", args[0].location)
            }
            return .aggregate(AggregateCall(kind: kind, argument: value, distinct: false, type: type, extra: .literal(.double(q), .double)))
        }
    }
}

/// Interval literal text: `'90' DAY`, `'1 year 2 months'`, `'3 days 04:05:06'`.
enum Intervals {
    static func parse(_ text: String, unit: String?) -> Interval? {
        var words = text.split(separator: " ").map(String.init)
        if let unit { words.append(unit) }
        var out = Interval()
        var i = 0
        while i < words.count {
            let w = words[i]
            if w.contains(":") {
                guard let t = Dates.parseTimestamp("1970-01-01 " + w.trimmingCharacters(in: CharacterSet(charactersIn: "-"))) else { return nil }
                out.micros += w.hasPrefix("-") ? -t : t
                i += 1
                continue
            }
            guard let n = Int64(w), i + 1 < words.count else { return nil }
            var u = words[i + 1].lowercased()
            if u.hasSuffix("s") { u.removeLast() }
            switch u {
            case "year": out.months += Int32(n * 12)
            case "month": out.months += Int32(n)
            case "week": out.days += Int32(n * 7)
            case "day": out.days += Int32(n)
            case "hour": out.micros += n * 3_600_000_000
            case "minute": out.micros += n * 60_000_000
            case "second": out.micros += n * 1_000_000
            default: return nil
            }
            i += 2
        }
        return i == 0 ? nil : out
    }
}

import Foundation
