/// Columns a plan reads from outside itself. A subquery that reads a column of
/// its enclosing query is correlated: the binder binds such a reference to the
/// outer column's id, and these helpers find and rename them.
extension LogicalPlan {
    /// Ids this plan reads that none of its nodes produces (columns of enclosing queries).
    public var freeColumnIDs: Set<Int> {
        var used = Set<Int>()
        var produced = Set<Int>()
        collect(used: &used, produced: &produced)
        return used.subtracting(produced)
    }

    private func collect(used: inout Set<Int>, produced: inout Set<Int>) {
        produced.formUnion(columns.map(\.id))
        var seen: [BoundExpr] = []
        _ = try? mapExpressions { (e) throws(SQLError) in seen.append(e); return e }
        for e in seen {
            used.formUnion(e.columnIDs)
            for s in e.subqueries { used.formUnion(s.plan.freeColumnIDs) }
        }
        if case .materialized(let shared, _) = self { used.formUnion(shared.plan.freeColumnIDs) }
        for i in inputs { i.collect(used: &used, produced: &produced) }
    }

    /// The largest column id anywhere in the plan, its subqueries' and CTEs' plans included.
    public var deepMaxColumnID: Int {
        var top = allColumnIDs.max() ?? 0
        var seen: [BoundExpr] = []
        _ = try? transformUp { (p) throws(SQLError) -> LogicalPlan in
            _ = try p.mapExpressions { (e) throws(SQLError) in seen.append(e); return e }
            if case .materialized(let shared, _) = p { top = max(top, shared.plan.deepMaxColumnID) }
            return p
        }
        for e in seen {
            top = max(top, e.columnIDs.max() ?? 0)
            for s in e.subqueries { top = max(top, s.plan.deepMaxColumnID) }
        }
        return top
    }

    /// This plan with column references renamed by `map` in every expression,
    /// those of subqueries inside included (their plans are updated in place).
    public func renamingColumns(_ map: [Int: BoundExpr]) -> LogicalPlan {
        guard !map.isEmpty else { return self }
        return (try? transformUp { (p) throws(SQLError) -> LogicalPlan in
            try p.mapExpressions { (e) throws(SQLError) in e.renamingColumns(map) }
        }) ?? self
    }
}

extension BoundExpr {
    /// This expression with columns in `map` replaced, inside its subqueries' plans too.
    public func renamingColumns(_ map: [Int: BoundExpr]) -> BoundExpr {
        if case .column(let id, _) = self, let r = map[id] { return r }
        for s in subqueries where !s.plan.freeColumnIDs.isDisjoint(with: map.keys) { s.plan = s.plan.renamingColumns(map) }
        if case .aggregate(let a) = self { return .aggregate((try? a.mapExpressions { (e) throws(SQLError) in e.renamingColumns(map) }) ?? a) }
        return (try? mapChildren { (c) throws(SQLError) in c.renamingColumns(map) }) ?? self
    }
}
