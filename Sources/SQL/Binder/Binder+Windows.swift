import Columnar

extension Binder {
    /// `f(args) OVER (...)` as a window call; it becomes a column once `placeWindows` puts its node in the plan.
    func bindWindow(_ name: String, _ args: [Expr], distinct: Bool, star: Bool, _ written: WindowSpec, _ scope: Scope,
                    _ loc: SourceLocation) throws(SQLError) -> BoundExpr {
        let spec = try resolveWindow(written)
        var partition: [BoundExpr] = []
        for p in spec.partitionBy { partition.append(try bindExpr(p, scope)) }
        var order: [SortKey] = []
        for o in spec.orderBy {
            order.append(SortKey(expr: try bindExpr(o.expr, scope), ascending: o.ascending, nullsFirst: o.nullsFirst ?? false))
        }
        for e in partition + order.map(\.expr) where containsWindow(e) {
            throw SQLError.binder("window functions cannot be nested", loc)
        }
        var bound: [BoundExpr] = []
        for a in args {
            let b = try bindExpr(a, scope)
            if containsWindow(b) { throw SQLError.binder("window functions cannot be nested", a.location) }
            bound.append(b)
        }
        func arity(_ range: ClosedRange<Int>) throws(SQLError) {
            guard range.contains(args.count), !star else {
                throw SQLError.binder("\(name)() takes \(range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)") arguments, not \(args.count)", loc)
            }
        }
        /// A constant integer argument (an offset, a bucket count).
        func constantInt(_ k: Int, least: Int64) throws(SQLError) -> BoundExpr {
            guard case .literal(let v, let t) = try ConstantFolder.fold(bound[k]), t.isIntegral || t == .null else {
                throw SQLError.binder("argument \(k + 1) of \(name)() must be a constant integer", args[k].location)
            }
            if case .int(let n) = v, n < least { throw SQLError.binder("argument \(k + 1) of \(name)() must be at least \(least), not \(n)", args[k].location) }
            return .literal(v, .bigint)
        }
        let function: WindowFunctionKind
        var arguments: [BoundExpr] = []
        let type: DataType
        if let kind = aggregateKind(name, star: star) {
            guard case .aggregate(let call) = try bindAggregate(kind, name: name, args: args, distinct: distinct, scope, loc, overWindow: true) else {
                throw SQLError.binder("\(name) is not an aggregate", loc)
            }
            function = .aggregate(call.kind)
            arguments = call.expressions
            type = call.type
        } else {
            guard let f = WindowFunctionKind(name: name) else {
                throw SQLError.binder("\(name)() is not a window function or an aggregate", loc)
            }
            function = f
            switch f {
            case .rowNumber, .rank, .denseRank:
                try arity(0...0); type = .bigint
            case .percentRank, .cumeDist:
                try arity(0...0); type = .double
            case .ntile:
                try arity(1...1); arguments = [try constantInt(0, least: 1)]; type = .bigint
            case .lag, .lead:
                try arity(1...3)
                var t = bound[0].type
                if bound.count == 3 {
                    guard let c = TypeRules.common(t, bound[2].type) else { throw SQLError.binder("\(name)() default \(bound[2].type) does not fit \(t)", args[2].location) }
                    t = c
                }
                if t == .null { t = .integer }
                arguments = [try coerce(bound[0], to: t, at: args[0].location),
                             bound.count > 1 ? try constantInt(1, least: Int64.min) : .literal(.int(1), .bigint),
                             bound.count > 2 ? try coerce(bound[2], to: t, at: args[2].location) : .literal(.null, t)]
                type = t
            case .firstValue, .lastValue:
                try arity(1...1); arguments = bound; type = bound[0].type == .null ? .integer : bound[0].type
            case .nthValue:
                try arity(2...2); arguments = [bound[0], try constantInt(1, least: 1)]; type = bound[0].type == .null ? .integer : bound[0].type
            case .aggregate:
                throw SQLError.binder("\(name)() is not a window function", loc)
            }
            if distinct { throw SQLError.binder("DISTINCT is only for aggregates, not \(name)()", loc) }
        }
        let frame = try bindFrame(spec.frame, order: order, scope, loc)
        return .window(WindowCall(function: function, arguments: arguments, distinct: distinct, frame: frame, type: type,
                                  partitionBy: partition, orderBy: order))
    }

    /// A window written with a name (`OVER w`, `OVER (w ORDER BY x)`) merged with the named window.
    func resolveWindow(_ spec: WindowSpec) throws(SQLError) -> WindowSpec {
        guard let name = spec.base else { return spec }
        guard let base = windowFrames.last?[name.lowercased()] else {
            throw SQLError.binder("window \"\(name)\" is not defined (name it in the WINDOW clause)", spec.location)
        }
        var out = try resolveWindow(base)
        guard spec.partitionBy.isEmpty else { throw SQLError.binder("a window built on \"\(name)\" cannot have its own PARTITION BY", spec.location) }
        if !spec.orderBy.isEmpty {
            guard out.orderBy.isEmpty else { throw SQLError.binder("window \"\(name)\" already has an ORDER BY", spec.location) }
            out.orderBy = spec.orderBy
        }
        if let f = spec.frame { out.frame = f }
        out.base = nil
        return out
    }

    /// The frame as bound: ROWS and GROUPS offsets as constant counts, RANGE
    /// offsets as the boundary value (the ORDER BY key minus or plus the offset).
    func bindFrame(_ clause: FrameClause?, order: [SortKey], _ scope: Scope, _ loc: SourceLocation) throws(SQLError) -> WindowFrame {
        guard let clause else { return .standard(ordered: !order.isEmpty) }
        func bound(_ b: FrameClause.Bound, isStart: Bool) throws(SQLError) -> FrameBound {
            switch b {
            case .unboundedPreceding:
                guard isStart else { throw SQLError.binder("a frame cannot end at UNBOUNDED PRECEDING", clause.location) }
                return .unboundedPreceding
            case .unboundedFollowing:
                guard !isStart else { throw SQLError.binder("a frame cannot start at UNBOUNDED FOLLOWING", clause.location) }
                return .unboundedFollowing
            case .currentRow: return .currentRow
            case .preceding(let e), .following(let e):
                let preceding: Bool
                if case .preceding = b { preceding = true } else { preceding = false }
                let offset = try ConstantFolder.fold(try bindExpr(e, scope))
                guard case .literal(let v, let t) = offset else {
                    throw SQLError.binder("a frame offset must be a constant", e.location)
                }
                if clause.mode != .range {
                    guard t.isIntegral, case .int(let n) = v else { throw SQLError.binder("a \(clause.mode.rawValue) frame offset must be an integer, not \(t)", e.location) }
                    guard n >= 0 else { throw SQLError.binder("a frame offset cannot be negative (\(n))", e.location) }
                    let count = BoundExpr.literal(.int(n), .bigint)
                    return preceding ? .preceding(count) : .following(count)
                }
                guard order.count == 1 else {
                    throw SQLError.binder("a RANGE frame with an offset needs exactly one ORDER BY expression", clause.location)
                }
                if case .int(let n) = v, n < 0 { throw SQLError.binder("a frame offset cannot be negative (\(n))", e.location) }
                // Preceding means smaller keys in ascending order, larger in descending.
                let key = order[0].expr
                let down = preceding == order[0].ascending
                let boundary = try coerce(try arithmetic(down ? "-" : "+", key, offset, e.location), to: key.type, at: e.location)
                return preceding ? .preceding(boundary) : .following(boundary)
            }
        }
        let start = try bound(clause.start, isStart: true), end = try bound(clause.end, isStart: false)
        let exclude = FrameExclude(rawValue: clause.exclude.rawValue) ?? .noOthers
        return WindowFrame(mode: FrameMode(rawValue: clause.mode.rawValue) ?? .rows, start: start, end: end, exclude: exclude)
    }

    func containsWindow(_ e: BoundExpr) -> Bool {
        if case .window = e { return true }
        return e.children.contains { containsWindow($0) }
    }

    /// Puts the window calls in `exprs` into the plan, one node per partition
    /// and order, and returns the expressions reading their columns instead.
    func placeWindows(_ plan: inout LogicalPlan, _ exprs: [BoundExpr]) -> [BoundExpr] {
        var calls: [WindowCall] = []
        func collect(_ e: BoundExpr) {
            if case .window(let w) = e { if !calls.contains(w) { calls.append(w) }; return }
            e.children.forEach(collect)
        }
        exprs.forEach(collect)
        guard !calls.isEmpty else { return exprs }
        var columns: [WindowCall: BoundExpr] = [:]
        var remaining = calls
        while let first = remaining.first {
            let group = remaining.filter { $0.partitionBy == first.partitionBy && $0.orderBy == first.orderBy }
            remaining.removeAll { $0.partitionBy == first.partitionBy && $0.orderBy == first.orderBy }
            let cols = group.map { newColumn($0.function.name, $0.type) }
            plan = .window(plan, group, columns: cols)
            for (c, col) in zip(group, cols) { columns[c] = .column(col.id, col.type) }
        }
        func replace(_ e: BoundExpr) -> BoundExpr {
            if case .window(let w) = e, let c = columns[w] { return c }
            return (try? e.mapChildren { (c) throws(SQLError) in replace(c) }) ?? e
        }
        return exprs.map(replace)
    }
}
