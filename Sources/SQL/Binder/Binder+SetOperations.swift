import Columnar

/// UNION, INTERSECT and EXCEPT. Both sides are bound on their own; their
/// columns are matched by position (or by name with BY NAME, as DuckDB: the
/// left side's names first, then the right's new ones, a side without a
/// name giving NULL), each pair takes the common type of the two, and the
/// result is named after the left side.
///
/// Only UNION ALL needs a plan node of its own (`.union`): UNION is a
/// grouping by every column over it; INTERSECT and EXCEPT tag each side's
/// rows, group by every column and keep the groups seen on both sides (or on
/// the left only). Grouping treats NULLs as equal, as set operations must.
extension Binder {
    /// `plan` (values, then flag columns) with each row's copy number among equal values after the values.
    func numbered(_ plan: LogicalPlan, values: Int) -> LogicalPlan {
        let cols = plan.columns
        let key = cols.prefix(values).map { BoundExpr.column($0.id, $0.type) }
        let rn = newColumn("_copy", .bigint)
        let call = WindowCall.rowNumber(partitionBy: key, orderBy: [])
        let windowed = LogicalPlan.window(plan, [call], columns: [rn])
        let order = Array(cols.prefix(values)) + [rn] + Array(cols.dropFirst(values))
        return .project(windowed, order.map { .column($0.id, $0.type) }, columns: order.map { newColumn($0.name, $0.type) })
    }

    func bindSetOperation(_ op: SetOperation, outer: Scope?) throws(SQLError) -> LogicalPlan {
        let left = try bindQuery(Query(body: op.left), outer: outer)
        let right = try bindQuery(Query(body: op.right), outer: outer)
        let name = op.kind.rawValue + (op.all ? " ALL" : "")
        var names: [String] = []
        var fromLeft: [Int?] = [], fromRight: [Int?] = []
        if op.byName {
            func index(_ cols: [PlanColumn]) throws(SQLError) -> [String: Int] {
                var out: [String: Int] = [:]
                for (i, c) in cols.enumerated() {
                    guard out.updateValue(i, forKey: c.name.lowercased()) == nil else {
                        throw SQLError.binder("\(name) BY NAME: column \"\(c.name)\" appears twice on one side", op.location)
                    }
                }
                return out
            }
            let l = try index(left.columns), r = try index(right.columns)
            for (i, c) in left.columns.enumerated() {
                names.append(c.name)
                fromLeft.append(i)
                fromRight.append(r[c.name.lowercased()])
            }
            for (i, c) in right.columns.enumerated() where l[c.name.lowercased()] == nil {
                names.append(c.name)
                fromLeft.append(nil)
                fromRight.append(i)
            }
        } else {
            guard left.columns.count == right.columns.count else {
                throw SQLError.binder("each side of \(name) must have the same number of columns (\(left.columns.count) and \(right.columns.count)); "
                    + "or match them by name with \(name) BY NAME", op.location)
            }
            names = left.columns.map(\.name)
            fromLeft = left.columns.indices.map { $0 }
            fromRight = fromLeft
        }
        var types: [DataType] = []
        for k in names.indices {
            let lt = fromLeft[k].map { left.columns[$0].type }, rt = fromRight[k].map { right.columns[$0].type }
            // Types with no common one meet as text, as in DuckDB (a DATE and an INTEGER union into VARCHAR).
            let text = (lt == .varchar) != (rt == .varchar) && lt != nil && rt != nil && lt != .null && rt != .null
            let t = text ? .varchar : TypeRules.common(lt ?? rt ?? .null, rt ?? lt ?? .null) ?? .varchar
            types.append(t == .null ? .integer : t)
        }
        /// One side's rows in the output's column order and types, with `extra` constant columns after.
        func side(_ plan: LogicalPlan, _ pick: [Int?], extra: [Int64]) throws(SQLError) -> LogicalPlan {
            var exprs: [BoundExpr] = []
            for k in names.indices {
                if let i = pick[k] {
                    let c = plan.columns[i]
                    let e = BoundExpr.column(c.id, c.type)
                    exprs.append(types[k] == .varchar && c.type != .varchar ? .cast(e, .varchar) : try coerce(e, to: types[k], at: op.location))
                } else {
                    exprs.append(.literal(.null, types[k]))
                }
            }
            exprs += extra.map { .literal(.int($0), .bigint) }
            let cols = names.indices.map { newColumn(names[$0], types[$0]) } + extra.indices.map { newColumn("_side\($0)", .bigint) }
            return .project(plan, exprs, columns: cols)
        }
        func columns(_ cs: [PlanColumn]) -> [BoundExpr] { cs.map { .column($0.id, $0.type) } }

        switch (op.kind, op.all) {
        case (.union, true):
            let l = try side(left, fromLeft, extra: []), r = try side(right, fromRight, extra: [])
            return .union([l, r], columns: names.indices.map { newColumn(names[$0], types[$0]) })
        case (.union, false):
            let l = try side(left, fromLeft, extra: []), r = try side(right, fromRight, extra: [])
            let all = names.indices.map { newColumn(names[$0], types[$0]) }
            return .aggregate(.union([l, r], columns: all), groups: columns(all), aggregates: [],
                              columns: names.indices.map { newColumn(names[$0], types[$0]) })
        case (.intersect, _), (.except, _):
            // Each row says which side it came from; a group keeps the largest of each flag.
            var l = try side(left, fromLeft, extra: [1, 0]), r = try side(right, fromRight, extra: [0, 1])
            var width = names.count
            if op.all {
                // Copies of a row numbered 1, 2, ... on each side: the k-th copy meets only the other
                // side's k-th, so INTERSECT keeps min(left, right) copies and EXCEPT left - right.
                l = numbered(l, values: names.count)
                r = numbered(r, values: names.count)
                width += 1
            }
            let all = l.columns.map { newColumn($0.name, $0.type) }
            let values = Array(all.prefix(width))
            let flags = [AggregateCall(kind: .max, argument: .column(all[width].id, .bigint), distinct: false, type: .bigint),
                         AggregateCall(kind: .max, argument: .column(all[width + 1].id, .bigint), distinct: false, type: .bigint)]
            let grouped = values.map { newColumn($0.name, $0.type) }
            let seen = [newColumn("_in_left", .bigint), newColumn("_in_right", .bigint)]
            let agg = LogicalPlan.aggregate(.union([l, r], columns: all), groups: columns(values), aggregates: flags, columns: grouped + seen)
            let inRight: Int64 = op.kind == .intersect ? 1 : 0
            let keep = BoundExpr.call(.and, [.call(.eq, [.column(seen[0].id, .bigint), .literal(.int(1), .bigint)], .boolean),
                                             .call(.eq, [.column(seen[1].id, .bigint), .literal(.int(inRight), .bigint)], .boolean)], .boolean)
            let out = names.indices.map { newColumn(names[$0], types[$0]) }
            return .project(.filter(agg, keep), columns(Array(grouped.prefix(names.count))), columns: out)
        }
    }
}
