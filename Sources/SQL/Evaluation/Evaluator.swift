public import Columnar

/// Evaluates a bound expression over a batch, a whole column at a time.
/// Expressions given here address columns by position in the batch (the physical
/// planner rewrites ids to positions). Pure: any number of threads may evaluate
/// the same expression on different batches at once.
public enum Evaluator {
    public static func evaluate(_ e: BoundExpr, _ batch: RecordBatch) throws(SQLError) -> Column {
        let n = batch.rowCount
        switch e {
        case .column(let index, _):
            return batch.columns[index]
        case .literal(let v, let t):
            return Column.constant(v, type: t, count: n)
        case .cast(let x, let t):
            return try Cast.column(try evaluate(x, batch), to: t)
        case .call(let name, let args, let t):
            return try call(name, args, t, batch)
        case .caseWhen(let whens, let otherwise, let t):
            return try caseWhen(whens, otherwise, t, batch)
        case .inList(let x, let items, let negated):
            return try inList(x, items, negated, batch)
        case .inSubquery, .scalarSubquery, .subqueryValue, .inSubqueryRows, .exists:
            throw SQLError.execution("internal error: subquery reached the evaluator unplanned")
        case .aggregate, .window:
            throw SQLError.execution("internal error: an aggregate or window function reached the evaluator")
        }
    }

    /// Evaluates a predicate to a selection: true only where the result is TRUE (not NULL).
    public static func select(_ e: BoundExpr, _ batch: RecordBatch) throws(SQLError) -> [Bool] {
        let c = try evaluate(e, batch)
        guard case .bool(let view) = c.data else {
            if case .null = c.type { return [Bool](repeating: false, count: batch.rowCount) }
            throw SQLError.execution("internal error: predicate is not BOOLEAN")
        }
        var a = view.array
        if let v = c.validity { for i in 0..<a.count where !v[i] { a[i] = false } }
        return a
    }

    static func call(_ name: ScalarFunction, _ args: [BoundExpr], _ t: DataType, _ batch: RecordBatch) throws(SQLError) -> Column {
        guard name.arity.contains(args.count) else {
            throw SQLError.execution("\(name.rawValue)() was given \(args.count) arguments")
        }
        switch name {
        case .and, .or:
            return try Logic.andOr(name == .and, try evaluate(args[0], batch), try evaluate(args[1], batch))
        case .not:
            return Logic.not(try evaluate(args[0], batch))
        case .isNull, .isNotNull:
            let c = try evaluate(args[0], batch)
            let wantNull = name == .isNull
            let out = (0..<c.count).map { c.isNull($0) == wantNull }
            return Column(type: .boolean, data: .bool(out))
        case .eq, .ne, .lt, .le, .gt, .ge:
            // Constant right-hand sides are compared without materializing them.
            if case .literal(let v, let lt) = args[1] {
                return try Compare.scalar(name, try evaluate(args[0], batch), v, lt)
            }
            if case .literal(let v, let lt) = args[0] {
                return try Compare.scalar(name.flipped, try evaluate(args[1], batch), v, lt)
            }
            return try Compare.columns(name, try evaluate(args[0], batch), try evaluate(args[1], batch))
        case .isDistinct, .isNotDistinct:
            let a = try evaluate(args[0], batch), b = try evaluate(args[1], batch)
            let eq = try Compare.columns(.eq, a, b)
            guard case .bool(let e) = eq.data else { throw SQLError.execution("internal error: a comparison gave no booleans") }
            let same = (0..<a.count).map { i -> Bool in
                let an = a.isNull(i), bn = b.isNull(i)
                return an || bn ? an == bn : e[i]
            }
            return Column(type: .boolean, data: .bool(name == .isDistinct ? same.map { !$0 } : same))
        case .add, .subtract, .multiply, .divide, .intDivide, .modulo:
            return try Arithmetic.binary(name, try evaluate(args[0], batch), try evaluate(args[1], batch), t)
        case .negate:
            return try Arithmetic.negate(try evaluate(args[0], batch))
        case .coalesce:
            var result = try evaluate(args[0], batch)
            for a in args.dropFirst() where result.validity != nil {
                let next = try evaluate(a, batch)
                result = Select.merge(result, next, takeSecond: (0..<result.count).map { result.isNull($0) })
            }
            return result
        case .nullif:
            let a = try evaluate(args[0], batch)
            let eq = try Compare.columns(.eq, a, try evaluate(args[1], batch))
            guard case .bool(let e) = eq.data else { throw SQLError.execution("internal error: a comparison gave no booleans") }
            var v = a.validity ?? Bitmap(count: a.count, allSet: true)
            for i in 0..<a.count where e[i] && !eq.isNull(i) { v[i] = false }
            return Column(type: a.type, data: a.data, validity: v)
        case .greatest, .least:
            var result = try evaluate(args[0], batch)
            for a in args.dropFirst() {
                let next = try evaluate(a, batch)
                let cmp = try Compare.columns(name == .greatest ? .gt : .lt, next, result)
                guard case .bool(let better) = cmp.data else { throw SQLError.execution("internal error: a comparison gave no booleans") }
                // NULLs are skipped, as in DuckDB.
                let take = (0..<next.count).map { i in !next.isNull(i) && (result.isNull(i) || better[i]) }
                result = Select.merge(result, next, takeSecond: take)
            }
            return result
        case .abs, .round, .floor, .ceil, .trunc, .sqrt, .ln, .log10, .log2, .exp, .power:
            var cols: [Column] = []
            for a in args { cols.append(try evaluate(a, batch)) }
            return try Arithmetic.math(name, cols, t)
        case .grouping:
            throw SQLError.execution("grouping() is only allowed in a query with GROUP BY")
        case .hash:
            // An intended difference from DuckDB: the engine's own 64-bit hash (the one joins use), as a BIGINT.
            var hashes = [UInt64](repeating: 0, count: batch.rowCount)
            for (k, a) in args.enumerated() { try evaluate(a, batch).hash(into: &hashes, combine: k > 0) }
            return Column(type: .bigint, data: .int64(hashes.map { Int64(bitPattern: $0) }))
        case .lpad, .rpad, .splitPart, .makeDate, .lastDay, .strftime, .strptime, .tryStrptime, .timestampFromMillis, .md5, .sha256, .hex:
            var cols: [Column] = []
            for a in args { cols.append(try evaluate(a, batch)) }
            return try RowKernels.evaluate(name, cols, t, rows: batch.rowCount)
        case .regexpMatches, .regexpFullMatch, .regexpReplace, .regexpExtract:
            var cols: [Column] = []
            for a in args { cols.append(try evaluate(a, batch)) }
            return try RegexKernels.call(name, cols, t, rows: batch.rowCount)
        case .tryCast:
            let c = try evaluate(args[0], batch)
            if let all = try? Cast.column(c, to: t) { return all }
            // Some value does not convert: each on its own, those NULL.
            var b = ColumnBuilder(type: t, capacity: batch.rowCount)
            for i in 0..<batch.rowCount {
                let one = Column.constant(c.value(at: i), type: c.type, count: 1)
                b.append((try? Cast.column(one, to: t))?.value(at: 0) ?? .null)
            }
            return b.finish()
        case .typeof:
            guard case .literal(let v, _) = args[1] else { throw SQLError.execution("typeof() needs its type name as a constant") }
            return Column.constant(v, type: .varchar, count: batch.rowCount)
        case .currentDate:
            return Column.constant(.int(Int64(SessionClock.today())), type: .date, count: batch.rowCount)
        case .currentTimestamp:
            return Column.constant(.int(SessionClock.nowMicros()), type: .timestamp, count: batch.rowCount)
        case .datePart where !args[0].isConstant:
            // date_part(part_column, d): each row's own part, as a DOUBLE (DuckDB's type for it).
            return try DateKernels.partsByRow(try evaluate(args[0], batch), try evaluate(args[1], batch))
        case .datePart, .dateTrunc, .dateDiff, .dateSub:
            var cols: [Column] = []
            for a in args.dropFirst() { cols.append(try evaluate(a, batch)) }
            guard case .literal(.string(let part), _) = args[0] else { throw SQLError.execution("date part must be constant") }
            return try DateKernels.call(name, part, cols, t)
        case .upper, .lower, .length, .strlen, .trim, .ltrim, .rtrim, .concat, .replace, .substring, .left, .right, .strpos,
             .startsWith, .endsWith, .contains, .like, .ilike, .repeatString, .reverse:
            var cols: [Column] = []
            for a in args { cols.append(try evaluate(a, batch)) }
            return try StringKernels.call(name, cols, args, batch.rowCount)
        }
    }

    static func caseWhen(_ whens: [BoundExpr.When], _ otherwise: BoundExpr?, _ t: DataType, _ batch: RecordBatch) throws(SQLError) -> Column {
        // Each branch is evaluated only on the rows that reach it, so a branch that
        // would fail (a cast, a division) on rows it does not cover never runs on them.
        var remaining = (0..<batch.rowCount).map { Int32($0) }
        var parts: [Column] = []
        var owner = [Int32](repeating: -1, count: batch.rowCount)   // part index per row
        var position = [Int32](repeating: 0, count: batch.rowCount)
        var current = batch
        for w in whens where !remaining.isEmpty {
            let sel = try select(w.condition, current)
            var hit: [Int32] = [], miss: [Int32] = [], hitLocal: [Int32] = [], missLocal: [Int32] = []
            for (k, s) in sel.enumerated() {
                if s { hit.append(remaining[k]); hitLocal.append(Int32(k)) } else { miss.append(remaining[k]); missLocal.append(Int32(k)) }
            }
            if !hit.isEmpty {
                let values = try evaluate(w.result, hit.count == current.rowCount ? current : current.gather(hitLocal))
                for (j, row) in hit.enumerated() { owner[Int(row)] = Int32(parts.count); position[Int(row)] = Int32(j) }
                parts.append(values)
            }
            current = miss.count == current.rowCount ? current : current.gather(missLocal)
            remaining = miss
        }
        if !remaining.isEmpty {
            let values = try otherwise.map { (e) throws(SQLError) in try evaluate(e, current) } ?? Column.constant(.null, type: t, count: remaining.count)
            for (j, row) in remaining.enumerated() { owner[Int(row)] = Int32(parts.count); position[Int(row)] = Int32(j) }
            parts.append(values)
        }
        if parts.count == 1 { return Cast.retype(parts[0], t) }
        var offsets: [Int32] = [0]
        for p in parts { offsets.append(offsets.last! + Int32(p.count)) }
        let all = Column.concat(parts.map { Cast.retype($0, t) }, type: t)
        return all.gather((0..<batch.rowCount).map { offsets[Int(owner[$0])] + position[$0] })
    }

    static func inList(_ x: BoundExpr, _ items: [BoundExpr], _ negated: Bool, _ batch: RecordBatch) throws(SQLError) -> Column {
        let value = try evaluate(x, batch)
        let constants = items.compactMap { e -> Value? in if case .literal(let v, _) = e { return v }; return nil }
        var result: Column
        if constants.count == items.count, items.count > 8 {
            // Large constant lists (IN subqueries become these): one hash lookup per row.
            let set = Set(constants.filter { !$0.isNull })
            let hasNull = constants.contains { $0.isNull }
            var out = [Bool](repeating: false, count: value.count)
            var valid = Bitmap(count: value.count, allSet: true)
            for i in 0..<value.count {
                if value.isNull(i) { valid[i] = false; continue }
                if set.contains(value.value(at: i)) { out[i] = true } else if hasNull { valid[i] = false }
            }
            result = Column(type: .boolean, data: .bool(out), validity: valid)
        } else {
            result = Column(type: .boolean, data: .bool([Bool](repeating: false, count: value.count)))
            for item in items {
                let eq: Column
                if case .literal(let v, let t) = item { eq = try Compare.scalar(.eq, value, v, t) }
                else { eq = try Compare.columns(.eq, value, try evaluate(item, batch)) }
                result = try Logic.andOr(false, result, eq)
            }
        }
        return negated ? Logic.not(result) : result
    }
}

/// The clock `current_date` reads; fixed per process start so one query sees one date.
public enum SessionClock {
    public static func nowMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }
    public static func today() -> Int32 { Int32(nowMicros() / Dates.microsPerDay) }
}

/// Row-wise choice between two columns of one type.
enum Select {
    static func merge(_ a: Column, _ b: Column, takeSecond: [Bool]) -> Column {
        let t = a.type
        let both = Column.concat([Cast.retype(a, t), Cast.retype(b, t)], type: t)
        let n = a.count
        return both.gather((0..<n).map { takeSecond[$0] ? Int32(n + $0) : Int32($0) })
    }
}

import Foundation
