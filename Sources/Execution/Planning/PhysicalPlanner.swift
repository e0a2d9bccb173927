import Columnar
import SQL

/// Turns an optimized logical plan into operators: column ids become positions,
/// uncorrelated subqueries run once and become constants, LIMIT over ORDER BY
/// becomes top-N, and joins without equality keys become nested loops.
struct PhysicalPlanner {
    let cancel: Cancellation

    func plan(_ p: LogicalPlan) throws(SQLError) -> Operator {
        try build(p).op
    }

    private func build(_ p: LogicalPlan) throws(SQLError) -> (op: Operator, layout: [Int]) {
        switch p {
        case .scan(let src, let fields, let cols, let filters):
            let layout = cols.map(\.id)
            var compiled: [BoundExpr] = []
            for f in filters { compiled.append(try compile(f, layout)) }
            return (ScanOperator(source: src, fields: fields, filters: compiled, cancel: cancel), layout)
        case .materialized(let shared, let cols):
            let schema = Schema(cols.map { Field($0.name, $0.type) })
            return (MaterializedOperator(shared: shared, schema: schema) { () throws(SQLError) -> [RecordBatch] in try drain(try self.plan(shared.plan)) }, cols.map(\.id))
        case .values(let rows, let cols):
            let schema = Schema(cols.map { Field($0.name, $0.type) })
            var builders = cols.map { ColumnBuilder(type: $0.type) }
            for r in rows {
                for (k, e) in r.enumerated() {
                    let v = try Evaluator.evaluate(try compile(e, []), ConstantFolder.oneRowBatch)
                    builders[k].append(v.value(at: 0))
                }
            }
            let batch = RecordBatch(schema: schema, columns: builders.indices.map { builders[$0].finish() }, rowCount: rows.count)
            return (ValuesOperator(batch), cols.map(\.id))
        case .filter(let input, let e):
            let (op, layout) = try build(input)
            return (FilterOperator(op, try compile(e, layout)), layout)
        case .project(let input, let exprs, let cols):
            let (op, layout) = try build(input)
            var compiled: [BoundExpr] = []
            for e in exprs { compiled.append(try compile(e, layout)) }
            return (ProjectOperator(op, compiled, Schema(cols.map { Field($0.name, $0.type) })), cols.map(\.id))
        case .aggregate(let input, let groups, let aggs, let cols), .partialAggregate(let input, let groups, let aggs, let cols):
            let (op, layout) = try build(input)
            var gs: [BoundExpr] = []
            for g in groups { gs.append(try compile(g, layout)) }
            var calls: [AggregateCall] = []
            for var a in aggs { a.argument = try a.argument.map { (e) throws(SQLError) in try compile(e, layout) }; calls.append(a) }
            var phase: String? = nil
            if case .partialAggregate = p { phase = "partial" } else if case .partialAggregate = input { phase = "final" }
            return (HashAggregateOperator(op, groups: gs, aggregates: calls, schema: Schema(cols.map { Field($0.name, $0.type) }), phase: phase), cols.map(\.id))
        case .join(let l, let r, let kind, let on, let residual):
            let (lop, ll) = try build(l)
            let (rop, rl) = try build(r)
            let layout = ll + rl
            let schema = Schema(lop.schema.fields + rop.schema.fields)
            let res = try residual.map { (e) throws(SQLError) in try compile(e, layout) }
            if on.isEmpty {
                return (NestedLoopJoinOperator(lop, rop, kind: kind, condition: res, schema: schema, cancel: cancel), layout)
            }
            var pk: [BoundExpr] = [], bk: [BoundExpr] = []
            for (a, b) in on { pk.append(try compile(a, ll)); bk.append(try compile(b, rl)) }
            return (HashJoinOperator(probe: lop, build: rop, kind: kind, probeKeys: pk, buildKeys: bk, residual: res, schema: schema), layout)
        case .sort(let input, let keys):
            let (op, layout) = try build(input)
            return (SortOperator(op, keys: try compileKeys(keys, layout)), layout)
        case .limit(let input, let limit, let offset):
            if case .sort(let inner, let keys) = input, let limit {
                let (op, layout) = try build(inner)
                let top = TopNOperator(op, keys: try compileKeys(keys, layout), limit: limit + offset)
                return (LimitOperator(top, limit: limit, offset: offset), layout)
            }
            let (op, layout) = try build(input)
            return (LimitOperator(op, limit: limit, offset: offset), layout)
        }
    }

    private func compileKeys(_ keys: [SortKey], _ layout: [Int]) throws(SQLError) -> [SortKey] {
        var out: [SortKey] = []
        for var k in keys { k.expr = try compile(k.expr, layout); out.append(k) }
        return out
    }

    /// Column ids to positions; subqueries to their results.
    func compile(_ e: BoundExpr, _ layout: [Int]) throws(SQLError) -> BoundExpr {
        switch e {
        case .column(let id, let t):
            guard let i = layout.firstIndex(of: id) else { throw SQLError.execution("internal error: column #\(id) is not available here") }
            return .column(i, t)
        case .scalarSubquery(let s, let t):
            let batches = try drain(try plan(s.plan))
            let rows = batches.reduce(0) { $0 + $1.rowCount }
            guard rows <= 1 else {
                throw SQLError.execution("More than one row returned by a subquery used as an expression (\(rows) rows); add LIMIT 1 or an aggregate")
            }
            let v = rows == 0 ? Value.null : batches.first { $0.rowCount > 0 }!.columns[0].value(at: 0)
            return .literal(v, t)
        case .inSubquery(let x, let s, let negated):
            let batches = try drain(try plan(s.plan))
            let t = s.plan.columns[0].type
            var items: [BoundExpr] = []
            var seen = Set<Value>()
            for b in batches { for i in 0..<b.rowCount { let v = b.columns[0].value(at: i); if seen.insert(v).inserted { items.append(.literal(v, t)) } } }
            if items.isEmpty { return .literal(.bool(negated), .boolean) }   // x IN (empty) is FALSE, even for NULL x
            return .inList(try compile(x, layout), items, negated: negated)
        default:
            return try e.mapChildren { (c) throws(SQLError) in try compile(c, layout) }
        }
    }
}

extension ConstantFolder {
    static var oneRowBatch: RecordBatch { RecordBatch(schema: Schema([]), columns: [], rowCount: 1) }
}
