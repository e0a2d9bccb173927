public import Columnar

/// A column flowing through a logical plan. Ids are unique within one query, so
/// rewrites (pushdown, pruning, join reordering) never confuse two columns.
public struct PlanColumn: Hashable, Sendable {
    public var id: Int
    public var name: String
    public var table: String?
    public var type: DataType
}

/// A resolved, typed expression. Columns are referenced by id.
public indirect enum BoundExpr: Sendable, Hashable {
    case column(Int, DataType)
    case literal(Value, DataType)
    /// A scalar function or operator, resolved by the binder.
    case call(ScalarFunction, [BoundExpr], DataType)
    case cast(BoundExpr, DataType)
    case caseWhen([When], otherwise: BoundExpr?, DataType)
    case inList(BoundExpr, [BoundExpr], negated: Bool)
    case inSubquery(BoundExpr, Subquery, negated: Bool)
    case scalarSubquery(Subquery, DataType)
    /// `[NOT] EXISTS (subquery)`: only between binding and decorrelation, which turns it into a join or a count.
    case exists(Subquery, negated: Bool)
    /// In a physical plan: the value of subquery `index` of the plan, filled in
    /// when the query runs (the subquery runs first, once).
    case subqueryValue(Int, DataType)
    /// In a physical plan: `x [NOT] IN (rows of subquery index)`, filled in when the query runs.
    case inSubqueryRows(BoundExpr, Int, negated: Bool)
    /// Only between binding and aggregate rewriting.
    case aggregate(AggregateCall)
    /// Only between binding and placing window nodes.
    case window(WindowCall)

    public struct When: Sendable, Hashable {
        public var condition: BoundExpr
        public var result: BoundExpr

        public init(condition: BoundExpr, result: BoundExpr) {
            self.condition = condition
            self.result = result
        }
    }

    public var type: DataType {
        switch self {
        case .column(_, let t), .literal(_, let t), .call(_, _, let t), .cast(_, let t), .caseWhen(_, _, let t), .scalarSubquery(_, let t),
             .subqueryValue(_, let t):
            return t
        case .inList, .inSubquery, .inSubqueryRows, .exists: return .boolean
        case .aggregate(let a): return a.type
        case .window(let w): return w.type
        }
    }

    public var children: [BoundExpr] {
        switch self {
        case .column, .literal, .scalarSubquery, .aggregate, .subqueryValue, .exists: return []
        case .call(_, let a, _): return a
        case .cast(let e, _): return [e]
        case .caseWhen(let w, let o, _): return w.flatMap { [$0.condition, $0.result] } + (o.map { [$0] } ?? [])
        case .inList(let e, let l, _): return [e] + l
        case .inSubquery(let e, _, _), .inSubqueryRows(let e, _, _): return [e]
        case .window(let w): return w.expressions
        }
    }

    /// Rebuilds this node with its children transformed (bottom-up rewrites).
    public func mapChildren(_ f: (BoundExpr) throws(SQLError) -> BoundExpr) throws(SQLError) -> BoundExpr {
        switch self {
        case .column, .literal, .scalarSubquery, .aggregate, .subqueryValue, .exists: return self
        case .call(let n, let a, let t):
            var out: [BoundExpr] = []
            for x in a { out.append(try f(x)) }
            return .call(n, out, t)
        case .cast(let e, let t): return .cast(try f(e), t)
        case .caseWhen(let w, let o, let t):
            var ws: [When] = []
            for x in w { ws.append(When(condition: try f(x.condition), result: try f(x.result))) }
            return .caseWhen(ws, otherwise: try o.map(f), t)
        case .inList(let e, let l, let n):
            var out: [BoundExpr] = []
            for x in l { out.append(try f(x)) }
            return .inList(try f(e), out, negated: n)
        case .inSubquery(let e, let q, let n): return .inSubquery(try f(e), q, negated: n)
        case .inSubqueryRows(let e, let q, let n): return .inSubqueryRows(try f(e), q, negated: n)
        case .window(let w): return .window(try w.mapExpressions(f))
        }
    }

    /// Ids of every column this expression reads.
    public var columnIDs: Set<Int> {
        var out = Set<Int>()
        func walk(_ e: BoundExpr) {
            if case .column(let id, _) = e { out.insert(id) }
            if case .aggregate(let a) = e { a.expressions.forEach(walk) }
            e.children.forEach(walk)
        }
        walk(self)
        return out
    }

    public var isConstant: Bool {
        switch self {
        case .literal: return true
        case .column, .aggregate, .scalarSubquery, .inSubquery, .subqueryValue, .inSubqueryRows, .exists, .window: return false
        case .call(let n, _, _) where n == .currentDate || n == .currentTimestamp: return true
        default: return children.allSatisfy(\.isConstant)
        }
    }

    /// The subqueries directly in this expression (not inside their plans).
    public var subqueries: [Subquery] {
        var out: [Subquery] = []
        func walk(_ e: BoundExpr) {
            switch e {
            case .scalarSubquery(let s, _), .inSubquery(_, let s, _), .exists(let s, _): out.append(s)
            default: break
            }
            e.children.forEach(walk)
        }
        walk(self)
        return out
    }

    public var containsSubquery: Bool {
        switch self {
        case .scalarSubquery, .inSubquery, .subqueryValue, .inSubqueryRows, .exists: return true
        default: return children.contains { $0.containsSubquery }
        }
    }
}

/// A subquery in an expression. One that reads columns of the enclosing query
/// (correlated) is turned into a join by the optimizer (`Decorrelator`); the
/// others are planned once and evaluated once per query.
public final class Subquery: @unchecked Sendable, Hashable {
    public let id: Int
    public var plan: LogicalPlan
    public init(id: Int, plan: LogicalPlan) { self.id = id; self.plan = plan }
    public static func == (a: Subquery, b: Subquery) -> Bool { a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(id) }
}

/// The plan of a CTE that several references share (see LogicalPlan.materialized).
public final class SharedPlan: @unchecked Sendable {
    public var plan: LogicalPlan
    public var optimized = false
    /// Filled by the executor the first time a reference runs.
    public var results: [RecordBatch]?
    init(plan: LogicalPlan) { self.plan = plan }
}

/// Where an aggregate sits when it is split (see `Optimizer.splitAggregates`):
/// `partial` turns rows into per-group states, `final` merges states, `single`
/// does both over all of a group's rows in one place.
public enum AggregatePhase: String, Sendable, Hashable {
    case single, partial, final
}

public enum AggregateKind: String, Sendable, Hashable, CaseIterable {
    case countStar = "count_star", count, sum, avg, min, max, stddev = "stddev_samp", stddevPop = "stddev_pop",
         varianceSamp = "var_samp", variancePop = "var_pop", median, bool_and, bool_or, any_value = "any_value",
         stringAgg = "string_agg", argMin = "arg_min", argMax = "arg_max", mode, quantileCont = "quantile_cont", quantileDisc = "quantile_disc",
         covarPop = "covar_pop", covarSamp = "covar_samp", corr, regrSlope = "regr_slope", regrIntercept = "regr_intercept",
         regrCount = "regr_count", regrR2 = "regr_r2", regrAvgX = "regr_avgx", regrAvgY = "regr_avgy", regrSXX = "regr_sxx",
         regrSYY = "regr_syy", regrSXY = "regr_sxy", approxCountDistinct = "approx_count_distinct",
         /// The first (last) row's value, NULL or not: of the rows in the call's ORDER BY, else in the order they come.
         first, last

    /// Aggregates of two arguments: the second (`AggregateCall.extra`) is the
    /// separator (string_agg), the ordering key (arg_min, arg_max), the
    /// fraction (quantiles) or the X of (Y, X) pairs (covariance, correlation, regression).
    public var takesExtra: Bool { [.stringAgg, .argMin, .argMax, .quantileCont, .quantileDisc].contains(self) || isPairStatistic }

    /// covar_*, corr and regr_*: statistics of (Y, X) pairs where both are not NULL.
    public var isPairStatistic: Bool {
        [.covarPop, .covarSamp, .corr, .regrSlope, .regrIntercept, .regrCount, .regrR2, .regrAvgX, .regrAvgY, .regrSXX, .regrSYY, .regrSXY].contains(self)
    }
}

public struct AggregateCall: Sendable, Hashable {
    public var kind: AggregateKind
    public var argument: BoundExpr?
    public var distinct: Bool
    public var type: DataType
    /// The second argument of the kinds that take one (see `AggregateKind.takesExtra`).
    public var extra: BoundExpr?
    /// `string_agg(x, ',' ORDER BY y)`: the order the call takes its rows in (empty: any).
    public var orderBy: [SortKey]

    public init(kind: AggregateKind, argument: BoundExpr?, distinct: Bool, type: DataType, extra: BoundExpr? = nil, orderBy: [SortKey] = []) {
        self.kind = kind
        self.argument = argument
        self.distinct = distinct
        self.type = type
        self.extra = extra
        self.orderBy = orderBy
    }

    /// Its argument expressions, then its ORDER BY keys'.
    public var expressions: [BoundExpr] { [argument, extra].compactMap { $0 } + orderBy.map(\.expr) }

    /// This call with `f` applied to its arguments and keys.
    public func mapExpressions(_ f: (BoundExpr) throws(SQLError) -> BoundExpr) throws(SQLError) -> AggregateCall {
        var c = self
        c.argument = try argument.map(f)
        c.extra = try extra.map(f)
        for i in c.orderBy.indices { c.orderBy[i].expr = try f(c.orderBy[i].expr) }
        return c
    }
}
