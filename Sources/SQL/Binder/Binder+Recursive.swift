import Columnar

extension Binder {
    /// `WITH RECURSIVE name AS (anchor UNION [ALL] step)`: the anchor fixes the
    /// column types (the step's rows are cast to them, as DuckDB does); the
    /// step reads the rows of the round before as `name`.
    func bindRecursive(_ cte: CTE, name: String, _ loc: SourceLocation) throws(SQLError) -> LogicalPlan {
        guard case .setOperation(let op) = cte.query.body, op.kind == .union, !op.byName else {
            throw SQLError.binder("recursive CTE \"\(name)\" must be a query, UNION [ALL], and a query that reads \"\(name)\"", loc)
        }
        guard cte.query.orderBy.isEmpty, cte.query.limit == nil, cte.query.offset == nil else {
            throw SQLError.binder("ORDER BY, LIMIT and OFFSET are not allowed in recursive CTE \"\(name)\"", loc)
        }
        let anchor = try bindQuery(Query(body: op.left), outer: nil)
        guard cte.columns.isEmpty || cte.columns.count == anchor.columns.count else {
            throw SQLError.binder("recursive CTE \"\(name)\" names \(cte.columns.count) columns, but its query has \(anchor.columns.count)", loc)
        }
        let names = cte.columns.isEmpty ? anchor.columns.map(\.name) : cte.columns
        let types = anchor.columns.map { $0.type == .null ? DataType.integer : $0.type }
        let id = nextRecursionID
        nextRecursionID += 1
        cte.working = (id, names, types)
        defer { cte.working = nil }
        let step = try bindQuery(Query(body: op.right), outer: nil)
        guard step.columns.count == types.count else {
            throw SQLError.binder("recursive CTE \"\(name)\": the query before UNION has \(types.count) columns, the one after it \(step.columns.count)", op.location)
        }
        return .recursive(conformed(anchor, to: types), conformed(step, to: types),
                          id: id, distinct: !op.all, columns: zip(names, types).map { newColumn($0, $1) })
    }

    /// `plan`'s columns cast to `types` where they differ (an explicit cast: a DECIMAL step of an INTEGER CTE rounds).
    private func conformed(_ plan: LogicalPlan, to types: [DataType]) -> LogicalPlan {
        guard zip(plan.columns, types).contains(where: { $0.type != $1 }) else { return plan }
        let exprs = zip(plan.columns, types).map { c, t -> BoundExpr in c.type == t ? .column(c.id, c.type) : .cast(.column(c.id, c.type), t) }
        return .project(plan, exprs, columns: zip(plan.columns, types).map { newColumn($0.name, $1) })
    }
}
