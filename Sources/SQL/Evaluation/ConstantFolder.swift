import Columnar

/// Evaluates constant subexpressions once, at plan time.
public enum ConstantFolder {
    static let oneRow = RecordBatch(schema: Schema([]), columns: [], rowCount: 1)

    /// Folds `e` bottom-up; errors in constants (1 // 0, a bad date) surface here.
    public static func fold(_ e: BoundExpr) throws(SQLError) -> BoundExpr {
        if case .literal = e { return e }
        if case .aggregate(let a) = e { return .aggregate(try a.mapExpressions(fold)) }
        // A failing constant below the root stays unfolded: it may sit in a branch that
        // never runs (CASE WHEN true THEN 1 ELSE 1 // 0 END); the root's own error is real.
        let folded = try e.mapChildren { (c) throws(SQLError) in (try? fold(c)) ?? c }
        guard folded.isConstant, !isVolatile(folded) else { return simplify(folded) }
        let c = try Evaluator.evaluate(folded, oneRow)
        return .literal(c.value(at: 0), folded.type)
    }

    static func isVolatile(_ e: BoundExpr) -> Bool {
        if case .call(.currentTimestamp, _, _) = e { return true }
        return e.children.contains(where: isVolatile)
    }

    /// Boolean identities that let filters vanish (TRUE AND x = x, FALSE OR x = x),
    /// and DATE columns compared with TIMESTAMP constants (`d < date '1995-01-01' +
    /// interval '1' year`) compared as dates, without a cast per row.
    static func simplify(_ e: BoundExpr) -> BoundExpr {
        if case .call(let op, let args, let t) = e, op.isComparison, args.count == 2,
           case .cast(let x, .timestamp) = args[0], x.type == .date, case .literal(.int(let ts), .timestamp) = args[1] {
            var day = ts / Dates.microsPerDay
            if ts % Dates.microsPerDay < 0 { day -= 1 }
            let midnight = day * Dates.microsPerDay == ts
            let d = BoundExpr.literal(.int(day), .date)
            switch (op, midnight) {
            case (_, true): return .call(op, [x, d], t)
            case (.lt, false), (.le, false): return .call(.le, [x, d], t)   // x < 10:00 on day D: x <= D
            case (.gt, false), (.ge, false): return .call(.gt, [x, d], t)
            default: return e
            }
        }
        guard case .call(let n, let args, _) = e, n == .and || n == .or, args.count == 2 else { return e }
        for (k, other) in [(0, 1), (1, 0)] {
            if case .literal(.bool(let b), _) = args[k] {
                if n == .and { return b ? args[other] : .literal(.bool(false), .boolean) }
                return b ? .literal(.bool(true), .boolean) : args[other]
            }
        }
        return e
    }

    /// A cast, evaluated now when its input is constant (so errors point at the literal).
    static func castIfConstant(_ e: BoundExpr, to t: DataType, at loc: SourceLocation) throws(SQLError) -> BoundExpr {
        if e.type == t { return e }
        let cast = BoundExpr.cast(e, t)
        guard e.isConstant else { return cast }
        do { return try fold(cast) } catch {
            if case .execution(let m) = error { throw SQLError.binder(m, loc) }
            throw error
        }
    }
}
