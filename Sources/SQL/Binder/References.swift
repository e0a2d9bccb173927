/// Counts how often each table name is referenced in a query, subqueries
/// included (the binder shares the result of a CTE referenced more than once).
public enum References {
    static func count(in q: Query) -> [String: Int] {
        var found = Found()
        visit(q, &found)
        return found.counts
    }

    /// The tables a query reads by name that it does not define itself (its
    /// CTEs, at any depth), lowercased, each with where it first appears:
    /// what a pipeline model depends on.
    public static func external(in q: Query) -> [(name: String, at: SourceLocation)] {
        var found = Found()
        visit(q, &found)
        return found.order.filter { !found.ctes.contains($0) }.map { ($0, found.firstAt[$0] ?? .unknown) }
    }

    struct Found {
        var counts: [String: Int] = [:]
        var order: [String] = []
        var firstAt: [String: SourceLocation] = [:]
        var ctes: Set<String> = []

        mutating func add(_ name: String, _ at: SourceLocation) {
            let key = name.lowercased()
            if counts[key] == nil { order.append(key); firstAt[key] = at }
            counts[key, default: 0] += 1
        }
    }

    static func visit(_ q: Query, _ c: inout Found) {
        for cte in q.ctes { c.ctes.insert(cte.name.lowercased()); visit(cte.query, &c) }
        visit(q.body, &c)
        for o in q.orderBy { visit(o.expr, &c) }
    }

    static func visit(_ b: QueryBody, _ c: inout Found) {
        switch b {
        case .select(let core):
            if let f = core.from { visit(f, &c) }
            for item in core.items { if case .expr(let e, _) = item { visit(e, &c) } }
            for e in [core.filter, core.having].compactMap({ $0 }) + core.groupBy { visit(e, &c) }
        case .values(let rows): for r in rows { for e in r { visit(e, &c) } }
        case .query(let q): visit(q, &c)
        case .setOperation(let op): visit(op.left, &c); visit(op.right, &c)
        }
    }

    static func visit(_ t: TableRef, _ c: inout Found) {
        switch t {
        case .named(let n, _, let at): c.add(n, at)
        case .path, .function: break
        case .subquery(let q, _): visit(q, &c)
        case .join(let l, let r, _, let on, _): visit(l, &c); visit(r, &c); if let on { visit(on, &c) }
        case .renamed(let inner, _, _): visit(inner, &c)
        }
    }

    static func visit(_ e: Expr, _ c: inout Found) {
        switch e.kind {
        case .column, .literal: break
        case .unary(_, let x), .cast(let x, _), .tryCast(let x, _), .isNull(let x, _), .extract(_, let x): visit(x, &c)
        case .binary(_, let l, let r), .isDistinctFrom(let l, let r, _): visit(l, &c); visit(r, &c)
        case .like(let l, let r, _, _, let e): visit(l, &c); visit(r, &c); if let e { visit(e, &c) }
        case .function(_, let args, _, _), .listLiteral(let args): for a in args { visit(a, &c) }
        case .orderedAggregate(let f, let order): visit(f, &c); for o in order { visit(o.expr, &c) }
        case .window(_, let args, _, _, let w):
            for a in args + w.partitionBy + w.orderBy.map(\.expr) { visit(a, &c) }
        case .caseWhen(let op, let whens, let other):
            if let op { visit(op, &c) }
            for (w, t) in whens { visit(w, &c); visit(t, &c) }
            if let other { visit(other, &c) }
        case .inList(let x, let items, _): visit(x, &c); for i in items { visit(i, &c) }
        case .inSubquery(let x, let q, _): visit(x, &c); visit(q, &c)
        case .scalarSubquery(let q), .exists(let q, _): visit(q, &c)
        case .between(let x, let lo, let hi, _): visit(x, &c); visit(lo, &c); visit(hi, &c)
        case .structLiteral(let fields): for (_, v) in fields { visit(v, &c) }
        }
    }
}
