import Columnar
import SQL

/// Turns an optimized logical plan into a physical query for `partitions`
/// partitions (the threads of this process): column ids become positions,
/// LIMIT over ORDER BY becomes top-N, joins without equality keys become
/// nested loops, and wherever a node needs its input partitioned otherwise
/// than it is, an exchange goes in between. Uncorrelated subqueries and
/// shared CTEs become plans of their own that the query refers to; nothing
/// runs here.
///
/// A hash join's build side is shared by every probe partition (its input
/// broadcast) unless it is expected to exceed `broadcastLimit` rows; then
/// both sides are hash-partitioned on the keys and each partition builds its
/// own table. In one process sharing costs nothing, so there is no limit; a
/// cluster, where broadcasting means copying to every worker, sets one.
struct PhysicalPlanner {
    let partitions: Int
    let broadcastLimit: Double?
    /// Partitions are tasks on different machines, which cannot combine the
    /// matched flags of one shared build: the build side's unmatched rows of a
    /// RIGHT or FULL join need the build partitioned (hash joins) or the outer
    /// side in one partition (nested loops).
    let distributed: Bool

    private final class Collected {
        var subqueries: [PhysicalPlan] = []
        var subqueryIndex: [Int: Int] = [:]         // Subquery.id -> index
        var ctes: [PhysicalPlan] = []
        var cteIndex: [ObjectIdentifier: Int] = [:]
    }
    private let collected = Collected()

    init(partitions: Int, broadcastLimit: Double? = nil, distributed: Bool = false) {
        self.partitions = max(1, partitions)
        self.broadcastLimit = broadcastLimit
        self.distributed = distributed
    }

    func plan(_ p: LogicalPlan) throws(SQLError) -> PhysicalQuery {
        let root = gathered(try build(p).plan)
        return PhysicalQuery(root: root.numbered(), subqueries: collected.subqueries.map { $0.numbered() }, ctes: collected.ctes.map { $0.numbered() })
    }

    /// A physical plan and, for each of its output columns, the logical column id.
    private typealias Built = (plan: PhysicalPlan, layout: [Int])

    private func schema(_ cols: [PlanColumn]) -> Schema { Schema(cols.map { Field($0.name, $0.type) }) }

    private func build(_ p: LogicalPlan) throws(SQLError) -> Built {
        switch p {
        case .scan(let src, let fields, let cols, let filters):
            let layout = cols.map(\.id)
            var compiled: [BoundExpr] = []
            for f in filters { compiled.append(try compile(f, layout)) }
            if let table = src as? FileTable {
                return (PhysicalPlan(.scan(table.scanSpec(fields: fields, filters: compiled)), schema: schema(cols)), layout)
            }
            guard let memory = src as? MemoryTable else { throw SQLError.execution("internal error: unknown table source \(src.displayName)") }
            // An in-memory table's rows travel with the plan; its pushed filters run over them.
            let out = schema(cols)
            let batches = memory.batches.map { b in RecordBatch(schema: out, columns: fields.map { b.columns[$0] }, rowCount: b.rowCount) }
            var plan = PhysicalPlan(.values(batches), schema: out)
            if let all = conjunction(compiled) { plan = PhysicalPlan(.filter(all), inputs: [plan], schema: out) }
            return (plan, layout)
        case .values(let rows, let cols):
            let out = schema(cols)
            var builders = cols.map { ColumnBuilder(type: $0.type) }
            for r in rows {
                for (k, e) in r.enumerated() {
                    let v = try Evaluator.evaluate(try compile(e, []), ConstantFolder.oneRowBatch)
                    builders[k].append(v.value(at: 0))
                }
            }
            let batch = RecordBatch(schema: out, columns: builders.indices.map { builders[$0].finish() }, rowCount: rows.count)
            return (PhysicalPlan(.values([batch]), schema: out), cols.map(\.id))
        case .materialized(let shared, let cols):
            let key = ObjectIdentifier(shared)
            let id: Int
            if let known = collected.cteIndex[key] {
                id = known
            } else {
                let inner = gathered(try build(shared.plan).plan)
                id = collected.ctes.count
                collected.ctes.append(inner)
                collected.cteIndex[key] = id
            }
            return (PhysicalPlan(.cteScan(id: id), schema: schema(cols)), cols.map(\.id))
        case .recursive(let anchor, let step, let id, let distinct, let cols):
            // Each side in one partition, its columns in the CTE's order (they run again every round, in this process or task).
            var sides: [PhysicalPlan] = []
            for input in [anchor, step] {
                var (child, layout) = try build(input)
                if layout != input.columns.map(\.id) {
                    var exprs: [BoundExpr] = []
                    for c in input.columns { exprs.append(try compile(.column(c.id, c.type), layout)) }
                    child = PhysicalPlan(.project(exprs), inputs: [child], schema: schema(input.columns))
                }
                sides.append(gathered(child))
            }
            return (PhysicalPlan(.recursiveCTE(id: id, distinct: distinct), inputs: sides, schema: schema(cols)), cols.map(\.id))
        case .workingTable(let id, let cols):
            return (PhysicalPlan(.workingTable(id: id), schema: schema(cols)), cols.map(\.id))
        case .union(let inputs, let cols):
            var children: [PhysicalPlan] = []
            for input in inputs {
                var (child, layout) = try build(input)
                // By position: the input's columns in its logical order.
                let want = input.columns
                if layout != want.map(\.id) {
                    var exprs: [BoundExpr] = []
                    for c in want { exprs.append(try compile(.column(c.id, c.type), layout)) }
                    child = PhysicalPlan(.project(exprs), inputs: [child], schema: schema(want))
                }
                // On the cluster each input is a stage of its own, gathered into the union's.
                children.append(distributed ? gathered(child) : child)
            }
            return (PhysicalPlan(.union, inputs: children, schema: schema(cols)), cols.map(\.id))
        case .filter(let input, let e):
            let (child, layout) = try build(input)
            return (PhysicalPlan(.filter(try compile(e, layout)), inputs: [child], schema: child.schema), layout)
        case .project(let input, let exprs, let cols):
            let (child, layout) = try build(input)
            var compiled: [BoundExpr] = []
            for e in exprs { compiled.append(try compile(e, layout)) }
            return (PhysicalPlan(.project(compiled), inputs: [child], schema: schema(cols)), cols.map(\.id))
        case .partialAggregate(let input, let groups, let aggs, let cols):
            let (child, layout) = try build(input)
            let (gs, calls) = try compileAggregate(groups, aggs, layout)
            return (PhysicalPlan(.aggregate(groups: gs, aggregates: calls, phase: .partial), inputs: [child], schema: schema(cols)), cols.map(\.id))
        case .aggregate(let input, let groups, let aggs, let cols):
            var (child, layout) = try build(input)
            let (gs, calls) = try compileAggregate(groups, aggs, layout)
            let phase: AggregatePhase
            if case .partialAggregate = input { phase = .final } else { phase = .single }
            // All of a group's rows (or states) must meet in one partition.
            child = gs.isEmpty ? gathered(child) : hashed(child, gs)
            return (PhysicalPlan(.aggregate(groups: gs, aggregates: calls, phase: phase), inputs: [child], schema: schema(cols)), cols.map(\.id))
        case .join(let l, let r, let kind, let on, let residual):
            var (left, ll) = try build(l)
            var (right, rl) = try build(r)
            // The condition sees both sides; the output is the left side alone, with a mark, or both.
            let pairLayout = ll + rl
            let layout: [Int], out: Schema
            switch kind {
            case .semi, .anti: (layout, out) = (ll, left.schema)
            case .mark: (layout, out) = (ll + [rl.last!], Schema(left.schema.fields + [right.schema.fields.last!]))
            default: (layout, out) = (pairLayout, Schema(left.schema.fields + right.schema.fields))
            }
            let res = try residual.map { (e) throws(SQLError) in try compile(e, pairLayout) }
            let keepsBuild = kind.keepsUnmatchedRight
            if on.isEmpty {
                // Every outer row meets every inner row: the inner side goes to every partition
                // (unmatched inner rows of RIGHT and FULL joins are found once all partitions are done).
                if distributed && keepsBuild { left = gathered(left) }
                right = broadcast(right, to: left)
                return (PhysicalPlan(.nestedLoopJoin(kind: kind, condition: res), inputs: [left, right], schema: out), layout)
            }
            var pk: [BoundExpr] = [], bk: [BoundExpr] = []
            for (a, b) in on { pk.append(try compile(a, ll)); bk.append(try compile(b, rl)) }
            let distribution: BuildDistribution
            if isSpread(left), (distributed && keepsBuild) || broadcastLimit.map({ Estimator.estimatedRows(r) > $0 }) ?? false {
                distribution = .partitioned
                left = hashed(left, pk)
                right = hashed(right, bk)
            } else {
                distribution = .shared
                right = broadcast(right, to: left)
            }
            let node = PhysicalNode.hashJoin(kind: kind, probeKeys: pk, buildKeys: bk, residual: res, build: distribution)
            return (PhysicalPlan(node, inputs: [left, right], schema: out), layout)
        case .window(let input, let calls, let cols):
            var (child, layout) = try build(input)
            var partition: [BoundExpr] = []
            for e in calls[0].partitionBy { partition.append(try compile(e, layout)) }
            let order = try compileKeys(calls[0].orderBy, layout)
            var compiled: [WindowCall] = []
            for var c in calls {
                c.partitionBy = []
                c.orderBy = []
                compiled.append(try c.mapExpressions { (e) throws(SQLError) in try compile(e, layout) })
            }
            // Each partition's rows in one place: hashed on the keys (partitions run in parallel), or all gathered.
            child = partition.isEmpty ? gathered(child) : hashed(child, partition)
            let node = PhysicalNode.window(partitionBy: partition, orderBy: order, calls: compiled)
            return (PhysicalPlan(node, inputs: [child], schema: Schema(child.schema.fields + cols.map { Field($0.name, $0.type) })), layout + cols.map(\.id))
        case .sort(let input, let keys):
            let (child, layout) = try build(input)
            let ks = try compileKeys(keys, layout)
            let sorted = PhysicalPlan(.sort(ks), inputs: [child], schema: child.schema)
            return (isSpread(child) ? exchange(sorted, .gather(.merge(ks))) : sorted, layout)
        case .limit(let input, let limit, let offset):
            if case .sort(let inner, let keys) = input, let limit {
                let (child, layout) = try build(inner)
                let ks = try compileKeys(keys, layout)
                var top = PhysicalPlan(.topN(ks, limit: limit + offset), inputs: [child], schema: child.schema)
                if isSpread(child) { top = exchange(top, .gather(.merge(ks))) }
                return (PhysicalPlan(.limit(limit: limit, offset: offset), inputs: [top], schema: child.schema), layout)
            }
            let (child, layout) = try build(input)
            var below = child
            if isSpread(child) {
                // Each partition stops at limit + offset rows; the first rows overall are among them.
                if let limit { below = PhysicalPlan(.limit(limit: limit + offset, offset: 0), inputs: [child], schema: child.schema) }
                below = gathered(below)
            }
            return (PhysicalPlan(.limit(limit: limit, offset: offset), inputs: [below], schema: child.schema), layout)
        }
    }

    // MARK: partitioning

    /// True when the plan runs in more than one partition here.
    private func isSpread(_ p: PhysicalPlan) -> Bool {
        guard partitions > 1 else { return false }
        switch p.partitioning {
        case .single, .broadcast: return false
        case .spread, .hash: return true
        }
    }

    private func exchange(_ p: PhysicalPlan, _ e: Exchange) -> PhysicalPlan {
        PhysicalPlan(.exchange(e), inputs: [p], schema: p.schema)
    }

    /// All partitions into one, keeping the input's order where it has one.
    private func gathered(_ p: PhysicalPlan) -> PhysicalPlan {
        isSpread(p) ? exchange(p, .gather(p.keepsInputOrder ? .preserve : .any)) : p
    }

    /// Rows with equal keys in one partition.
    private func hashed(_ p: PhysicalPlan, _ keys: [BoundExpr]) -> PhysicalPlan {
        guard isSpread(p) else { return p }
        if case .hash(let current) = p.partitioning, current == keys { return p }
        return exchange(p, .repartition(keys: keys))
    }

    /// The build (or inner) side, readable in full by every partition of `consumer`.
    private func broadcast(_ p: PhysicalPlan, to consumer: PhysicalPlan) -> PhysicalPlan {
        isSpread(consumer) || isSpread(p) ? exchange(p, .broadcast) : p
    }

    // MARK: expressions

    private func conjunction(_ es: [BoundExpr]) -> BoundExpr? {
        guard let first = es.first else { return nil }
        return es.dropFirst().reduce(first) { .call(.and, [$0, $1], .boolean) }
    }

    private func compileAggregate(_ groups: [BoundExpr], _ aggs: [AggregateCall], _ layout: [Int]) throws(SQLError) -> ([BoundExpr], [AggregateCall]) {
        var gs: [BoundExpr] = []
        for g in groups { gs.append(try compile(g, layout)) }
        var calls: [AggregateCall] = []
        for a in aggs { calls.append(try a.mapExpressions { (e) throws(SQLError) in try compile(e, layout) }) }
        return (gs, calls)
    }

    private func compileKeys(_ keys: [SortKey], _ layout: [Int]) throws(SQLError) -> [SortKey] {
        var out: [SortKey] = []
        for var k in keys { k.expr = try compile(k.expr, layout); out.append(k) }
        return out
    }

    /// Column ids to positions; subqueries to references to plans of their own.
    func compile(_ e: BoundExpr, _ layout: [Int]) throws(SQLError) -> BoundExpr {
        switch e {
        case .column(let id, let t):
            guard let i = layout.firstIndex(of: id) else { throw SQLError.execution("internal error: column #\(id) is not available here (this is a bug, please report it)") }
            return .column(i, t)
        case .scalarSubquery(let s, let t):
            return .subqueryValue(try subquery(s), t)
        case .inSubquery(let x, let s, let negated):
            return .inSubqueryRows(try compile(x, layout), try subquery(s), negated: negated)
        default:
            return try e.mapChildren { (c) throws(SQLError) in try compile(c, layout) }
        }
    }

    private func subquery(_ s: Subquery) throws(SQLError) -> Int {
        if let known = collected.subqueryIndex[s.id] { return known }
        // Planned first, so a subquery's own subqueries get lower indices and run before it.
        let plan = gathered(try build(s.plan).plan)
        let index = collected.subqueries.count
        collected.subqueries.append(plan)
        collected.subqueryIndex[s.id] = index
        return index
    }
}

extension ConstantFolder {
    static var oneRowBatch: RecordBatch { RecordBatch(schema: Schema([]), columns: [], rowCount: 1) }
}
