import Columnar

/// The fallback for correlated subqueries whose predicates cannot be pulled up
/// (an outer reference under a UNION, an outer join's inner side, a window, a
/// select-list expression, a LIMIT with a non-equality correlation): the
/// subquery is computed once for each distinct value of the outer columns it
/// reads (the domain), never once per row. The outer rows are computed once
/// and read twice (a shared plan): their distinct values are joined into the
/// subquery's plan at its leaves and carried up through every operator (as an
/// extra GROUP BY key, PARTITION BY key, UNION column, join key), the outer
/// references becoming references to the domain's columns. The result is the
/// subquery's rows with the domain columns beside them, which the join
/// matches to the outer rows on those values, NULL matching NULL. This is the
/// "dependent join" push-down of Neumann and Kemper's unnesting of arbitrary
/// queries, over the operators this engine plans.
extension Decorrelator {
    /// A flattened subquery: its rows with the domain columns, and what matches them to the outer rows.
    struct Flattened {
        var plan: LogicalPlan
        /// The outer columns the subquery reads, each with its domain column in `plan` and its NULL stand-in.
        var outer: [(column: PlanColumn, domain: PlanColumn, zero: BoundExpr)]

        /// `outer = domain`, NULL matching NULL, as join keys (outer side first).
        var keys: [(BoundExpr, BoundExpr)] {
            outer.flatMap { o in
                Decorrelator.nullSafeKeys(.column(o.column.id, o.column.type), .column(o.domain.id, o.domain.type), zero: o.zero, o.column.type)
            }
        }
        /// The same as equality predicates, which the joins of pulled-up subqueries turn into keys.
        var predicates: [BoundExpr] { keys.map { .call(.eq, [$0, $1], .boolean) } }
    }

    /// The correlated predicates pulled up, or else the subquery flattened over
    /// the domain of `input` (which then becomes the shared outer rows).
    func pullOrFlatten(_ plan: LogicalPlan, what: String, outer input: inout LogicalPlan) throws(SQLError) -> Pulled {
        // Predicates holding subqueries read a query further out: flattening makes them one level deep.
        if let pulled = pullUp(plan), pulled.predicates.allSatisfy({ $0.subqueries.isEmpty }) { return pulled }
        let f = try flatten(plan, what: what, outer: &input)
        return Pulled(plan: f.plan, predicates: f.predicates)
    }

    /// The outer rows computed once for two readers, which read its columns by
    /// position: a projection fixes their order (optimizing the plan below may
    /// reorder a join's sides).
    static func shared(_ input: LogicalPlan) -> SharedPlan {
        SharedPlan(plan: .project(input, input.columns.map { .column($0.id, $0.type) }, columns: input.columns))
    }

    func flatten(_ plan: LogicalPlan, what: String, outer input: inout LogicalPlan) throws(SQLError) -> Flattened {
        let read = plan.freeColumnIDs
        guard read.isSubset(of: Set(input.columns.map(\.id))) else {
            throw SQLError.unsupported("a subquery correlated with a query two or more levels out, or through another subquery", .unknown)
        }
        let outer = input.columns.filter { read.contains($0.id) }
        var zeros: [BoundExpr] = []
        for c in outer {
            guard let zero = Self.zero(c.type) else { throw SQLError.unsupported("a correlated subquery over a \(c.type) outer column of this shape", .unknown) }
            zeros.append(zero)
        }
        let shared = Self.shared(input)
        let dj = DependentJoin(ids: ids, shared: shared, inputColumns: input.columns, outer: outer)
        guard let (flat, domain) = try dj.join(plan) else {
            throw SQLError.unsupported("this correlated \(what) subquery (its outer reference is inside a recursive CTE); rewrite it as a join", .unknown)
        }
        input = .materialized(shared, columns: input.columns)
        // Subqueries inside that read the outer columns now read the domain's, produced below them.
        return Flattened(plan: try rewrite(flat), outer: outer.indices.map { (outer[$0], domain[outer[$0].id]!, zeros[$0]) })
    }
}

/// Pushes the domain of the outer columns down a subquery's plan (see above).
/// Each step returns the plan with the domain columns among its outputs, and
/// which output column carries each outer column.
struct DependentJoin {
    let ids: Optimizer.IDSource
    let shared: SharedPlan
    let inputColumns: [PlanColumn]
    let outer: [PlanColumn]
    var outerIDs: Set<Int> { Set(outer.map(\.id)) }

    typealias Carried = [Int: PlanColumn]

    func fresh(_ c: PlanColumn) -> PlanColumn { PlanColumn(id: ids.next(), name: c.name, table: nil, type: c.type) }

    /// The distinct outer values, read from a fresh reference to the shared outer rows.
    func domain() -> (LogicalPlan, Carried) {
        let again = inputColumns.map(fresh)
        var keys: [BoundExpr] = [], cols: [PlanColumn] = [], carried: Carried = [:]
        for c in outer {
            guard let k = inputColumns.firstIndex(where: { $0.id == c.id }) else { continue }
            keys.append(.column(again[k].id, again[k].type))
            let d = fresh(c)
            cols.append(d); carried[c.id] = d
        }
        return (.aggregate(.materialized(shared, columns: again), groups: keys, aggregates: [], columns: cols), carried)
    }

    func reads(_ plan: LogicalPlan) -> Bool { !plan.freeColumnIDs.isDisjoint(with: outerIDs) }

    /// An expression with the outer columns read from the carried ones (inside its subqueries too).
    func rename(_ e: BoundExpr, _ carried: Carried) -> BoundExpr? {
        e.renamingColumns(carried.mapValues { .column($0.id, $0.type) })
    }
    func rename(_ es: [BoundExpr], _ carried: Carried) -> [BoundExpr]? {
        var out: [BoundExpr] = []
        for e in es { guard let r = rename(e, carried) else { return nil }; out.append(r) }
        return out
    }
    func rename(_ keys: [SortKey], _ carried: Carried) -> [SortKey]? {
        var out: [SortKey] = []
        for k in keys { guard let e = rename(k.expr, carried) else { return nil }; out.append(SortKey(expr: e, ascending: k.ascending, nullsFirst: k.nullsFirst)) }
        return out
    }
    func carriedExprs(_ carried: Carried) -> [BoundExpr] { outer.map { BoundExpr.column(carried[$0.id]!.id, $0.type) } }

    /// `a` and `b`'s carried columns equal, NULL matching NULL, as join keys.
    func sameDomain(_ a: Carried, _ b: Carried) -> [(BoundExpr, BoundExpr)] {
        outer.flatMap { c -> [(BoundExpr, BoundExpr)] in
            guard let x = a[c.id], let y = b[c.id], let zero = Decorrelator.zero(c.type) else { return [] }
            return Decorrelator.nullSafeKeys(.column(x.id, x.type), .column(y.id, y.type), zero: zero, c.type)
        }
    }

    func join(_ plan: LogicalPlan) throws(SQLError) -> (LogicalPlan, Carried)? {
        guard reads(plan) else {
            let (d, carried) = domain()
            return (.join(d, plan, .cross, on: [], residual: nil), carried)
        }
        switch plan {
        case .filter(let input, let e):
            guard let (i, m) = try join(input), let e2 = rename(e, m) else { return nil }
            return (.filter(i, e2), m)
        case .project(let input, let exprs, let cols):
            guard let (i, m) = try join(input), let es = rename(exprs, m) else { return nil }
            let out = outer.map { fresh(m[$0.id]!) }
            var carried: Carried = [:]
            for (c, o) in zip(outer, out) { carried[c.id] = o }
            return (.project(i, es + carriedExprs(m), columns: cols + out), carried)
        case .sort(let input, _):
            return try join(input)   // order inside a subquery matters only under a LIMIT, which keeps it
        case .aggregate(let input, let groups, let aggs, let cols) where groups.isEmpty:
            // Without GROUP BY it has a row even for no input: grouped per domain value, then
            // every domain value LEFT joined to its row (a count of none is 0).
            guard let (i, m) = try join(input) else { return nil }
            var as2: [AggregateCall] = []
            for a in aggs { as2.append(try a.mapExpressions { (e) throws(SQLError) -> BoundExpr in rename(e, m) ?? e }) }
            let keys = outer.map { fresh(m[$0.id]!) }, values = cols.map(fresh)
            var grouped: Carried = [:]
            for (c, k) in zip(outer, keys) { grouped[c.id] = k }
            let perValue = LogicalPlan.aggregate(i, groups: carriedExprs(m), aggregates: as2, columns: keys + values)
            let (d, carried) = domain()
            let joined = LogicalPlan.join(d, perValue, .left, on: sameDomain(carried, grouped), residual: nil)
            var exprs: [BoundExpr] = []
            for (a, v) in zip(aggs, values) {
                let x = BoundExpr.column(v.id, v.type)
                exprs.append(a.kind == .count || a.kind == .countStar ? .call(.coalesce, [x, .literal(.int(0), v.type)], v.type) : x)
            }
            let out = outer.map { fresh(carried[$0.id]!) }
            var result: Carried = [:]
            for (c, o) in zip(outer, out) { result[c.id] = o }
            return (.project(joined, exprs + carriedExprs(carried), columns: cols + out), result)
        case .aggregate(let input, let groups, let aggs, let cols):
            guard let (i, m) = try join(input), let gs = rename(groups, m) else { return nil }
            var as2: [AggregateCall] = []
            for a in aggs {
                var failed = false
                let r = try a.mapExpressions { (e) throws(SQLError) -> BoundExpr in
                    if let x = rename(e, m) { return x }
                    failed = true; return e
                }
                if failed { return nil }
                as2.append(r)
            }
            let out = outer.map { fresh(m[$0.id]!) }
            var carried: Carried = [:]
            for (c, o) in zip(outer, out) { carried[c.id] = o }
            let groupCols = Array(cols.prefix(groups.count)), aggCols = Array(cols.dropFirst(groups.count))
            return (.aggregate(i, groups: gs + carriedExprs(m), aggregates: as2, columns: groupCols + out + aggCols), carried)
        case .limit(let input, let limit, let offset):
            // Per domain value: rows numbered within it (in the ORDER BY's order) and those in range kept.
            var child = input, order: [SortKey] = []
            if case .sort(let c, let k) = input { child = c; order = k }
            guard let (i, m) = try join(child), let keys = rename(order, m) else { return nil }
            let rn = PlanColumn(id: ids.next(), name: "row_number", table: nil, type: .bigint)
            let number = BoundExpr.column(rn.id, .bigint)
            var keep = BoundExpr.call(.gt, [number, .literal(.int(Int64(offset)), .bigint)], .boolean)
            if let limit {
                let (last, overflow) = limit.addingReportingOverflow(offset)
                keep = .call(.and, [keep, .call(.le, [number, .literal(.int(Int64(overflow ? Int.max : last)), .bigint)], .boolean)], .boolean)
            }
            let numbered = LogicalPlan.filter(.window(i, [.rowNumber(partitionBy: carriedExprs(m), orderBy: keys)], columns: [rn]), keep)
            return (.project(numbered, i.columns.map { .column($0.id, $0.type) }, columns: i.columns), m)
        case .window(let input, let calls, let cols):
            guard let (i, m) = try join(input) else { return nil }
            var out: [WindowCall] = []
            for var c in calls {
                guard let args = rename(c.arguments, m), let parts = rename(c.partitionBy, m), let order = rename(c.orderBy, m) else { return nil }
                c.arguments = args; c.partitionBy = parts + carriedExprs(m); c.orderBy = order
                out.append(c)
            }
            return (.window(i, out, columns: cols), m)
        case .union(let inputs, let cols):
            // Each branch carries the domain in the same trailing columns.
            var branches: [LogicalPlan] = []
            for input in inputs {
                guard let (i, m) = try join(input) else { return nil }
                let own = input.columns.map { BoundExpr.column($0.id, $0.type) }
                let passed = input.columns + outer.map { m[$0.id]! }
                branches.append(.project(i, own + carriedExprs(m), columns: passed.map(fresh)))
            }
            let out = outer.map(fresh)
            var carried: Carried = [:]
            for (c, o) in zip(outer, out) { carried[c.id] = o }
            return (.union(branches, columns: cols + out), carried)
        case .join(let l, let r, let kind, let on, let residual):
            return try joinNode(l, r, kind, on, residual)
        case .values(let rows, let cols):
            // `(VALUES (t.a), (t.b))`: each row computed from every domain value, the rows' union.
            let out = outer.map(fresh)
            var branches: [LogicalPlan] = []
            for row in rows {
                let (d, m) = domain()
                guard let exprs = rename(row, m) else { return nil }
                branches.append(.project(d, exprs + carriedExprs(m), columns: (cols + out).map(fresh)))
            }
            var carried: Carried = [:]
            for (c, o) in zip(outer, out) { carried[c.id] = o }
            return (.union(branches, columns: cols + out), carried)
        default:
            return nil   // a recursive CTE reading outer columns
        }
    }

    private func joinNode(_ l: LogicalPlan, _ r: LogicalPlan, _ kind: JoinKind, _ on: [(BoundExpr, BoundExpr)],
                          _ residual: BoundExpr?) throws(SQLError) -> (LogicalPlan, Carried)? {
        let leftReads = reads(l), rightReads = reads(r)
        // Keys that read outer columns become conditions: after renaming, both sides of such a key may be on one side.
        var keys: [(BoundExpr, BoundExpr)] = [], conditions: [BoundExpr] = residual.map(Decorrelator.conjuncts) ?? []
        for (a, b) in on {
            if a.columnIDs.union(b.columnIDs).isDisjoint(with: outerIDs) { keys.append((a, b)) }
            else { conditions.append(.call(.eq, [a, b], .boolean)) }
        }
        switch kind {
        case .inner, .cross:
            // The side that reads the outer columns carries the domain (the left one if both do).
            if !leftReads, rightReads, let (rj, m) = try join(r) {
                guard let cond = rename(conditions, m) else { return nil }
                return (.join(l, rj, kind == .cross && !cond.isEmpty ? .inner : kind, on: keys, residual: Optimizer.conjunction(cond)), m)
            }
            fallthrough
        case .left, .semi, .anti, .single, .mark:
            // The preserved (left) side carries the domain; a right side that reads it too is joined on equal domain values.
            if kind == .mark, rightReads { return nil }   // its mark must stay the right side's last column
            guard let (lj, lm) = try join(l) else { return nil }
            var right = r
            if rightReads {
                guard let (rj, rm) = try join(r) else { return nil }
                right = rj
                keys += sameDomain(lm, rm)
            }
            guard let cond = rename(conditions, lm) else { return nil }
            let k: JoinKind = kind == .cross && (!keys.isEmpty || !cond.isEmpty) ? .inner : kind
            return (.join(lj, right, k, on: keys, residual: Optimizer.conjunction(cond)), lm)
        case .right:
            // The mirror of a LEFT join, its columns put back in order.
            guard let (j, m) = try joinNode(r, l, .left, on.map { ($1, $0) }, residual) else { return nil }
            let order = l.columns + r.columns + outer.map { m[$0.id]! }
            return (.project(j, order.map { .column($0.id, $0.type) }, columns: order), m)
        case .full:
            // Both sides carry the domain, so that an unmatched row of either keeps its value;
            // a marker on the left tells whose domain column a row's value is in.
            guard let (lj, lm) = try join(l), let (rj, rm) = try join(r), let cond = rename(conditions, lm) else { return nil }
            let marker = PlanColumn(id: ids.next(), name: "matched", table: nil, type: .boolean)
            let marked = LogicalPlan.project(lj, lj.columns.map { .column($0.id, $0.type) } + [.literal(.bool(true), .boolean)], columns: lj.columns + [marker])
            let joined = LogicalPlan.join(marked, rj, .full, on: keys + sameDomain(lm, rm), residual: Optimizer.conjunction(cond))
            let out = outer.map { fresh(lm[$0.id]!) }
            var carried: Carried = [:]
            var exprs = (l.columns + r.columns).map { BoundExpr.column($0.id, $0.type) }
            for (c, o) in zip(outer, out) {
                let (a, b) = (lm[c.id]!, rm[c.id]!)
                exprs.append(.caseWhen([.init(condition: .call(.isNotNull, [.column(marker.id, .boolean)], .boolean), result: .column(a.id, a.type))],
                                       otherwise: .column(b.id, b.type), c.type))
                carried[c.id] = o
            }
            return (.project(joined, exprs, columns: l.columns + r.columns + out), carried)
        }
    }
}
