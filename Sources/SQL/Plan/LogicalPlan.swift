public import Columnar

/// Where rows come from: a file set, an in-memory table, ... Implemented by the
/// Execution tier, which alone knows how to read them.
public protocol TableSource: AnyObject, Sendable {
    var schema: Schema { get }
    /// Rows, if known or estimable (join ordering uses it).
    var estimatedRows: Double { get }
    /// Distinct values of a field, if estimated (join ordering uses it).
    func estimatedDistinct(field: Int) -> Double?
    /// Columns that come from Hive-style directory names (`date=2026-11-01/`).
    var partitionColumns: [String] { get }
    /// One line for EXPLAIN: `read_csv lake/sales/*.csv (3 files)`.
    var displayName: String { get }
}

public struct SortKey: Sendable, Hashable {
    public var expr: BoundExpr
    public var ascending: Bool
    public var nullsFirst: Bool

    public init(expr: BoundExpr, ascending: Bool, nullsFirst: Bool) {
        self.expr = expr
        self.ascending = ascending
        self.nullsFirst = nullsFirst
    }
}

/// The logical plan: what to compute, with column ids instead of positions.
public indirect enum LogicalPlan: Sendable {
    /// `columns[i]` reads source field `fields[i]`; `filters` were pushed into the scan.
    case scan(TableSource, fields: [Int], columns: [PlanColumn], filters: [BoundExpr])
    case values([[BoundExpr]], columns: [PlanColumn])
    case filter(LogicalPlan, BoundExpr)
    case project(LogicalPlan, [BoundExpr], columns: [PlanColumn])
    case aggregate(LogicalPlan, groups: [BoundExpr], aggregates: [AggregateCall], columns: [PlanColumn])
    case join(LogicalPlan, LogicalPlan, JoinKind, on: [(BoundExpr, BoundExpr)], residual: BoundExpr?)
    case sort(LogicalPlan, [SortKey])
    case limit(LogicalPlan, limit: Int?, offset: Int)
    /// A CTE referenced more than once: computed once, read by each reference
    /// under its own column ids (positionally the shared plan's columns).
    case materialized(SharedPlan, columns: [PlanColumn])
    /// The first half of a split aggregate: per-group states (partial sums,
    /// counts, minima) that an `.aggregate` above merges. The distributed engine
    /// cuts plans here: partials on each worker, a shuffle by key, finals.
    case partialAggregate(LogicalPlan, groups: [BoundExpr], aggregates: [AggregateCall], columns: [PlanColumn])
    /// Every row of every input, duplicates kept (UNION ALL): input `i`'s
    /// column `k` is output column `k` (the binder made the types agree).
    case union([LogicalPlan], columns: [PlanColumn])
    /// Every input row with one more column per window call (`columns`, in
    /// order); the calls share one PARTITION BY and ORDER BY.
    case window(LogicalPlan, [WindowCall], columns: [PlanColumn])
    /// WITH RECURSIVE: the anchor's rows (first input), then the step's
    /// (second) run again over the rows the last round added, which it reads
    /// as `workingTable(id)`, until a round adds none. `distinct` (UNION, not
    /// UNION ALL): a row produced before is not added again. Inputs' columns
    /// line up with `columns` by position. Only ever the plan of a shared CTE.
    case recursive(LogicalPlan, LogicalPlan, id: Int, distinct: Bool, columns: [PlanColumn])
    /// Inside a recursive CTE's step: the rows the last round added.
    case workingTable(id: Int, columns: [PlanColumn])

    public var columns: [PlanColumn] {
        switch self {
        case .scan(_, _, let c, _), .values(_, let c), .project(_, _, let c), .aggregate(_, _, _, let c), .materialized(_, let c), .partialAggregate(_, _, _, let c),
             .union(_, let c), .recursive(_, _, _, _, let c), .workingTable(_, let c): return c
        case .filter(let p, _), .sort(let p, _), .limit(let p, _, _): return p.columns
        case .window(let p, _, let c): return p.columns + c
        case .join(let l, let r, let kind, _, _):
            switch kind {
            case .semi, .anti: return l.columns
            case .mark: return l.columns + [r.columns.last!]
            default: return l.columns + r.columns
            }
        }
    }

    public var inputs: [LogicalPlan] {
        switch self {
        case .scan, .values, .materialized, .workingTable: return []
        case .recursive(let a, let s, _, _, _): return [a, s]
        case .filter(let p, _), .project(let p, _, _), .aggregate(let p, _, _, _), .sort(let p, _), .limit(let p, _, _), .partialAggregate(let p, _, _, _),
             .window(let p, _, _): return [p]
        case .join(let l, let r, _, _, _): return [l, r]
        case .union(let ps, _): return ps
        }
    }

    /// Every column id used anywhere in the plan (fresh ids are chosen above it).
    public var allColumnIDs: Set<Int> {
        var out = Set(columns.map(\.id))
        for i in inputs { out.formUnion(i.allColumnIDs) }
        return out
    }
}

/// The one place that knows every node's inputs and expressions, so that a
/// rewrite is written once (in the spirit of DataFusion's TreeNode) instead of
/// as a full switch in every pass.
extension LogicalPlan {
    /// This node with its inputs replaced (same count and order as `inputs`).
    public func withNewInputs(_ new: [LogicalPlan]) -> LogicalPlan {
        precondition(new.count == inputs.count, "Internal inconsistency: \(new.count) inputs for a node with \(inputs.count) (this is a bug, please report it)")
        switch self {
        case .scan, .values, .materialized, .workingTable: return self
        case .recursive(_, _, let id, let d, let c): return .recursive(new[0], new[1], id: id, distinct: d, columns: c)
        case .filter(_, let e): return .filter(new[0], e)
        case .project(_, let e, let c): return .project(new[0], e, columns: c)
        case .aggregate(_, let g, let a, let c): return .aggregate(new[0], groups: g, aggregates: a, columns: c)
        case .partialAggregate(_, let g, let a, let c): return .partialAggregate(new[0], groups: g, aggregates: a, columns: c)
        case .join(_, _, let k, let on, let r): return .join(new[0], new[1], k, on: on, residual: r)
        case .sort(_, let k): return .sort(new[0], k)
        case .limit(_, let l, let o): return .limit(new[0], limit: l, offset: o)
        case .union(_, let c): return .union(new, columns: c)
        case .window(_, let w, let c): return .window(new[0], w, columns: c)
        }
    }

    /// Rewrites bottom-up: inputs first, then `f` on the node with its new inputs.
    public func transformUp(_ f: (LogicalPlan) throws(SQLError) -> LogicalPlan) throws(SQLError) -> LogicalPlan {
        var new: [LogicalPlan] = []
        for i in inputs { new.append(try i.transformUp(f)) }
        return try f(inputs.isEmpty ? self : withNewInputs(new))
    }

    /// Rewrites top-down: `f` on the node first, then on the inputs of what it returned.
    public func transformDown(_ f: (LogicalPlan) throws(SQLError) -> LogicalPlan) throws(SQLError) -> LogicalPlan {
        let top = try f(self)
        var new: [LogicalPlan] = []
        for i in top.inputs { new.append(try i.transformDown(f)) }
        return top.inputs.isEmpty ? top : top.withNewInputs(new)
    }

    /// This node with `f` applied to each of its own expressions (not its inputs').
    public func mapExpressions(_ f: (BoundExpr) throws(SQLError) -> BoundExpr) throws(SQLError) -> LogicalPlan {
        func all(_ es: [BoundExpr]) throws(SQLError) -> [BoundExpr] {
            var out: [BoundExpr] = []
            for e in es { out.append(try f(e)) }
            return out
        }
        func calls(_ a: [AggregateCall]) throws(SQLError) -> [AggregateCall] {
            var out: [AggregateCall] = []
            for c in a { out.append(try c.mapExpressions(f)) }
            return out
        }
        switch self {
        case .materialized, .union, .recursive, .workingTable: return self
        case .scan(let s, let fields, let c, let filters): return .scan(s, fields: fields, columns: c, filters: try all(filters))
        case .values(let rows, let c):
            var out: [[BoundExpr]] = []
            for r in rows { out.append(try all(r)) }
            return .values(out, columns: c)
        case .filter(let p, let e): return .filter(p, try f(e))
        case .project(let p, let e, let c): return .project(p, try all(e), columns: c)
        case .aggregate(let p, let g, let a, let c): return .aggregate(p, groups: try all(g), aggregates: try calls(a), columns: c)
        case .partialAggregate(let p, let g, let a, let c): return .partialAggregate(p, groups: try all(g), aggregates: try calls(a), columns: c)
        case .join(let l, let r, let k, let on, let res):
            var keys: [(BoundExpr, BoundExpr)] = []
            for (a, b) in on { keys.append((try f(a), try f(b))) }
            return .join(l, r, k, on: keys, residual: try res.map(f))
        case .sort(let p, let keys):
            var out: [SortKey] = []
            for var k in keys { k.expr = try f(k.expr); out.append(k) }
            return .sort(p, out)
        case .limit: return self
        case .window(let p, let calls, let c):
            var out: [WindowCall] = []
            for w in calls { out.append(try w.mapExpressions(f)) }
            return .window(p, out, columns: c)
        }
    }
}
