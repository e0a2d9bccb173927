import Columnar

/// Turns a parsed query into a logical plan: resolves names against the catalog
/// and the FROM clause, types every expression (DuckDB's rules), and places
/// aggregates, HAVING, DISTINCT, ORDER BY and LIMIT.
public final class Binder {
    let catalog: Catalog
    var nextColumnID = 0
    var nextSubqueryID = 0
    /// CTEs in scope, innermost last. A CTE referenced once is bound in place
    /// (filters push into it); one referenced more often is computed once.
    var cteStack: [[String: CTE]] = []

    final class CTE {
        let query: Query
        let references: Int
        /// In a WITH RECURSIVE and reads itself; `columns` names its columns (else the anchor's names do).
        let recursive: Bool
        let columns: [String]
        var shared: SharedPlan?
        /// Being bound now: a reference to it from inside itself would recurse forever.
        var binding = false
        /// While its recursive part is bound: what a reference to itself reads.
        var working: (id: Int, names: [String], types: [DataType])?
        init(query: Query, references: Int, recursive: Bool = false, columns: [String] = []) {
            self.query = query; self.references = references; self.recursive = recursive; self.columns = columns
        }
    }
    /// Recursive CTEs bound so far (each one's working table has its own id).
    var nextRecursionID = 0
    /// Scopes of the queries enclosing the subquery being bound: a name found only
    /// there makes the subquery correlated (the optimizer turns it into a join).
    var outerScopes: [Scope] = []
    /// The named windows (`WINDOW w AS`) of the SELECTs being bound, innermost last.
    var windowFrames: [[String: WindowSpec]] = []
    /// Views being expanded, to refuse a view that refers to itself.
    var expanding: Set<String> = []

    public init(catalog: Catalog) { self.catalog = catalog }

    func newColumn(_ name: String, _ type: DataType, table: String? = nil) -> PlanColumn {
        nextColumnID += 1
        return PlanColumn(id: nextColumnID, name: name, table: table, type: type)
    }

    /// Binds a whole query; the plan's output columns are the query's result columns.
    public func bind(_ query: Query) throws(SQLError) -> LogicalPlan {
        try bindQuery(query, outer: nil)
    }

    // MARK: queries

    func bindQuery(_ q: Query, outer: Scope?) throws(SQLError) -> LogicalPlan {
        if !q.ctes.isEmpty {
            var frame: [String: CTE] = [:]
            cteStack.append(frame)
            let counts = References.count(in: q)
            for (name, cte, columns) in q.ctes {
                let key = name.lowercased()
                let recursive = q.recursive && References.count(in: cte)[key, default: 0] > 0
                frame[key] = CTE(query: cte, references: counts[key, default: 0], recursive: recursive, columns: columns)
                cteStack[cteStack.count - 1] = frame
            }
        }
        defer { if !q.ctes.isEmpty { cteStack.removeLast() } }

        switch q.body {
        case .select(let core):
            return try bindSelect(core, orderBy: q.orderBy, limit: q.limit, offset: q.offset, outer: outer)
        case .values(let rows):
            var plan = try bindValues(rows)
            plan = try applyOrderLimit(plan, scope: Scope(columns: plan.columns, table: nil), q)
            return plan
        case .query(let inner):
            var plan = try bindQuery(inner, outer: outer)
            plan = try applyOrderLimit(plan, scope: Scope(columns: plan.columns, table: nil), q)
            return plan
        case .setOperation(let op):
            var plan = try bindSetOperation(op, outer: outer)
            plan = try applyOrderLimit(plan, scope: Scope(columns: plan.columns, table: nil), q)
            return plan
        }
    }

    func bindValues(_ rows: [[Expr]]) throws(SQLError) -> LogicalPlan {
        let width = rows[0].count
        var bound: [[BoundExpr]] = []
        for row in rows {
            guard row.count == width else {
                throw SQLError.binder("VALUES rows have different lengths (\(width) and \(row.count))", row.first?.location ?? .unknown)
            }
            var r: [BoundExpr] = []
            for e in row { r.append(try bindExpr(e, Scope())) }
            bound.append(r)
        }
        var types: [DataType] = []
        for c in 0..<width {
            var t = bound[0][c].type
            for r in bound.dropFirst() {
                guard let u = TypeRules.common(t, r[c].type) else {
                    throw SQLError.binder("VALUES column \(c + 1) mixes \(t) and \(r[c].type)", rows[0][c].location)
                }
                t = u
            }
            types.append(t == .null ? .integer : t)
        }
        let cols = types.enumerated().map { newColumn("col\($0.offset)", $0.element) }
        for i in bound.indices {
            for c in 0..<width { bound[i][c] = try coerce(bound[i][c], to: types[c], at: rows[i][c].location) }
        }
        return .values(bound, columns: cols)
    }

    /// ORDER BY / LIMIT over a plan whose output columns are all there is to sort by.
    /// `ORDER BY ALL` as the positions of all `count` output columns, each with its direction.
    func expandOrderAll(_ orderBy: [OrderItem], count: Int) throws(SQLError) -> [OrderItem] {
        guard let all = orderBy.first(where: \.all) else { return orderBy }
        guard orderBy.count == 1 else { throw SQLError.binder("ORDER BY ALL cannot be combined with other ORDER BY items", all.expr.location) }
        return (0..<count).map { k in
            OrderItem(expr: Expr(.literal(.number("\(k + 1)")), all.expr.location), ascending: all.ascending, nullsFirst: all.nullsFirst)
        }
    }

    func applyOrderLimit(_ plan: LogicalPlan, scope: Scope, _ q: Query) throws(SQLError) -> LogicalPlan {
        var plan = plan
        if !q.orderBy.isEmpty {
            var keys: [SortKey] = []
            for item in try expandOrderAll(q.orderBy, count: plan.columns.count) {
                try refuseConstantOrder(item.expr)
                let e: BoundExpr
                if case .literal(.number(let n)) = item.expr.kind, let k = Int(n) {
                    guard k >= 1, k <= plan.columns.count else {
                        throw SQLError.binder("ORDER BY position \(k) is not in the select list (1 to \(plan.columns.count))", item.expr.location)
                    }
                    let c = plan.columns[k - 1]
                    e = .column(c.id, c.type)
                } else { e = try bindExpr(item.expr, scope) }
                keys.append(SortKey(expr: e, ascending: item.ascending, nullsFirst: item.nullsFirst ?? false))
            }
            plan = .sort(plan, keys)
        }
        return try applyLimit(plan, q)
    }

    /// `ORDER BY 'name'` or `ORDER BY 1.5` sorts by a constant: DuckDB refuses it rather than ignore it.
    func refuseConstantOrder(_ e: Expr) throws(SQLError) {
        switch e.kind {
        case .literal(.string), .literal(.typed), .literal(.bool), .literal(.interval):
            throw SQLError.binder("ORDER BY a constant that is not a position has no effect; order by a column, an expression or a position", e.location)
        case .literal(.number(let n)) where Int(n) == nil:
            throw SQLError.binder("ORDER BY a constant that is not a position has no effect; order by a column, an expression or a position", e.location)
        default: break
        }
    }

    func applyLimit(_ plan: LogicalPlan, _ q: Query) throws(SQLError) -> LogicalPlan {
        guard q.limit != nil || q.offset != nil else { return plan }
        /// Any constant expression of a number (a fraction rounds half away from zero, as DuckDB), or text that is one.
        func constant(_ e: Expr?, _ what: String) throws(SQLError) -> Int? {
            guard let e else { return nil }
            let b = try bindExpr(e, Scope())
            guard case .literal(let v, let t) = try ConstantFolder.fold(b) else {
                throw SQLError.binder("\(what) must be a constant", e.location)
            }
            if v.isNull { return nil }
            let number: Double?
            switch (v, t) {
            case (.int, .decimal), (.wide, .decimal): number = Double(render(v, as: t) ?? "")
            case (.int(let i), _) where t.isIntegral: number = Double(i)
            case (.wide(let i), _) where t.isIntegral: number = Double(i)
            case (.double(let d), _): number = d
            case (.string(let s), _): number = Double(s.trimmingCharacters(in: .whitespaces))
            default: number = nil
            }
            guard let number, number.isFinite else {
                throw SQLError.binder("\(what) must be a number, not \(t == .varchar ? "'\(render(v, as: t) ?? "")'" : "a \(t)")", e.location)
            }
            let rounded = number.rounded(.toNearestOrAwayFromZero)
            guard rounded >= 0 else { throw SQLError.binder("\(what) cannot be negative", e.location) }
            guard rounded < 9.2e18 else { throw SQLError.binder("\(what) \(number) is too large", e.location) }
            return Int(rounded)
        }
        func isSubquery(_ e: Expr?) -> Bool { if case .scalarSubquery? = e?.kind { return true }; return false }
        if isSubquery(q.limit) || isSubquery(q.offset) { return try limitBySubquery(plan, q) }
        return .limit(plan, limit: try constant(q.limit, "LIMIT"), offset: try constant(q.offset, "OFFSET") ?? 0)
    }

    /// `LIMIT (SELECT ...)`: a count known only when the query runs, so the
    /// rows are numbered in the query's order and those past the offset and
    /// within the count kept (a NULL count is no limit, as DuckDB).
    func limitBySubquery(_ plan: LogicalPlan, _ q: Query) throws(SQLError) -> LogicalPlan {
        func count(_ e: Expr?, _ what: String) throws(SQLError) -> BoundExpr? {
            guard let e else { return nil }
            let b = try bindExpr(e, Scope())
            guard b.type.isIntegral || b.type == .null || b.type.isNumeric else { throw SQLError.binder("\(what) must be a number, not \(b.type)", e.location) }
            return try coerce(b, to: .bigint, at: e.location)
        }
        let limit = try count(q.limit, "LIMIT"), offset = try count(q.offset, "OFFSET")
        var keys: [SortKey] = []
        if case .sort(_, let k) = plan { keys = k }
        let number = newColumn("row_number", .bigint)
        let rn = BoundExpr.column(number.id, .bigint)
        let skipped = offset.map { BoundExpr.call(.coalesce, [$0, .literal(.int(0), .bigint)], .bigint) } ?? .literal(.int(0), .bigint)
        var keep: BoundExpr = .call(.gt, [rn, skipped], .boolean)
        if let limit {
            let within = BoundExpr.call(.le, [.call(.subtract, [rn, skipped], .bigint), limit], .boolean)
            keep = .call(.and, [keep, .call(.or, [.call(.isNull, [limit], .boolean), within], .boolean)], .boolean)
        }
        let numbered = LogicalPlan.window(plan, [WindowCall.rowNumber(partitionBy: [], orderBy: keys)], columns: [number])
        let kept = LogicalPlan.project(.filter(numbered, keep), plan.columns.map { .column($0.id, $0.type) }, columns: plan.columns)
        return keys.isEmpty ? kept : .sort(kept, keys)
    }

    func bindSelect(_ core: SelectCore, orderBy: [OrderItem], limit: Expr?, offset: Expr?, outer: Scope?) throws(SQLError) -> LogicalPlan {
        var named: [String: WindowSpec] = [:]
        for (name, spec) in core.windows {
            guard named[name.lowercased()] == nil else { throw SQLError.binder("window \"\(name)\" is defined twice", spec.location) }
            named[name.lowercased()] = spec
        }
        windowFrames.append(named)
        defer { windowFrames.removeLast() }
        var plan: LogicalPlan
        var scope: Scope
        if let from = core.from {
            (plan, scope) = try bindTableRef(from)
        } else {
            plan = .values([[]], columns: [])
            scope = Scope()
        }
        // Select-list aliases may be used in WHERE and HAVING where no column has the name (DuckDB does).
        let aliases: [String: Expr] = Dictionary(core.items.compactMap { item -> (String, Expr)? in
            if case .expr(let e, let alias?) = item { return (alias.lowercased(), e) }
            return nil
        }, uniquingKeysWith: { first, _ in first })
        func withAliases(_ e: Expr) -> Expr {
            guard !aliases.isEmpty else { return e }
            return e.replacingColumns { parts in
                guard parts.count == 1, (try? scope.resolve(parts, at: .unknown)) == nil else { return nil }
                return aliases[parts[0].lowercased()]
            }
        }
        if let w = core.filter.map(withAliases) {
            let cond = try bindExpr(w, scope)
            try requireBoolean(cond, w.location, "WHERE")
            if containsAggregate(cond) { throw SQLError.binder("aggregate functions are not allowed in WHERE", w.location) }
            if containsWindow(cond) { throw SQLError.binder("window functions are not allowed in WHERE; filter on them with QUALIFY", w.location) }
            plan = .filter(plan, cond)
        }

        // Select list, with * expanded.
        var items: [(expr: BoundExpr, name: String, source: Expr?)] = []
        for item in core.items {
            switch item {
            case .star(let qualifier, let modifiers, let loc):
                let visible = scope.entries.filter { e in
                    if let q = qualifier { return e.table?.lowercased() == q.lowercased() }
                    return !e.qualifiedOnly
                }
                if visible.isEmpty {
                    throw SQLError.binder(qualifier.map { "table \"\($0)\" is not in the FROM clause" } ?? "SELECT * with no FROM clause", loc)
                }
                let names = Set(visible.map { $0.column.name.lowercased() })
                for n in modifiers.exclude + modifiers.replace.map(\.name) where !names.contains(n.lowercased()) {
                    throw SQLError.binder("column \"\(n)\" in EXCLUDE or REPLACE is not among the columns * stands for", loc)
                }
                let excluded = Set(modifiers.exclude.map { $0.lowercased() })
                for e in visible where !excluded.contains(e.column.name.lowercased()) {
                    if let r = modifiers.replace.first(where: { $0.name.lowercased() == e.column.name.lowercased() }) {
                        items.append((try bindExpr(r.expr, scope), e.column.name, r.expr))
                    } else {
                        items.append((.column(e.column.id, e.column.type), e.column.name, nil))
                    }
                }
            case .expr(let e, let alias) where e.columnsSelector != nil:
                for (expanded, name) in try expandColumns(e, scope) {
                    items.append((try bindExpr(expanded, scope), alias ?? name, expanded))
                }
            case .expr(let e, let alias):
                items.append((try bindExpr(e, scope), alias ?? displayName(e), e))
            }
        }

        // GROUP BY: expressions, select-list positions, or select-list aliases.
        var groups: [BoundExpr] = []
        if core.groupBy.count == 1, case .column(let p) = core.groupBy[0].kind, p == ["*all*"] {
            groups = items.filter { !containsAggregate($0.expr) }.map(\.expr)
        } else {
            for g in core.groupBy {
                if case .literal(.number(let n)) = g.kind, let k = Int(n) {
                    guard k >= 1, k <= items.count else { throw SQLError.binder("GROUP BY position \(k) is not in the select list", g.location) }
                    groups.append(items[k - 1].expr)
                } else if case .column(let parts) = g.kind, parts.count == 1,
                          (try? scope.resolve(parts, at: g.location)) == nil,
                          let match = items.first(where: { $0.name.lowercased() == parts[0].lowercased() }) {
                    groups.append(match.expr)
                } else {
                    groups.append(try bindExpr(g, scope))
                }
            }
        }
        var having: BoundExpr? = nil
        if let h = core.having.map(withAliases) {
            having = try bindExpr(h, scope)
            try requireBoolean(having!, h.location, "HAVING")
            if containsWindow(having!) { throw SQLError.binder("window functions are not allowed in HAVING; filter on them with QUALIFY", h.location) }
        }
        var qualify: BoundExpr? = nil
        if let q = core.qualify.map(withAliases) {
            qualify = try bindExpr(q, scope)
            try requireBoolean(qualify!, q.location, "QUALIFY")
        }
        for g in groups where containsWindow(g) {
            throw SQLError.binder("window functions are not allowed in GROUP BY", core.groupBy.first?.location ?? .unknown)
        }
        // ORDER BY items: aliases and positions refer to the select list; anything else is an expression.
        enum OrderTarget { case item(Int), expr(BoundExpr) }
        var orderTargets: [(OrderTarget, OrderItem)] = []
        for o in try expandOrderAll(orderBy, count: items.count) {
            if !o.all { try refuseConstantOrder(o.expr) }
            if case .literal(.number(let n)) = o.expr.kind, let k = Int(n) {
                guard k >= 1, k <= items.count else {
                    throw SQLError.binder("ORDER BY position \(k) is not in the select list (1 to \(items.count))", o.expr.location)
                }
                orderTargets.append((.item(k - 1), o))
            } else if case .column(let parts) = o.expr.kind, parts.count == 1,
                      let k = items.firstIndex(where: { $0.name.lowercased() == parts[0].lowercased() && $0.source != nil }) {
                orderTargets.append((.item(k), o))
            } else {
                let e = try bindExpr(o.expr, scope)
                if let k = items.firstIndex(where: { $0.expr == e }) { orderTargets.append((.item(k), o)) }
                else { orderTargets.append((.expr(e), o)) }
            }
        }

        // DISTINCT ON items: select-list aliases and positions, or expressions (kept hidden like ORDER BY's).
        var distinctTargets: [OrderTarget] = []
        for e in core.distinctOn {
            if case .literal(.number(let n)) = e.kind, let k = Int(n) {
                guard k >= 1, k <= items.count else { throw SQLError.binder("DISTINCT ON position \(k) is not in the select list", e.location) }
                distinctTargets.append(.item(k - 1))
            } else if case .column(let parts) = e.kind, parts.count == 1,
                      let k = items.firstIndex(where: { $0.name.lowercased() == parts[0].lowercased() && $0.source != nil }) {
                distinctTargets.append(.item(k))
            } else {
                let b = try bindExpr(e, scope)
                if let k = items.firstIndex(where: { $0.expr == b }) { distinctTargets.append(.item(k)) } else { distinctTargets.append(.expr(b)) }
            }
        }

        let aggregated = !groups.isEmpty || having != nil || items.contains { containsAggregate($0.expr) } || qualify.map(containsAggregate) ?? false
            || orderTargets.contains { if case .expr(let e) = $0.0 { return containsAggregate(e) }; return false }
        var hidden: [BoundExpr] = orderTargets.compactMap { if case .expr(let e) = $0.0 { return e }; return nil }
            + distinctTargets.compactMap { if case .expr(let e) = $0 { return e }; return nil }
        if aggregated {
            var aggCalls: [AggregateCall] = []
            func collect(_ e: BoundExpr) {
                if case .aggregate(let a) = e { if !aggCalls.contains(a) { aggCalls.append(a) }; return }
                e.children.forEach(collect)
            }
            items.forEach { collect($0.expr) }
            having.map(collect)
            qualify.map(collect)
            hidden.forEach(collect)
            var uniqueGroups: [BoundExpr] = []
            for g in groups where !uniqueGroups.contains(g) {
                if containsAggregate(g) { throw SQLError.binder("aggregate functions are not allowed in GROUP BY", core.groupBy.first?.location ?? .unknown) }
                uniqueGroups.append(g)
            }
            let groupCols = uniqueGroups.map { g -> PlanColumn in
                if case .column(let id, _) = g, let c = plan.columns.first(where: { $0.id == id }) { return newColumn(c.name, c.type, table: c.table) }
                return newColumn("group", g.type)
            }
            let aggCols = aggCalls.map { newColumn($0.kind.rawValue, $0.type) }
            // grouping(a, ...): which of its arguments a row's grouping set leaves out, as bits.
            var groupingCalls: [BoundExpr] = []
            var misuse: SQLError? = nil
            func collectGrouping(_ e: BoundExpr) {
                if case .call(.grouping, let args, _) = e {
                    for a in args where !uniqueGroups.contains(a) {
                        misuse = SQLError.binder("the arguments of grouping() must be GROUP BY expressions", core.groupBy.first?.location ?? .unknown)
                    }
                    if !groupingCalls.contains(e) { groupingCalls.append(e) }
                    return
                }
                e.children.forEach(collectGrouping)
            }
            (items.map(\.expr) + hidden + [having, qualify].compactMap { $0 }).forEach(collectGrouping)
            if let e = misuse { throw e }
            let groupingCols = groupingCalls.map { _ in newColumn("grouping", .bigint) }
            if let sets = core.groupingSets {
                plan = groupingSetsPlan(plan, sets: sets.map { $0.map { i in uniqueGroups.firstIndex(of: groups[i]) ?? 0 } }, groups: uniqueGroups,
                                        aggregates: aggCalls, groupingCalls: groupingCalls, columns: groupCols + aggCols + groupingCols)
            } else {
                plan = .aggregate(plan, groups: uniqueGroups, aggregates: aggCalls, columns: groupCols + aggCols)
            }
            // Re-express everything above the aggregate in terms of its output.
            let inputIDs = Set(scope.entries.map(\.column.id))
            func rewrite(_ e: BoundExpr, _ loc: SourceLocation) throws(SQLError) -> BoundExpr {
                if case .call(.grouping, _, _) = e {
                    // Without GROUPING SETS every row groups by every expression.
                    guard core.groupingSets != nil, let k = groupingCalls.firstIndex(of: e) else { return .literal(.int(0), .bigint) }
                    return .column(groupingCols[k].id, .bigint)
                }
                if let k = uniqueGroups.firstIndex(of: e) { return .column(groupCols[k].id, groupCols[k].type) }
                // A correlated subquery reads the grouped columns above the aggregate as the rest of the expression does.
                for sub in e.subqueries {
                    var map: [Int: BoundExpr] = [:]
                    for id in sub.plan.freeColumnIDs where inputIDs.contains(id) {
                        guard let k = uniqueGroups.firstIndex(where: { if case .column(id, _) = $0 { return true }; return false }) else {
                            let name = scope.entries.first { $0.column.id == id }?.column.name ?? "?"
                            throw SQLError.binder("column \"\(name)\" must appear in the GROUP BY clause or be used in an aggregate function", loc)
                        }
                        map[id] = .column(groupCols[k].id, groupCols[k].type)
                    }
                    sub.plan = sub.plan.renamingColumns(map)
                }
                if case .aggregate(let a) = e, let k = aggCalls.firstIndex(of: a) { return .column(aggCols[k].id, aggCols[k].type) }
                if case .column(let id, _) = e {
                    // A column of an enclosing query is one value per group here.
                    guard inputIDs.contains(id) else { return e }
                    let name = scope.entries.first { $0.column.id == id }?.column.name ?? "?"
                    throw SQLError.binder("column \"\(name)\" must appear in the GROUP BY clause or be used in an aggregate function", loc)
                }
                return try e.mapChildren { (c) throws(SQLError) in try rewrite(c, loc) }
            }
            for i in items.indices { items[i].expr = try rewrite(items[i].expr, items[i].source?.location ?? .unknown) }
            if let h = having { plan = .filter(plan, try rewrite(h, core.having?.location ?? .unknown)) }
            for i in hidden.indices { hidden[i] = try rewrite(hidden[i], .unknown) }
            if let q = qualify { qualify = try rewrite(q, core.qualify?.location ?? .unknown) }
        }

        // Window functions, over the rows (or groups) above; QUALIFY filters on their results.
        let windowed = placeWindows(&plan, items.map(\.expr) + hidden + (qualify.map { [$0] } ?? []))
        for i in items.indices { items[i].expr = windowed[i] }
        for i in hidden.indices { hidden[i] = windowed[items.count + i] }
        if qualify != nil { plan = .filter(plan, windowed[items.count + hidden.count]) }

        // Projection: the select list, then hidden ORDER BY expressions.
        let outCols = items.map { item -> PlanColumn in
            if case .column(let id, let t) = item.expr, let c = plan.columns.first(where: { $0.id == id }), item.source == nil || c.name == item.name {
                return newColumn(item.name, t, table: c.table)
            }
            return newColumn(item.name, item.expr.type)
        }
        let hiddenCols = hidden.map { newColumn("_order", $0.type) }
        plan = .project(plan, items.map(\.expr) + hidden, columns: outCols + hiddenCols)

        if core.distinct {
            guard hidden.isEmpty else {
                throw SQLError.binder("for SELECT DISTINCT, ORDER BY expressions must appear in the select list", orderBy.first?.expr.location ?? .unknown)
            }
            let cols = outCols.map { newColumn($0.name, $0.type, table: $0.table) }
            plan = .aggregate(plan, groups: outCols.map { .column($0.id, $0.type) }, aggregates: [], columns: cols)
        }
        var keys: [SortKey] = []
        var h = 0
        if !orderTargets.isEmpty {
            let visible = plan.columns
            for (target, o) in orderTargets {
                let col: PlanColumn
                switch target {
                case .item(let k): col = visible[k]
                case .expr: col = hiddenCols[h]; h += 1
                }
                keys.append(SortKey(expr: .column(col.id, col.type), ascending: o.ascending, nullsFirst: o.nullsFirst ?? false))
            }
        }
        if !distinctTargets.isEmpty {
            // The first row of each DISTINCT ON group in ORDER BY order.
            let before = plan.columns
            var on: [BoundExpr] = []
            for target in distinctTargets {
                let col: PlanColumn
                switch target {
                case .item(let k): col = outCols[k]
                case .expr: col = hiddenCols[h]; h += 1
                }
                on.append(.column(col.id, col.type))
            }
            let rn = newColumn("_first", .bigint)
            let call = WindowCall.rowNumber(partitionBy: on, orderBy: keys)
            plan = .filter(.window(plan, [call], columns: [rn]), .call(.eq, [.column(rn.id, .bigint), .literal(.int(1), .bigint)], .boolean))
            plan = .project(plan, before.map { .column($0.id, $0.type) }, columns: before)
        }
        if !keys.isEmpty { plan = .sort(plan, keys) }
        plan = try applyLimit(plan, Query(body: .values([]), limit: limit, offset: offset))
        if !hiddenCols.isEmpty {
            plan = .project(plan, outCols.map { .column($0.id, $0.type) }, columns: outCols)
        }
        return plan
    }

    /// GROUPING SETS (ROLLUP, CUBE): the input computed once and aggregated
    /// by each set (positions in `groups`), the groups a set leaves out NULL,
    /// the results one after another; `columns` are the groups', the
    /// aggregates' and the grouping() calls'.
    func groupingSetsPlan(_ input: LogicalPlan, sets: [[Int]], groups: [BoundExpr], aggregates: [AggregateCall],
                          groupingCalls: [BoundExpr], columns: [PlanColumn]) -> LogicalPlan {
        let shared = SharedPlan(plan: input)
        var branches: [LogicalPlan] = []
        for set in sets {
            let ref = input.columns.map { newColumn($0.name, $0.type, table: $0.table) }
            var map: [Int: BoundExpr] = [:]
            for (c, r) in zip(input.columns, ref) { map[c.id] = .column(r.id, r.type) }
            let members = Array(Set(set)).sorted()
            let keyCols = members.map { newColumn("group", groups[$0].type) }
            let aggCols = aggregates.map { newColumn($0.kind.rawValue, $0.type) }
            let calls = aggregates.map { a -> AggregateCall in (try? a.mapExpressions { (e) throws(SQLError) in e.renamingColumns(map) }) ?? a }
            let agg = LogicalPlan.aggregate(.materialized(shared, columns: ref), groups: members.map { groups[$0].renamingColumns(map) },
                                            aggregates: calls, columns: keyCols + aggCols)
            var exprs: [BoundExpr] = []
            for (j, g) in groups.enumerated() {
                if let k = members.firstIndex(of: j) { exprs.append(.column(keyCols[k].id, g.type)) } else { exprs.append(.literal(.null, g.type)) }
            }
            exprs += aggCols.map { .column($0.id, $0.type) }
            for call in groupingCalls {
                guard case .call(_, let args, _) = call else { continue }
                var bits: Int64 = 0
                for a in args { bits = bits << 1 | (members.contains { groups[$0] == a } ? 0 : 1) }
                exprs.append(.literal(.int(bits), .bigint))
            }
            branches.append(.project(agg, exprs, columns: columns.map { newColumn($0.name, $0.type) }))
        }
        return branches.count == 1 ? .project(branches[0], branches[0].columns.map { .column($0.id, $0.type) }, columns: columns) : .union(branches, columns: columns)
    }

    func containsAggregate(_ e: BoundExpr) -> Bool {
        if case .aggregate = e { return true }
        return e.children.contains { containsAggregate($0) }
    }

    func requireBoolean(_ e: BoundExpr, _ loc: SourceLocation, _ clause: String) throws(SQLError) {
        guard e.type == .boolean || e.type == .null else {
            throw SQLError.binder("\(clause) needs a BOOLEAN condition, not \(e.type)", loc)
        }
    }

    /// The column name a select item gets without an alias (DuckDB prints the expression).
    func displayName(_ e: Expr) -> String {
        switch e.kind {
        case .column(let parts): return parts.last!
        case .function(let n, let args, _, let star):
            return n + "(" + (star ? "*" : args.map(displayName).joined(separator: ", ")) + ")"
        case .orderedAggregate(let f, let order):
            let keys = order.map { displayName($0.expr) + ($0.ascending ? "" : " DESC") }.joined(separator: ", ")
            return String(displayName(f).dropLast()) + " ORDER BY " + keys + ")"
        case .literal(.number(let n)): return n
        case .literal(.string(let s)): return "'\(s)'"
        case .cast(let inner, let t): return "CAST(\(displayName(inner)) AS \(t))"
        case .extract(let f, let inner): return "extract(\(f) FROM \(displayName(inner)))"
        case .binary(let op, let l, let r): return "(\(displayName(l)) \(op) \(displayName(r)))"
        default: return "expr"
        }
    }

    // MARK: FROM

    func bindTableRef(_ ref: TableRef) throws(SQLError) -> (LogicalPlan, Scope) {
        switch ref {
        case .named(let name, let alias, let loc):
            let key = name.lowercased()
            for frame in cteStack.reversed() {
                if let cte = frame[key] {
                    if cte.binding {
                        guard let working = cte.working else {
                            throw SQLError.binder(cte.recursive
                                ? "recursive CTE \"\(name)\" reads itself before its UNION: the query before UNION (the anchor) must not"
                                : "Circular reference to CTE \"\(name)\": a CTE that reads itself needs WITH RECURSIVE", loc)
                        }
                        let cols = zip(working.names, working.types).map { newColumn($0, $1, table: alias ?? name) }
                        return (.workingTable(id: working.id, columns: cols), Scope(columns: cols, table: alias ?? name))
                    }
                    cte.binding = true
                    defer { cte.binding = false }
                    if cte.recursive {
                        // Always computed once and read by every reference (its rounds cannot be inlined).
                        let shared: SharedPlan
                        if let known = cte.shared { shared = known } else { shared = SharedPlan(plan: try bindRecursive(cte, name: name, loc)); cte.shared = shared }
                        let cols = shared.plan.columns.map { newColumn($0.name, $0.type, table: alias ?? name) }
                        return (.materialized(shared, columns: cols), Scope(columns: cols, table: alias ?? name))
                    }
                    guard cte.references > 1 else { return requalify(try bindQuery(cte.query, outer: nil), as: alias ?? name) }
                    if cte.shared == nil { cte.shared = SharedPlan(plan: try bindQuery(cte.query, outer: nil)) }
                    let shared = cte.shared!
                    let cols = shared.plan.columns.map { newColumn($0.name, $0.type, table: alias ?? name) }
                    return (.materialized(shared, columns: cols), Scope(columns: cols, table: alias ?? name))
                }
            }
            guard let entry = try catalog.lookup(name) else {
                let ctes = cteStack.flatMap { Array($0.keys) }
                let hint = nearestName(to: name, among: catalog.names + ctes).map { "; did you mean \"\($0)\"?" } ?? ""
                throw SQLError.binder("table \"\(name)\" does not exist\(hint)", loc)
            }
            switch entry {
            case .table(let source):
                return scan(source, alias: alias ?? name)
            case .view(let q):
                guard expanding.insert(key).inserted else { throw SQLError.binder("view \"\(name)\" refers to itself", loc) }
                defer { expanding.remove(key) }
                let saved = cteStack
                cteStack = []
                defer { cteStack = saved }
                return requalify(try bindQuery(q, outer: nil), as: alias ?? name)
            }
        case .path(let path, let alias, _):
            let source = try catalog.openFiles([path], format: nil, options: [:])
            return scan(source, alias: alias ?? tableName(forPath: path))
        case .function(let name, let args, let alias, let loc):
            let format: String?
            switch name {
            case "read_csv", "read_csv_auto": format = "csv"
            case "read_json", "read_json_auto", "read_ndjson", "read_jsonl": format = "json"
            case "read_sluice": format = "sluice"
            case "read_parquet": throw SQLError.unsupported("Parquet comes in a later release", loc)
            case "range", "generate_series": return try bindSeries(name, args, alias: alias, loc)
            default: throw SQLError.binder("unknown table function \"\(name)\"", loc)
            }
            var paths: [String] = []
            var options: [String: OptionValue] = [:]
            for a in args {
                let v = try optionValue(a.value)
                if let n = a.name { options[n] = v; continue }
                switch v {
                case .string(let p): paths.append(p)
                case .list(let ps): paths += ps
                default: throw SQLError.binder("\(name) takes a file path or a list of paths", a.value.location)
                }
            }
            guard !paths.isEmpty else { throw SQLError.binder("\(name) needs a file path", loc) }
            let source = try catalog.openFiles(paths, format: format, options: options)
            return scan(source, alias: alias ?? tableName(forPath: paths[0]))
        case .subquery(let q, let alias):
            let plan = try bindQuery(q, outer: nil)
            return requalify(plan, as: alias)
        case .renamed(let inner, let names, let loc):
            let (plan, scope) = try bindTableRef(inner)
            let cols = plan.columns
            guard names.count <= cols.count else {
                throw SQLError.binder("\(names.count) column aliases given for \(cols.count) columns", loc)
            }
            let table = scope.entries.first?.table
            if table == Parser.quantifiedAlias, cols.count != 1 {
                throw SQLError.binder("the subquery of ANY or ALL must return one column, not \(cols.count)", loc)
            }
            let renamed = cols.enumerated().map { k, c in newColumn(k < names.count ? names[k] : c.name, c.type, table: table) }
            let projected = LogicalPlan.project(plan, cols.map { .column($0.id, $0.type) }, columns: renamed)
            return (projected, Scope(columns: renamed, table: table))
        case .join(let l, let r, let kind, let on, let using):
            let (lp, ls) = try bindTableRef(l)
            let (rp, rs) = try bindTableRef(r)
            var scope = ls + rs
            var condition: BoundExpr? = nil
            if let on {
                condition = try bindExpr(on, scope)
                try requireBoolean(condition!, on.location, "JOIN ... ON")
            } else if !using.isEmpty {
                var conds: [BoundExpr] = []
                for name in using {
                    let a = try ls.resolve([name], at: .unknown), b = try rs.resolve([name], at: .unknown)
                    conds.append(try comparison("=", .column(a.id, a.type), .column(b.id, b.type), .unknown))
                    for i in scope.entries.indices where scope.entries[i].column.id == b.id { scope.entries[i].qualifiedOnly = true }
                }
                condition = conds.dropFirst().reduce(conds[0]) { .call(.and, [$0, $1], .boolean) }
            }
            return (.join(lp, rp, kind, on: [], residual: condition), scope)
        }
    }

    func scan(_ source: TableSource, alias: String) -> (LogicalPlan, Scope) {
        let cols = source.schema.fields.map { newColumn($0.name, $0.type, table: alias) }
        return (.scan(source, fields: Array(source.schema.fields.indices), columns: cols, filters: []), Scope(columns: cols, table: alias))
    }

    /// Gives a derived table's columns the alias as their table name.
    func requalify(_ plan: LogicalPlan, as alias: String?) -> (LogicalPlan, Scope) {
        var cols = plan.columns
        for i in cols.indices { cols[i].table = alias }
        return (plan, Scope(columns: cols, table: alias))
    }

    func tableName(forPath path: String) -> String {
        var base = path.split(separator: "/").last.map(String.init) ?? path
        while let dot = base.firstIndex(of: ".") { base = String(base[..<dot]) }
        return base.contains("*") ? "files" : base
    }

    func optionValue(_ e: Expr) throws(SQLError) -> OptionValue {
        switch e.kind {
        case .literal(.string(let s)): return .string(s)
        case .literal(.bool(let b)): return .bool(b)
        case .literal(.number(let n)):
            guard let i = Int(n) else { throw SQLError.binder("expected an integer option", e.location) }
            return .int(i)
        case .column(let parts) where parts.count == 1: return .string(parts[0])
        case .listLiteral(let items):
            var out: [String] = []
            for i in items {
                guard case .string(let s) = try optionValue(i) else { throw SQLError.binder("expected a list of strings", i.location) }
                out.append(s)
            }
            return .list(out)
        case .structLiteral(let fields):
            var out: [(String, String)] = []
            for (k, v) in fields {
                guard case .string(let s) = try optionValue(v) else { throw SQLError.binder("expected a string for \"\(k)\"", v.location) }
                out.append((k, s))
            }
            return .map(out)
        default: throw SQLError.binder("table function options must be constants", e.location)
        }
    }
}
