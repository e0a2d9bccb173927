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

    public var columns: [PlanColumn] {
        switch self {
        case .scan(_, _, let c, _), .values(_, let c), .project(_, _, let c), .aggregate(_, _, _, let c), .materialized(_, let c), .partialAggregate(_, _, _, let c): return c
        case .filter(let p, _), .sort(let p, _), .limit(let p, _, _): return p.columns
        case .join(let l, let r, _, _, _):
            return l.columns + r.columns
        }
    }

    public var inputs: [LogicalPlan] {
        switch self {
        case .scan, .values, .materialized: return []
        case .filter(let p, _), .project(let p, _, _), .aggregate(let p, _, _, _), .sort(let p, _), .limit(let p, _, _), .partialAggregate(let p, _, _, _): return [p]
        case .join(let l, let r, _, _, _): return [l, r]
        }
    }

    /// Every column id used anywhere in the plan (fresh ids are chosen above it).
    public var allColumnIDs: Set<Int> {
        var out = Set(columns.map(\.id))
        for i in inputs { out.formUnion(i.allColumnIDs) }
        return out
    }
}
