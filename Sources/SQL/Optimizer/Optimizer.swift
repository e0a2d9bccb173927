import Columnar

/// Rewrites a logical plan into a cheaper equivalent: constant folding, predicate
/// pushdown (into scans, where partition filters prune directories), join ordering
/// without cross products over a connected join graph, and projection pruning.
public struct Optimizer {
    public init() {}

    public func optimize(_ plan: LogicalPlan) throws(SQLError) -> LogicalPlan {
        var p = try Decorrelator(ids: IDSource(after: plan.deepMaxColumnID)).rewrite(plan)
        p = try foldConstants(p)
        p = try pushDown(p, [])
        p = prune(p, required: Set(p.columns.map(\.id)))
        return splitAggregates(p, ids: IDSource(after: p.allColumnIDs.max() ?? 0))
    }

    /// Hands out column ids no other column of the plan has.
    final class IDSource {
        var last: Int
        init(after: Int) { last = after }
        func next() -> Int { last += 1; return last }
    }

    // MARK: partial and final aggregation

    /// Splits every aggregate whose functions merge (count, sum, avg, min, max,
    /// any_value, bool_and/or, no DISTINCT) into a partial aggregate of states and
    /// a final aggregate over them, with a projection that finishes avg (sum /
    /// count) under the original column ids. Others (median, stddev, DISTINCT)
    /// stay whole: they need all of a group's values in one place.
    func splitAggregates(_ plan: LogicalPlan, ids: IDSource) -> LogicalPlan {
        // transformUp with a closure that never throws.
        (try? plan.transformUp { (p) throws(SQLError) -> LogicalPlan in
            guard case .aggregate(let input, let groups, let aggs, let cols) = p else { return p }
            let mergeable: Set<AggregateKind> = [.countStar, .count, .sum, .avg, .min, .max, .any_value, .bool_and, .bool_or]
            guard !aggs.isEmpty, aggs.allSatisfy({ mergeable.contains($0.kind) && !$0.distinct && $0.orderBy.isEmpty }) else { return p }
            func fresh(_ name: String, _ t: DataType) -> PlanColumn { PlanColumn(id: ids.next(), name: name, table: nil, type: t) }
            let partialGroups = groups.enumerated().map { fresh(cols[$0.offset].name, $0.element.type) }
            var partialCalls: [AggregateCall] = [], partialCols: [PlanColumn] = []
            var finalCalls: [AggregateCall] = [], finalCols: [PlanColumn] = []
            var finish: [BoundExpr] = []
            var merged: [AggregateCall: BoundExpr] = [:]   // avg(x) and sum(x) share sum(x)
            for a in aggs {
                func state(_ call: AggregateCall, merge: AggregateKind) -> BoundExpr {
                    if let done = merged[call] { return done }
                    let s = fresh("partial_\(call.kind.rawValue)", call.type)
                    partialCalls.append(call); partialCols.append(s)
                    let mergedType = call.type   // sums of counts stay BIGINT; sums of integers are HUGEINT already
                    let f = fresh(call.kind.rawValue, mergedType)
                    finalCalls.append(AggregateCall(kind: merge, argument: .column(s.id, s.type), distinct: false, type: mergedType))
                    finalCols.append(f)
                    merged[call] = .column(f.id, f.type)
                    return .column(f.id, f.type)
                }
                switch a.kind {
                case .countStar, .count: finish.append(state(a, merge: .sum))
                case .sum: finish.append(state(a, merge: .sum))
                case .min, .max, .any_value, .bool_and, .bool_or: finish.append(state(a, merge: a.kind))
                case .avg:
                    let arg = a.argument!
                    let sumType: DataType
                    switch arg.type {
                    case .decimal(_, let s): sumType = .decimal(precision: 38, scale: s)
                    case .double: sumType = .double
                    default: sumType = .hugeint
                    }
                    let sum = state(AggregateCall(kind: .sum, argument: a.argument, distinct: false, type: sumType), merge: .sum)
                    let count = state(AggregateCall(kind: .count, argument: a.argument, distinct: false, type: .bigint), merge: .sum)
                    finish.append(.call(.divide, [.cast(sum, .double), .call(.nullif, [.cast(count, .double), .literal(.double(0), .double)], .double)], .double))
                default: break
                }
            }
            let partial = LogicalPlan.partialAggregate(input, groups: groups, aggregates: partialCalls, columns: partialGroups + partialCols)
            let finalGroups = partialGroups.map { fresh($0.name, $0.type) }
            let final = LogicalPlan.aggregate(partial, groups: partialGroups.map { .column($0.id, $0.type) }, aggregates: finalCalls, columns: finalGroups + finalCols)
            let exprs = finalGroups.map { BoundExpr.column($0.id, $0.type) } + finish
            return .project(final, exprs, columns: cols)
        }) ?? plan
    }

    // MARK: constant folding

    func foldConstants(_ plan: LogicalPlan) throws(SQLError) -> LogicalPlan {
        func foldSubqueries(_ e: BoundExpr) throws(SQLError) -> BoundExpr {
            switch e {
            case .scalarSubquery(let s, _), .inSubquery(_, let s, _):
                s.plan = try optimize(s.plan)
            default: break
            }
            return try e.mapChildren(foldSubqueries)
        }
        return try plan.transformUp { (p) throws(SQLError) -> LogicalPlan in
            switch p {
            case .scan, .partialAggregate: return p   // partials appear only after this pass
            case .materialized(let shared, _):
                if !shared.optimized { shared.plan = try optimize(shared.plan); shared.optimized = true }
                return p
            default:
                return try p.mapExpressions { (e) throws(SQLError) in try ConstantFolder.fold(try foldSubqueries(e)) }
            }
        }
    }

    // MARK: predicate pushdown and join ordering

    static func conjuncts(_ e: BoundExpr) -> [BoundExpr] {
        if case .call(.and, let args, _) = e { return args.flatMap(conjuncts) }
        if case .literal(.bool(true), _) = e { return [] }
        if case .call(.or, _, _) = e { return factorOr(e) }
        return [e]
    }

    static func disjuncts(_ e: BoundExpr) -> [BoundExpr] {
        if case .call(.or, let args, _) = e { return args.flatMap(disjuncts) }
        return [e]
    }

    /// (a AND b) OR (a AND c) becomes a AND (b OR c), so a join condition repeated in
    /// every branch (TPC-H Q19) becomes a join key instead of a cross product filter.
    static func factorOr(_ e: BoundExpr) -> [BoundExpr] {
        let branches = disjuncts(e).map(conjuncts)
        guard let first = branches.first else { return [e] }
        let common = first.filter { c in branches.dropFirst().allSatisfy { $0.contains(c) } }
        guard !common.isEmpty else { return [e] }
        var rest: [BoundExpr] = []
        for b in branches {
            let left = b.filter { !common.contains($0) }
            // A branch reduced to nothing is TRUE: the whole OR is implied by the common part.
            guard let c = conjunction(left) else { return common }
            rest.append(c)
        }
        return common + [rest.dropFirst().reduce(rest[0]) { .call(.or, [$0, $1], .boolean) }]
    }

    static func conjunction(_ es: [BoundExpr]) -> BoundExpr? {
        guard let first = es.first else { return nil }
        return es.dropFirst().reduce(first) { .call(.and, [$0, $1], .boolean) }
    }

    func applyFilters(_ plan: LogicalPlan, _ preds: [BoundExpr]) -> LogicalPlan {
        guard let c = Optimizer.conjunction(preds) else { return plan }
        return .filter(plan, c)
    }

    /// Pushes `preds` (conjuncts from above) as far down as they can go.
    func pushDown(_ plan: LogicalPlan, _ preds: [BoundExpr]) throws(SQLError) -> LogicalPlan {
        switch plan {
        case .filter(let p, let e):
            return try pushDown(p, preds + Optimizer.conjuncts(e))
        case .scan(let src, let fields, let cols, let filters):
            return .scan(src, fields: fields, columns: cols, filters: filters + preds)
        case .values, .materialized, .partialAggregate, .workingTable:
            return applyFilters(plan, preds)
        case .recursive(let anchor, let step, let id, let distinct, let cols):
            // Nothing from above moves in (a filter on the result is not one on each round), but each side is pushed down in itself.
            return applyFilters(.recursive(try pushDown(anchor, []), try pushDown(step, []), id: id, distinct: distinct, columns: cols), preds)
        case .union(let inputs, let cols):
            // A predicate on the union's columns holds for each input's rows under that input's column ids.
            let ids = Set(cols.map(\.id))
            let movable = preds.filter { !$0.containsSubquery && $0.columnIDs.isSubset(of: ids) }
            var out: [LogicalPlan] = []
            for input in inputs {
                var map: [Int: BoundExpr] = [:]
                for (c, ic) in zip(cols, input.columns) { map[c.id] = .column(ic.id, ic.type) }
                var below: [BoundExpr] = []
                for pr in movable { below.append(try substitute(pr, map)) }
                out.append(try pushDown(input, below))
            }
            return applyFilters(.union(out, columns: cols), preds.filter { $0.containsSubquery || !$0.columnIDs.isSubset(of: ids) })
        case .project(let p, let exprs, let cols):
            // A predicate on projected columns is rewritten in terms of the input.
            var below: [BoundExpr] = [], above: [BoundExpr] = []
            var map: [Int: BoundExpr] = [:]
            for (c, e) in zip(cols, exprs) { map[c.id] = e }
            for pr in preds {
                if pr.containsSubquery { above.append(pr); continue }
                if let r = try? substitute(pr, map), !r.containsSubquery { below.append(r) } else { above.append(pr) }
            }
            return applyFilters(.project(try pushDown(p, below), exprs, columns: cols), above)
        case .aggregate(let p, let groups, let aggs, let cols):
            // Predicates only on grouping columns can run before aggregating.
            var below: [BoundExpr] = [], above: [BoundExpr] = []
            var map: [Int: BoundExpr] = [:]
            for (k, g) in groups.enumerated() { map[cols[k].id] = g }
            for pr in preds {
                // Not below an aggregate without groups: it makes its one row even of no input.
                if !groups.isEmpty, pr.columnIDs.isSubset(of: Set(map.keys)), let r = try? substitute(pr, map) { below.append(r) } else { above.append(pr) }
            }
            return applyFilters(.aggregate(try pushDown(p, below), groups: groups, aggregates: aggs, columns: cols), above)
        case .sort(let p, let k):
            return .sort(try pushDown(p, preds), k)
        case .window(let p, let calls, let cols):
            // A predicate on the partition keys alone removes whole partitions: it may go below.
            let keys = Set(calls[0].partitionBy.compactMap { e -> Int? in if case .column(let id, _) = e { return id }; return nil })
            let below = preds.filter { !$0.columnIDs.isEmpty && $0.columnIDs.isSubset(of: keys) && !$0.containsSubquery }
            let above = preds.filter { !(!$0.columnIDs.isEmpty && $0.columnIDs.isSubset(of: keys) && !$0.containsSubquery) }
            return applyFilters(.window(try pushDown(p, below), calls, columns: cols), above)
        case .limit:
            let inner: LogicalPlan
            if case .limit(let p, let l, let o) = plan { inner = .limit(try pushDown(p, []), limit: l, offset: o) } else { inner = plan }
            return applyFilters(inner, preds)
        case .join(let l, let r, let kind, let on, let residual):
            switch kind {
            case .inner, .cross:
                return try reorderJoins(plan, preds)
            case .semi, .anti, .mark, .single:
                return try pushDownSubqueryJoin(plan, preds)
            case .left, .right, .full:
                let lids = Set(l.columns.map(\.id)), rids = Set(r.columns.map(\.id))
                var toLeft: [BoundExpr] = [], toRight: [BoundExpr] = [], above: [BoundExpr] = []
                for pr in preds {
                    let ids = pr.columnIDs
                    if kind == .left && ids.isSubset(of: lids) { toLeft.append(pr) }
                    else if kind == .right && ids.isSubset(of: rids) { toRight.append(pr) }
                    else { above.append(pr) }
                }
                // ON conditions that touch only the non-preserved side filter that side's input.
                var keys = on
                var rest: [BoundExpr] = []
                for c in residual.map(Optimizer.conjuncts) ?? [] {
                    let ids = c.columnIDs
                    if kind == .left, ids.isSubset(of: rids), !c.containsSubquery { toRight.append(c) }
                    else if kind == .right, ids.isSubset(of: lids), !c.containsSubquery { toLeft.append(c) }
                    else if let k = equiKey(c, lids, rids) { keys.append(k) }
                    else { rest.append(c) }
                }
                let left = try pushDown(l, toLeft), right = try pushDown(r, toRight)
                // The right input is the one built into a hash table: make it the smaller.
                if kind != .full, !keys.isEmpty, Estimator.rows(left) < Estimator.rows(right) {
                    let swapped = LogicalPlan.join(right, left, kind == .left ? .right : .left, on: keys.map { ($0.1, $0.0) }, residual: Optimizer.conjunction(rest))
                    return applyFilters(swapped, above)
                }
                let joined = LogicalPlan.join(left, right, kind, on: keys, residual: Optimizer.conjunction(rest))
                return applyFilters(joined, above)
            }
        }
    }

    /// A join made from a subquery keeps every left row's meaning: predicates on
    /// the left side alone go below it, and ON conditions on the right side
    /// alone filter the right input (not a MARK's, which is three-valued as a whole).
    func pushDownSubqueryJoin(_ plan: LogicalPlan, _ preds: [BoundExpr]) throws(SQLError) -> LogicalPlan {
        guard case .join(let l, let r, let kind, let on, let residual) = plan else { return applyFilters(plan, preds) }
        let lids = Set(l.columns.map(\.id)), rids = Set(r.columns.map(\.id))
        let toLeft = preds.filter { $0.columnIDs.isSubset(of: lids) && !$0.containsSubquery }
        let above = preds.filter { !($0.columnIDs.isSubset(of: lids) && !$0.containsSubquery) }
        var toRight: [BoundExpr] = [], rest: [BoundExpr] = []
        var keys = on
        if kind == .mark {
            rest = residual.map { [$0] } ?? []
        } else {
            for c in residual.map(Optimizer.conjuncts) ?? [] {
                if c.columnIDs.isSubset(of: rids), !c.containsSubquery { toRight.append(c) }
                else if let k = equiKey(c, lids, rids) { keys.append(k) }
                else { rest.append(c) }
            }
        }
        let joined = LogicalPlan.join(try pushDown(l, toLeft), try pushDown(r, toRight), kind, on: keys, residual: Optimizer.conjunction(rest))
        return applyFilters(joined, above)
    }

    /// `a = b` with a from one side and b from the other, oriented (left, right).
    func equiKey(_ e: BoundExpr, _ lids: Set<Int>, _ rids: Set<Int>) -> (BoundExpr, BoundExpr)? {
        guard case .call(.eq, let args, _) = e else { return nil }
        let a = args[0].columnIDs, b = args[1].columnIDs
        guard !a.isEmpty, !b.isEmpty, !args[0].containsSubquery, !args[1].containsSubquery else { return nil }
        if a.isSubset(of: lids), b.isSubset(of: rids) { return (args[0], args[1]) }
        if a.isSubset(of: rids), b.isSubset(of: lids) { return (args[1], args[0]) }
        return nil
    }

    func substitute(_ e: BoundExpr, _ map: [Int: BoundExpr]) throws(SQLError) -> BoundExpr {
        if case .column(let id, _) = e {
            guard let r = map[id] else { throw SQLError.execution("not substitutable") }
            return r
        }
        return try e.mapChildren { (c) throws(SQLError) in try substitute(c, map) }
    }

    // MARK: join ordering

    struct Relation {
        var plan: LogicalPlan
        var ids: Set<Int>
        var rows: Double
    }

    /// Flattens a region of inner and cross joins into relations and predicates.
    func flatten(_ plan: LogicalPlan, _ relations: inout [LogicalPlan], _ preds: inout [BoundExpr]) {
        switch plan {
        case .join(let l, let r, let kind, let on, let residual) where kind == .inner || kind == .cross:
            flatten(l, &relations, &preds)
            flatten(r, &relations, &preds)
            for (a, b) in on { preds.append(.call(.eq, [a, b], .boolean)) }
            preds += residual.map(Optimizer.conjuncts) ?? []
        case .filter(let p, let e):
            flatten(p, &relations, &preds)
            preds += Optimizer.conjuncts(e)
        default:
            relations.append(plan)
        }
    }

    func reorderJoins(_ plan: LogicalPlan, _ preds: [BoundExpr]) throws(SQLError) -> LogicalPlan {
        var leaves: [LogicalPlan] = []
        var all = preds
        flatten(plan, &leaves, &all)
        // Base cardinality of each column, for join size estimates (a key's distinct count
        // is taken as the row count of the table it comes from, true for primary keys).
        var rels: [Relation] = []
        var remaining: [BoundExpr] = []
        var local: [[BoundExpr]] = Array(repeating: [], count: leaves.count)
        let idSets = leaves.map { Set($0.columns.map(\.id)) }
        for pr in all {
            let ids = pr.columnIDs
            if let k = idSets.firstIndex(where: { ids.isSubset(of: $0) }), !ids.isEmpty || !pr.containsSubquery { local[k].append(pr) }
            else { remaining.append(pr) }
        }
        var distinct: [Int: Double] = [:]
        for (k, leaf) in leaves.enumerated() {
            let pushed = try pushDown(leaf, local[k])
            let base = Estimator.rows(leaf)
            for c in leaf.columns { distinct[c.id] = Estimator.distinct(of: c.id, in: leaf) ?? base }
            rels.append(Relation(plan: pushed, ids: idSets[k], rows: Estimator.rows(pushed)))
        }
        // Greedy: join the connected pair with the smallest estimated result first.
        while rels.count > 1 {
            var best: (i: Int, j: Int, rows: Double, keys: [BoundExpr])? = nil
            for i in 0..<rels.count {
                for j in (i + 1)..<rels.count {
                    let keys = remaining.filter { equiKey($0, rels[i].ids, rels[j].ids) != nil }
                    if keys.isEmpty { continue }
                    // |L ⋈ R| = |L| |R| / max(ndv(L.k), ndv(R.k)), keys assumed independent.
                    var divisor = 1.0
                    for k in keys {
                        if case .call(_, let args, _) = k {
                            divisor = max(divisor, args.map { a in a.columnIDs.compactMap { distinct[$0] }.max() ?? 1 }.max() ?? 1)
                        }
                    }
                    let est = max(1, rels[i].rows * rels[j].rows / divisor)
                    if best == nil || est < best!.rows { best = (i, j, est, keys) }
                }
            }
            if best == nil {
                // Not connected: cross the two smallest relations.
                let order = rels.indices.sorted { rels[$0].rows < rels[$1].rows }
                best = (min(order[0], order[1]), max(order[0], order[1]), rels[order[0]].rows * rels[order[1]].rows, [])
            }
            let (i, j, rows, keys) = best!
            var a = rels[i], b = rels[j]
            // Build (right side) from the smaller input.
            if a.rows < b.rows { swap(&a, &b) }
            remaining.removeAll { k in keys.contains(k) }
            let ids = a.ids.union(b.ids)
            var on: [(BoundExpr, BoundExpr)] = []
            for k in keys { on.append(equiKey(k, a.ids, b.ids)!) }
            // Other predicates that now have all their columns become the join's residual.
            let covered = remaining.filter { !$0.columnIDs.isEmpty && $0.columnIDs.isSubset(of: ids) }
            remaining.removeAll { p in covered.contains(p) }
            let joined = LogicalPlan.join(a.plan, b.plan, on.isEmpty ? .cross : .inner, on: on, residual: Optimizer.conjunction(covered))
            rels.remove(at: j); rels.remove(at: i)
            rels.append(Relation(plan: joined, ids: ids, rows: rows))
        }
        return applyFilters(rels[0].plan, remaining)
    }

    // MARK: projection pruning

    func prune(_ plan: LogicalPlan, required: Set<Int>) -> LogicalPlan {
        switch plan {
        case .scan(let src, let fields, let cols, let filters):
            let need = required.union(filters.flatMap { $0.columnIDs })
            var f: [Int] = [], c: [PlanColumn] = []
            for (field, col) in zip(fields, cols) where need.contains(col.id) { f.append(field); c.append(col) }
            return .scan(src, fields: f, columns: c, filters: filters.map(pruneSubqueries))
        case .values, .materialized, .partialAggregate, .workingTable: return plan
        case .recursive(let anchor, let step, let id, let distinct, let cols):
            // Every column feeds the next round: nothing is pruned from either side's output.
            return .recursive(prune(anchor, required: Set(anchor.columns.map(\.id))), prune(step, required: Set(step.columns.map(\.id))),
                              id: id, distinct: distinct, columns: cols)
        case .union(let inputs, let cols):
            // Columns nobody reads go from every input alike (positions must keep lining up).
            var keep = cols.indices.filter { required.contains(cols[$0].id) }
            if keep.isEmpty { keep = [0] }
            let pruned = inputs.map { input -> LogicalPlan in
                let kept = keep.map { input.columns[$0] }
                return prune(.project(input, kept.map { .column($0.id, $0.type) }, columns: kept), required: Set(kept.map(\.id)))
            }
            return .union(pruned, columns: keep.map { cols[$0] })
        case .filter(let p, let e):
            return .filter(prune(p, required: required.union(e.columnIDs)), pruneSubqueries(e))
        case .project(let p, let exprs, let cols):
            var es: [BoundExpr] = [], cs: [PlanColumn] = []
            for (e, c) in zip(exprs, cols) where required.contains(c.id) { es.append(pruneSubqueries(e)); cs.append(c) }
            if es.isEmpty, let first = exprs.first { es = [first]; cs = [cols[0]] }
            return .project(prune(p, required: Set(es.flatMap { $0.columnIDs })), es, columns: cs)
        case .aggregate(let p, let groups, let aggs, let cols):
            let need = Set(groups.flatMap { $0.columnIDs } + aggs.flatMap { $0.expressions.flatMap(\.columnIDs) })
            return .aggregate(prune(p, required: need), groups: groups.map(pruneSubqueries), aggregates: aggs, columns: cols)
        case .join(let l, let r, let k, let on, let res):
            var need = required
            if k == .mark, let placeholder = r.columns.last { need.insert(placeholder.id) }
            for (a, b) in on { need.formUnion(a.columnIDs); need.formUnion(b.columnIDs) }
            if let res { need.formUnion(res.columnIDs) }
            return .join(prune(l, required: need), prune(r, required: need), k, on: on, residual: res.map(pruneSubqueries))
        case .sort(let p, let keys):
            return .sort(prune(p, required: required.union(keys.flatMap { $0.expr.columnIDs })), keys)
        case .window(let p, let calls, let cols):
            return .window(prune(p, required: required.union(calls.flatMap { $0.expressions.flatMap(\.columnIDs) })), calls, columns: cols)
        case .limit(let p, let l, let o):
            return .limit(prune(p, required: required), limit: l, offset: o)
        }
    }

    func pruneSubqueries(_ e: BoundExpr) -> BoundExpr {
        switch e {
        case .scalarSubquery(let s, _), .inSubquery(_, let s, _):
            s.plan = prune(s.plan, required: Set(s.plan.columns.map(\.id)))
        default: break
        }
        return (try? e.mapChildren { pruneSubqueries($0) }) ?? e
    }
}

/// Row-count estimates without statistics: source sizes and fixed selectivities.
public enum Estimator {
    /// The rows a plan is expected to produce.
    public static func estimatedRows(_ plan: LogicalPlan) -> Double { rows(plan) }

    static func selectivity(_ e: BoundExpr) -> Double {
        switch e {
        case .call(.eq, let a, _): return a.contains { $0.isConstant } ? 0.05 : 0.1
        case .call(.and, let a, _): return a.map(selectivity).reduce(1, *)
        case .call(.or, let a, _): return min(1, a.map(selectivity).reduce(0, +))
        case .call(.lt, _, _), .call(.le, _, _), .call(.gt, _, _), .call(.ge, _, _): return 0.4
        case .call(.like, _, _): return 0.2
        case .inList(_, let items, let neg): return neg ? 0.9 : min(0.5, 0.05 * Double(items.count))
        default: return 0.5
        }
    }

    static func rows(_ plan: LogicalPlan) -> Double {
        switch plan {
        case .scan(let src, _, _, let filters):
            return max(1, filters.reduce(src.estimatedRows) { $0 * selectivity($1) })
        case .values(let r, _): return Double(r.count)
        case .recursive(let anchor, _, _, _, _): return rows(anchor) * 10
        case .workingTable: return 10
        case .materialized(let shared, _): return rows(shared.plan)
        case .partialAggregate(let p, let g, _, _): return g.isEmpty ? 1 : max(1, rows(p) / 10)
        case .filter(let p, let e): return max(1, rows(p) * selectivity(e))
        case .project(let p, _, _), .sort(let p, _), .window(let p, _, _): return rows(p)
        case .aggregate(let p, let g, _, _): return g.isEmpty ? 1 : max(1, rows(p) / 10)
        case .join(let l, let r, let k, let on, _):
            if !k.outputsRight { return k == .mark ? rows(l) : max(1, rows(l) * 0.5) }
            if k == .cross || on.isEmpty { return rows(l) * rows(r) }
            return max(rows(l), rows(r))
        case .limit(let p, let l, _): return min(rows(p), Double(l ?? Int.max))
        case .union(let ps, _): return ps.reduce(0) { $0 + rows($1) }
        }
    }

    /// Distinct values of a column, from the source's estimate (a sample), else
    /// the rows of the table it comes from (right for keys, high for the rest).
    static func distinct(of id: Int, in plan: LogicalPlan) -> Double? {
        switch plan {
        case .scan(let src, let fields, let cols, _):
            guard let k = cols.firstIndex(where: { $0.id == id }) else { return nil }
            return src.estimatedDistinct(field: fields[k]) ?? src.estimatedRows
        case .aggregate(let p, let groups, _, let cols):
            guard let k = cols.firstIndex(where: { $0.id == id }) else { return distinct(of: id, in: p) }
            if k < groups.count, case .column(let g, _) = groups[k] { return distinct(of: g, in: p) ?? rows(plan) }
            return rows(plan)
        case .project(let p, let exprs, let cols):
            guard let k = cols.firstIndex(where: { $0.id == id }) else { return nil }
            if case .column(let c, _) = exprs[k] { return distinct(of: c, in: p) }
            return rows(plan)
        default:
            for i in plan.inputs { if let r = distinct(of: id, in: i) { return r } }
            return plan.columns.contains { $0.id == id } ? rows(plan) : nil
        }
    }
}
