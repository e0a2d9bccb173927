import Columnar

/// Turns subqueries that read columns of their enclosing query (correlated)
/// into joins, so that none runs once per outer row:
///
/// - `EXISTS`, `NOT EXISTS` and `x IN (...)` standing alone in a WHERE or
///   HAVING conjunct become SEMI and ANTI joins;
/// - anywhere else (under OR or NOT, in the select list, `NOT IN`) they
///   become MARK joins, whose BOOLEAN keeps SQL's three-valued answer;
/// - a scalar subquery over an aggregate without GROUP BY becomes that
///   aggregate grouped by the correlated columns, LEFT joined (a count of no
///   rows is 0, not NULL); any other scalar subquery a SINGLE join.
///
/// The correlated predicates are pulled up out of the subquery (through
/// filters, projections, inner joins, sorts and aggregates) to become the
/// join's keys (`outer = inner`) and condition. A shape they cannot be pulled
/// out of (under a UNION, an outer join's inner side, a window) is computed
/// once per distinct outer value instead (Decorrelator+Domain.swift), never
/// once per row; what even that cannot handle is refused with a clear error. A LIMIT over correlated rows
/// becomes a row_number() per correlation key. Uncorrelated `EXISTS` becomes a
/// count of at most one row, run once.
struct Decorrelator {
    let ids: Optimizer.IDSource

    /// What pulling the correlated predicates out of a subquery's plan leaves:
    /// `plan` reads nothing from outside, and each outer row's subquery rows
    /// are the rows of `plan` for which all `predicates` hold.
    struct Pulled {
        var plan: LogicalPlan
        var predicates: [BoundExpr]
        /// Set when the plan's top is an aggregate without GROUP BY that the pull
        /// grouped by the correlated columns: its columns' values when no row
        /// matched (0 for counts, else NULL) must be supplied after the join.
        var grouplessAggregate: [Int: BoundExpr]? = nil
    }

    func rewrite(_ plan: LogicalPlan) throws(SQLError) -> LogicalPlan {
        try plan.transformUp { (p) throws(SQLError) -> LogicalPlan in
            var found: [BoundExpr] = []
            _ = try p.mapExpressions { (e) throws(SQLError) in found.append(e); return e }
            let subs = found.flatMap(\.subqueries)
            guard !subs.isEmpty else { return p }
            // Inner levels first: a subquery's own subqueries become joins inside its plan.
            for s in subs { s.plan = try rewrite(s.plan) }
            switch p {
            case .filter(let input, let e): return try filter(input, e)
            case .project(let input, let exprs, let cols):
                var current = input
                var replaced: [ObjectIdentifier: BoundExpr] = [:]
                var out: [BoundExpr] = []
                for e in exprs { out.append(try replaceSubqueries(e, over: &current, replaced: &replaced)) }
                return .project(current, out, columns: cols)
            case .aggregate(let input, let groups, let aggs, let cols):
                // sum((SELECT ...)): the subqueries are joined below the aggregate, which reads their values.
                var current = input
                var replaced: [ObjectIdentifier: BoundExpr] = [:]
                var newGroups: [BoundExpr] = [], newAggs: [AggregateCall] = []
                for g in groups { newGroups.append(try replaceSubqueries(g, over: &current, replaced: &replaced)) }
                for a in aggs { newAggs.append(try a.mapExpressions { (e) throws(SQLError) in try replaceSubqueries(e, over: &current, replaced: &replaced) }) }
                return .aggregate(current, groups: newGroups, aggregates: newAggs, columns: cols)
            default:
                if subs.contains(where: { isCorrelated($0) || isExists($0, in: found) }) {
                    throw SQLError.unsupported("a correlated or EXISTS subquery here (in a join condition or ORDER BY); move it to WHERE or the select list", .unknown)
                }
                return p
            }
        }
    }

    func isCorrelated(_ s: Subquery) -> Bool { !s.plan.freeColumnIDs.isEmpty }

    /// Whether `s` reads columns of a query further out than `input`'s: left as it is, so that
    /// the enclosing subquery is flattened over those columns' domain, which makes it one level deep.
    func reachesFurther(_ s: Subquery, _ input: LogicalPlan) -> Bool {
        !s.plan.freeColumnIDs.isSubset(of: Set(input.columns.map(\.id)))
    }

    func isExists(_ s: Subquery, in exprs: [BoundExpr]) -> Bool {
        func walk(_ e: BoundExpr) -> Bool {
            if case .exists(let x, _) = e, x == s { return true }
            return e.children.contains(where: walk)
        }
        return exprs.contains(where: walk)
    }

    // MARK: where subqueries stand

    /// A filter: conjuncts that are a lone EXISTS or IN become semi and anti joins, the rest keep their place.
    func filter(_ input: LogicalPlan, _ e: BoundExpr) throws(SQLError) -> LogicalPlan {
        var current = input
        var kept: [BoundExpr] = []
        var replaced: [ObjectIdentifier: BoundExpr] = [:]
        for c in Decorrelator.conjuncts(e) {
            switch c {
            case .exists(let s, _) where reachesFurther(s, current), .inSubquery(_, let s, _) where reachesFurther(s, current):
                kept.append(c); continue   // the enclosing level's rewrite takes it
            case .exists(let s, let negated) where isCorrelated(s):
                if let joined = try semiJoin(current, s, in: nil, kind: negated ? .anti : .semi) { current = joined; continue }
            case .call(.not, let args, _):
                if case .exists(let s, let negated) = args[0], isCorrelated(s),
                   let joined = try semiJoin(current, s, in: nil, kind: negated ? .semi : .anti) { current = joined; continue }
            case .inSubquery(let x, let s, false) where isCorrelated(s):
                if let joined = try semiJoin(current, s, in: x, kind: .semi) { current = joined; continue }
            default: break
            }
            kept.append(try replaceSubqueries(c, over: &current, replaced: &replaced))
        }
        var out = current
        if let cond = Optimizer.conjunction(kept) { out = .filter(out, cond) }
        // Joins may have added columns; the filter's output is its input's.
        if out.columns.map(\.id) != input.columns.map(\.id) {
            out = .project(out, input.columns.map { .column($0.id, $0.type) }, columns: input.columns)
        }
        return out
    }

    /// The AND-ed parts as written. Not `Optimizer.conjuncts`, which also factors
    /// ORs: an EXISTS inside an OR must stay there (a MARK join, not a SEMI one).
    static func conjuncts(_ e: BoundExpr) -> [BoundExpr] {
        if case .call(.and, let args, _) = e { return args.flatMap(conjuncts) }
        return [e]
    }

    /// `e` with its correlated subqueries (and every EXISTS) replaced by columns
    /// of joins added to `input`. A subquery met twice (BETWEEN repeats its
    /// operand) is joined once.
    func replaceSubqueries(_ e: BoundExpr, over input: inout LogicalPlan, replaced: inout [ObjectIdentifier: BoundExpr]) throws(SQLError) -> BoundExpr {
        switch e {
        case .exists(let s, _) where reachesFurther(s, input), .inSubquery(_, let s, _) where reachesFurther(s, input),
             .scalarSubquery(let s, _) where reachesFurther(s, input):
            return e
        case .exists(let s, let negated):
            if let r = replaced[ObjectIdentifier(s)] { return negated ? .call(.not, [r], .boolean) : r }
            let r: BoundExpr
            if isCorrelated(s) {
                r = try markJoin(&input, s, in: nil)
            } else {
                r = uncorrelatedExists(s)
            }
            replaced[ObjectIdentifier(s)] = r
            return negated ? .call(.not, [r], .boolean) : r
        case .inSubquery(let x, let s, let negated) where isCorrelated(s):
            let r: BoundExpr
            if let known = replaced[ObjectIdentifier(s)] { r = known } else {
                let x2 = try replaceSubqueries(x, over: &input, replaced: &replaced)
                r = try markJoin(&input, s, in: x2)
                replaced[ObjectIdentifier(s)] = r
            }
            return negated ? .call(.not, [r], .boolean) : r
        case .scalarSubquery(let s, _) where isCorrelated(s):
            if let r = replaced[ObjectIdentifier(s)] { return r }
            let r = try scalarJoin(&input, s)
            replaced[ObjectIdentifier(s)] = r
            return r
        default:
            return try e.mapChildren { (c) throws(SQLError) in try replaceSubqueries(c, over: &input, replaced: &replaced) }
        }
    }

    /// EXISTS of a subquery that reads nothing from outside: whether it has a row, counted once.
    func uncorrelatedExists(_ s: Subquery) -> BoundExpr {
        let count = PlanColumn(id: ids.next(), name: "count_star", table: nil, type: .bigint)
        let plan = LogicalPlan.aggregate(.limit(s.plan, limit: 1, offset: 0), groups: [],
                                         aggregates: [AggregateCall(kind: .countStar, argument: nil, distinct: false, type: .bigint)], columns: [count])
        let sub = Subquery(id: -ids.next(), plan: plan)
        return .call(.gt, [.scalarSubquery(sub, .bigint), .literal(.int(0), .bigint)], .boolean)
    }

    // MARK: the joins

    /// `input` SEMI or ANTI joined with a correlated subquery (of `x IN`, when `x` is given); nil when it does not fit.
    func semiJoin(_ input: LogicalPlan, _ s: Subquery, in x: BoundExpr?, kind: JoinKind) throws(SQLError) -> LogicalPlan? {
        let core = x == nil ? Decorrelator.existenceCore(s.plan) : s.plan
        var input = input
        let pulled = try pullOrFlatten(core, what: x == nil ? "EXISTS" : "IN", outer: &input)
        guard pulled.grouplessAggregate == nil else { return nil }   // one row always: not a plain semi join
        var (keys, rest) = try split(pulled, outer: input)
        if let x {
            let y = s.plan.columns[0]
            keys.append((x, .column(y.id, y.type)))
        }
        return .join(input, pulled.plan, kind, on: keys, residual: Optimizer.conjunction(rest))
    }

    /// Adds a MARK join for EXISTS (x nil) or `x IN` to `input`; returns the mark.
    func markJoin(_ input: inout LogicalPlan, _ s: Subquery, in x: BoundExpr?) throws(SQLError) -> BoundExpr {
        let core = x == nil ? Decorrelator.existenceCore(s.plan) : s.plan
        let what = x == nil ? "EXISTS" : "IN"
        let pulled = try pullOrFlatten(core, what: what, outer: &input)
        guard pulled.grouplessAggregate == nil else {
            throw SQLError.unsupported("a correlated \(what) over an aggregate without GROUP BY", .unknown)
        }
        let (keys, rest) = try split(pulled, outer: input)
        // The mark is TRUE for a row that matches with the condition TRUE, NULL for one where it is NULL.
        var condition: BoundExpr? = nil
        if let x {
            let y = s.plan.columns[0]
            condition = .call(.eq, [x, .column(y.id, y.type)], .boolean)
        }
        if let filter = Optimizer.conjunction(rest) {
            condition = .caseWhen([.init(condition: filter, result: condition ?? .literal(.bool(true), .boolean))],
                                  otherwise: .literal(.bool(false), .boolean), .boolean)
        }
        let mark = PlanColumn(id: ids.next(), name: "mark", table: nil, type: .boolean)
        let right = LogicalPlan.project(pulled.plan, pulled.plan.columns.map { .column($0.id, $0.type) } + [.literal(.null, .boolean)],
                                        columns: pulled.plan.columns + [mark])
        input = .join(input, right, .mark, on: keys, residual: condition)
        return .column(mark.id, .boolean)
    }

    /// Adds the join that computes a correlated scalar subquery to `input`; returns its value.
    func scalarJoin(_ input: inout LogicalPlan, _ s: Subquery) throws(SQLError) -> BoundExpr {
        // An aggregate without GROUP BY under the select list: grouped by the
        // correlated columns, one row per key, the select list applied after
        // the join (a key without rows gets what the aggregate gives for none).
        var top = s.plan
        while true {
            if case .project(let p, _, _) = top { top = p; continue }
            if case .sort(let p, _) = top { top = p; continue }
            break
        }
        if case .aggregate(let below, let groups, let aggs, let cols) = top, groups.isEmpty {
            // A correlation that is not an equality (`u.d < t.d`): computed for each distinct outer value instead.
            guard let pulled = pullUp(top) else { return try flattenedAggregate(&input, s, below, aggs, cols) }
            let (keys, rest) = try split(pulled, outer: input)
            guard rest.isEmpty, let defaults = pulled.grouplessAggregate else {
                throw SQLError.unsupported("a correlated scalar subquery over an aggregate whose correlation is not an equality", .unknown)
            }
            input = .join(input, pulled.plan, .left, on: keys, residual: nil)
            return try Decorrelator.valueOverNoRows(s.plan, defaults)
        }
        let pulled = try pullOrFlatten(s.plan, what: "scalar", outer: &input)
        let (keys, rest) = try split(pulled, outer: input)
        let value = s.plan.columns[0]
        input = .join(input, pulled.plan, .single, on: keys, residual: Optimizer.conjunction(rest))
        return .column(value.id, value.type)
    }

    /// A scalar subquery over an aggregate without GROUP BY whose correlation is not
    /// an equality (`SELECT sum(u.x) FROM u WHERE u.d <= t.d`, running totals) or cannot
    /// be pulled up: its input flattened over the outer rows' domain, aggregated per
    /// domain value, LEFT joined back on those values, NULL matching NULL (a domain
    /// value without rows gets what the aggregate gives for none).
    func flattenedAggregate(_ input: inout LogicalPlan, _ s: Subquery, _ aggInput: LogicalPlan, _ aggs: [AggregateCall],
                            _ cols: [PlanColumn]) throws(SQLError) -> BoundExpr {
        let f = try flatten(aggInput, what: "scalar", outer: &input)
        let keys = f.outer.map { PlanColumn(id: ids.next(), name: $0.domain.name, table: nil, type: $0.domain.type) }
        let grouped = LogicalPlan.aggregate(f.plan, groups: f.outer.map { .column($0.domain.id, $0.domain.type) }, aggregates: aggs, columns: keys + cols)
        var back = f
        for k in back.outer.indices { back.outer[k].domain = keys[k] }
        input = .join(input, grouped, .left, on: back.keys, residual: nil)
        return try Decorrelator.valueOverNoRows(s.plan, Self.countsOfNoRows(aggs, cols))
    }

    /// Where a LEFT join found no row for an aggregate without GROUP BY: its counts read as 0 (the others stay NULL).
    static func countsOfNoRows(_ aggs: [AggregateCall], _ cols: [PlanColumn]) -> [Int: BoundExpr] {
        var defaults: [Int: BoundExpr] = [:]
        for (a, c) in zip(aggs, cols) where a.kind == .count || a.kind == .countStar {
            defaults[c.id] = .call(.coalesce, [.column(c.id, c.type), .literal(.int(0), c.type)], c.type)
        }
        return defaults
    }

    /// `a` and `b` equal with NULL matching NULL, as two equality join keys:
    /// `(a IS NULL, b IS NULL)` and `(coalesce(a, zero), coalesce(b, zero))`.
    static func nullSafeKeys(_ a: BoundExpr, _ b: BoundExpr, zero: BoundExpr, _ t: DataType) -> [(BoundExpr, BoundExpr)] {
        [(.call(.isNull, [a], .boolean), .call(.isNull, [b], .boolean)), (.call(.coalesce, [a, zero], t), .call(.coalesce, [b, zero], t))]
    }

    /// A value of `t` to stand for NULL in a join key beside an `IS NULL` key.
    static func zero(_ t: DataType) -> BoundExpr? {
        switch t {
        case .tinyint, .smallint, .integer, .bigint, .utinyint, .usmallint, .uinteger, .date, .timestamp: return .literal(.int(0), t)
        case .hugeint, .ubigint: return .literal(.wide(0), t)
        case .decimal(let p, _): return .literal(p <= 18 ? .int(0) : .wide(0), t)
        case .double: return .literal(.double(0), t)
        case .varchar: return .literal(.string(""), t)
        case .boolean: return .literal(.bool(false), t)
        case .interval, .null: return nil
        }
    }

    /// The scalar subquery's value over the aggregate's columns (its select
    /// list), counts read as 0 where the left join found no row.
    static func valueOverNoRows(_ plan: LogicalPlan, _ defaults: [Int: BoundExpr]) throws(SQLError) -> BoundExpr {
        var value = BoundExpr.column(plan.columns[0].id, plan.columns[0].type)
        var node = plan
        while true {
            if case .sort(let input, _) = node { node = input; continue }
            guard case .project(let input, let exprs, let cols) = node else { break }
            var map: [Int: BoundExpr] = [:]
            for (c, e) in zip(cols, exprs) { map[c.id] = e }
            value = value.renamingColumns(map)
            node = input
        }
        return value.renamingColumns(defaults)
    }

    /// What decides whether a subquery has rows: its plan without the select
    /// list, ORDER BY, a LIMIT of one or more and a DISTINCT.
    static func existenceCore(_ plan: LogicalPlan) -> LogicalPlan {
        switch plan {
        case .project(let p, _, _), .sort(let p, _): return existenceCore(p)
        case .limit(let p, let l, 0) where (l ?? 1) >= 1: return existenceCore(p)
        case .aggregate(let p, let g, let a, _) where a.isEmpty && !g.isEmpty: return existenceCore(p)
        default: return plan
        }
    }

    /// The pulled predicates as equality keys (outer expression, inner expression) and the rest.
    func split(_ pulled: Pulled, outer: LogicalPlan) throws(SQLError) -> (keys: [(BoundExpr, BoundExpr)], rest: [BoundExpr]) {
        let outerIDs = Set(outer.columns.map(\.id)), innerIDs = Set(pulled.plan.columns.map(\.id))
        var keys: [(BoundExpr, BoundExpr)] = [], rest: [BoundExpr] = []
        for p in pulled.predicates {
            guard p.columnIDs.isSubset(of: outerIDs.union(innerIDs)), p.subqueries.isEmpty else {
                throw SQLError.unsupported("a subquery correlated with a query two or more levels out, or through another subquery", .unknown)
            }
            if let (o, i) = Self.correlation(p, inner: innerIDs), !o.columnIDs.isEmpty, o.columnIDs.isSubset(of: outerIDs) {
                keys.append((o, i))
            } else {
                rest.append(p)
            }
        }
        return (keys, rest)
    }

    // MARK: pulling correlated predicates up

    func pullUp(_ plan: LogicalPlan) -> Pulled? {
        let free = plan.freeColumnIDs
        guard !free.isEmpty else { return Pulled(plan: plan, predicates: []) }
        switch plan {
        case .filter(let input, let e):
            guard let below = pullUp(input) else { return nil }
            let produced = below.plan.allColumnIDs
            var local: [BoundExpr] = [], correlated: [BoundExpr] = []
            for c in Decorrelator.conjuncts(e) {
                if c.columnIDs.isSubset(of: produced), c.subqueries.allSatisfy({ $0.plan.freeColumnIDs.isSubset(of: produced) }) { local.append(c) }
                else { correlated.append(c) }
            }
            // A HAVING over an aggregate that has one row for any input cannot be told apart from no row after a join.
            guard below.grouplessAggregate == nil else { return nil }
            var out = below
            if let cond = Optimizer.conjunction(local) { out.plan = .filter(below.plan, cond) }
            out.predicates += correlated
            return out
        case .project(let input, let exprs, let cols):
            guard var below = pullUp(input) else { return nil }
            let produced = below.plan.allColumnIDs
            guard exprs.allSatisfy({ $0.columnIDs.isSubset(of: produced) && $0.subqueries.allSatisfy { $0.plan.freeColumnIDs.isEmpty } }) else { return nil }
            // The predicates' inner columns pass through the projection.
            var outExprs = exprs, outCols = cols
            let needed = Set(below.predicates.flatMap(\.columnIDs)).intersection(produced).subtracting(cols.map(\.id))
            for c in below.plan.columns where needed.contains(c.id) {
                outExprs.append(.column(c.id, c.type)); outCols.append(c)
            }
            guard Set(outCols.map(\.id)).isSuperset(of: needed) else { return nil }
            below.plan = .project(below.plan, outExprs, columns: outCols)
            return below
        case .sort(let input, let keys):
            guard var below = pullUp(input) else { return nil }
            if below.predicates.isEmpty { below.plan = .sort(below.plan, keys) }
            return below
        case .aggregate(let input, let groups, let aggs, let cols):
            guard let below = pullUp(input), below.grouplessAggregate == nil else { return nil }
            guard !below.predicates.isEmpty else { return Pulled(plan: .aggregate(below.plan, groups: groups, aggregates: aggs, columns: cols), predicates: []) }
            // Every correlated predicate must be outer = inner: the aggregate is grouped by the inner sides too.
            let produced = below.plan.allColumnIDs
            var extraGroups: [BoundExpr] = [], extraCols: [PlanColumn] = [], predicates: [BoundExpr] = []
            for p in below.predicates {
                guard let (outer, inner) = Self.correlation(p, inner: produced) else { return nil }
                let col: PlanColumn
                if let k = extraGroups.firstIndex(of: inner) { col = extraCols[k] } else {
                    col = PlanColumn(id: ids.next(), name: "key", table: nil, type: inner.type)
                    extraGroups.append(inner); extraCols.append(col)
                }
                predicates.append(.call(.eq, [outer, .column(col.id, col.type)], .boolean))
            }
            let groupCols = Array(cols.prefix(groups.count)), aggCols = Array(cols.dropFirst(groups.count))
            let grouped = LogicalPlan.aggregate(below.plan, groups: groups + extraGroups, aggregates: aggs, columns: groupCols + extraCols + aggCols)
            var out = Pulled(plan: grouped, predicates: predicates)
            if groups.isEmpty {
                out.grouplessAggregate = Self.countsOfNoRows(aggs, aggCols)
            }
            return out
        case .limit(let input, let limit, let offset):
            // A LIMIT per outer row is a LIMIT per correlation key: the rows numbered
            // within each key (in the ORDER BY's order) and those in range kept.
            var child = input, order: [SortKey] = []
            if case .sort(let c, let k) = input { child = c; order = k }
            guard let below = pullUp(child), below.grouplessAggregate == nil, !below.predicates.isEmpty else { return nil }
            let produced = below.plan.allColumnIDs
            var keys: [BoundExpr] = []
            for p in below.predicates {
                guard let (_, inner) = Self.correlation(p, inner: produced) else { return nil }
                keys.append(inner)
            }
            let rn = PlanColumn(id: ids.next(), name: "row_number", table: nil, type: .bigint)
            let call = WindowCall.rowNumber(partitionBy: keys, orderBy: order)
            let number = BoundExpr.column(rn.id, .bigint)
            var keep = BoundExpr.call(.gt, [number, .literal(.int(Int64(offset)), .bigint)], .boolean)
            if let limit {
                let (last, overflow) = limit.addingReportingOverflow(offset)
                keep = .call(.and, [keep, .call(.le, [number, .literal(.int(Int64(overflow ? Int.max : last)), .bigint)], .boolean)], .boolean)
            }
            let numbered = LogicalPlan.filter(.window(below.plan, [call], columns: [rn]), keep)
            return Pulled(plan: .project(numbered, below.plan.columns.map { .column($0.id, $0.type) }, columns: below.plan.columns),
                          predicates: below.predicates)
        case .join(let l, let r, let kind, let on, let residual):
            guard let left = pullUp(l), let right = pullUp(r), left.grouplessAggregate == nil, right.grouplessAggregate == nil else { return nil }
            let produced = left.plan.allColumnIDs.union(right.plan.allColumnIDs)
            var localOn: [(BoundExpr, BoundExpr)] = [], correlated: [BoundExpr] = [], localRest: [BoundExpr] = []
            for (a, b) in on {
                if a.columnIDs.union(b.columnIDs).isSubset(of: produced) { localOn.append((a, b)) }
                else { correlated.append(.call(.eq, [a, b], .boolean)) }
            }
            for c in residual.map(Decorrelator.conjuncts) ?? [] {
                if c.columnIDs.isSubset(of: produced) { localRest.append(c) } else { correlated.append(c) }
            }
            switch kind {
            case .inner, .cross: break
            case .left, .semi, .anti, .mark, .single:
                // Only the preserved side's rows may carry correlated predicates up.
                guard right.predicates.isEmpty, correlated.isEmpty else { return nil }
            case .right, .full:
                return nil
            }
            let joined = LogicalPlan.join(left.plan, right.plan, kind, on: localOn, residual: Optimizer.conjunction(localRest))
            return Pulled(plan: joined, predicates: left.predicates + right.predicates + correlated)
        default:
            return nil
        }
    }

    /// `p` as `outer = inner`: one side reads only columns in `inner` (at least one),
    /// the other none of them (it reads the enclosing query). Nil for any other predicate.
    static func correlation(_ p: BoundExpr, inner: Set<Int>) -> (outer: BoundExpr, inner: BoundExpr)? {
        guard case .call(.eq, let a, _) = p else { return nil }
        for (o, i) in [(a[0], a[1]), (a[1], a[0])] where !i.columnIDs.isEmpty && i.columnIDs.isSubset(of: inner) && o.columnIDs.isDisjoint(with: inner) {
            return (o, i)
        }
        return nil
    }
}
