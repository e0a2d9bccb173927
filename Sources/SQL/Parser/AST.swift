public import Columnar

/// The syntax tree the parser produces: what was written, not yet resolved.

public indirect enum Statement: Sendable {
    case query(Query)
    case explain(Statement, analyze: Bool)
    case createTable(name: String, columns: [Field], query: Query?, orReplace: Bool, ifNotExists: Bool)
    case createView(name: String, query: Query, orReplace: Bool)
    case insert(table: String, columns: [String]?, source: Query, location: SourceLocation)
    /// INSERT OVERWRITE name PARTITION (col = value, ...) query: replaces one partition of a dataset.
    case insertOverwrite(table: String, partition: [(column: String, value: Literal)], source: Query, location: SourceLocation)
    /// `UPDATE name SET col = expr, ... [WHERE condition]`.
    case update(table: String, assignments: [(column: String, value: Expr)], filter: Expr?, location: SourceLocation)
    /// `DELETE FROM name [WHERE condition]`.
    case delete(table: String, filter: Expr?, location: SourceLocation)
    case drop(kind: String, name: String, ifExists: Bool, location: SourceLocation)
    case describe(TableRef)
    case copy(Query, path: String, options: [String: Expr])
    /// `SET name = value`, or `RESET name` (value nil): a session setting.
    case set(name: String, value: Expr?, location: SourceLocation)
}

public struct Query: Sendable {
    /// `WITH [RECURSIVE]`: `columns` is set only for a recursive CTE (the
    /// others have their column list applied as a rename of their query).
    public var ctes: [(name: String, query: Query, columns: [String])] = []
    /// `WITH RECURSIVE`: a CTE of this list may read itself.
    public var recursive = false
    public var body: QueryBody
    public var orderBy: [OrderItem] = []
    public var limit: Expr?
    public var offset: Expr?
    public init(ctes: [(name: String, query: Query, columns: [String])] = [], body: QueryBody, orderBy: [OrderItem] = [], limit: Expr? = nil, offset: Expr? = nil) {
        self.ctes = ctes; self.body = body; self.orderBy = orderBy; self.limit = limit; self.offset = offset
    }
}

public indirect enum QueryBody: Sendable {
    case select(SelectCore)
    case values([[Expr]])
    case query(Query)   // parenthesized
    case setOperation(SetOperation)
}

/// `left UNION|INTERSECT|EXCEPT [ALL] [BY NAME] right`.
public struct SetOperation: Sendable {
    public enum Kind: String, Sendable { case union = "UNION", intersect = "INTERSECT", except = "EXCEPT" }
    public var kind: Kind
    /// ALL keeps duplicates; without it (or with DISTINCT) the result is a set.
    public var all: Bool
    /// BY NAME matches columns by name (DuckDB), not by position.
    public var byName: Bool
    public var left: QueryBody
    public var right: QueryBody
    public var location: SourceLocation
    public init(kind: Kind, all: Bool, byName: Bool, left: QueryBody, right: QueryBody, location: SourceLocation) {
        self.kind = kind; self.all = all; self.byName = byName; self.left = left; self.right = right; self.location = location
    }
}

public struct SelectCore: Sendable {
    public var distinct = false
    /// `DISTINCT ON (a, b)`: the first row (by ORDER BY) of each distinct (a, b).
    public var distinctOn: [Expr] = []
    public var items: [SelectItem] = []
    public var from: TableRef?
    public var filter: Expr?
    public var groupBy: [Expr] = []
    /// `GROUPING SETS`, `ROLLUP`, `CUBE`: the sets, as positions in `groupBy`
    /// (nil: one set of all of `groupBy`).
    public var groupingSets: [[Int]]?
    public var having: Expr?
    /// `WINDOW w AS (...)`: named windows, in order (a later one may build on an earlier one).
    public var windows: [(name: String, spec: WindowSpec)] = []
    /// `QUALIFY`: a filter on the results of window functions.
    public var qualify: Expr?
    public init(distinct: Bool = false, items: [SelectItem] = [], from: TableRef? = nil, filter: Expr? = nil, groupBy: [Expr] = [], having: Expr? = nil) {
        self.distinct = distinct; self.items = items; self.from = from; self.filter = filter; self.groupBy = groupBy; self.having = having
    }
}

/// `OVER (...)`: which rows a window function sees.
public struct WindowSpec: Sendable {
    /// A named window this one builds on (`OVER (w ORDER BY x)`, or just `OVER w`).
    public var base: String?
    public var partitionBy: [Expr] = []
    public var orderBy: [OrderItem] = []
    public var frame: FrameClause?
    public var location: SourceLocation
    public init(location: SourceLocation) { self.location = location }
}

public struct FrameClause: Sendable {
    public enum Mode: String, Sendable { case rows = "ROWS", range = "RANGE", groups = "GROUPS" }
    public enum Bound: Sendable {
        case unboundedPreceding, preceding(Expr), currentRow, following(Expr), unboundedFollowing
    }
    public enum Exclude: String, Sendable { case noOthers = "NO OTHERS", currentRow = "CURRENT ROW", group = "GROUP", ties = "TIES" }
    public var mode: Mode
    public var start: Bound
    public var end: Bound
    public var exclude: Exclude = .noOthers
    public var location: SourceLocation
}

public enum SelectItem: Sendable {
    case expr(Expr, alias: String?)
    /// `*` or `t.*`, with DuckDB's `EXCLUDE (a, b)` and `REPLACE (expr AS a)`.
    case star(qualifier: String?, StarModifiers, SourceLocation)
}

public struct StarModifiers: Sendable {
    public var exclude: [String] = []
    public var replace: [(expr: Expr, name: String)] = []
    public init(exclude: [String] = [], replace: [(expr: Expr, name: String)] = []) { self.exclude = exclude; self.replace = replace }
}

public struct OrderItem: Sendable {
    public var expr: Expr
    public var ascending = true
    public var nullsFirst: Bool?   // nil: the default, NULLS LAST either way (DuckDB's rule)
    /// `ORDER BY ALL`: every output column, left to right (`expr` is not used).
    public var all = false
}

public enum JoinKind: String, Sendable {
    case inner = "INNER", left = "LEFT", right = "RIGHT", full = "FULL", cross = "CROSS"
    /// Left rows with at least one match (EXISTS, IN), and left rows with none (NOT EXISTS).
    case semi = "SEMI", anti = "ANTI"
    /// Every left row and one BOOLEAN: TRUE when some right row matches the keys
    /// with the condition TRUE, NULL when none does but the condition was NULL
    /// for one, else FALSE (the three-valued answer of IN, ANY and EXISTS
    /// wherever they stand). The right input's last column is a placeholder
    /// that names the mark column; the join puts the mark in its place.
    case mark = "MARK"
    /// A LEFT join whose left rows may match one right row at most (a scalar
    /// subquery turned into a join): a second match is an error.
    case single = "SINGLE"

    /// Right columns are part of the output (not for SEMI, ANTI, MARK).
    public var outputsRight: Bool { self != .semi && self != .anti && self != .mark }
    /// Left rows without a match still come out (with NULLs, a FALSE mark, or alone for ANTI).
    public var keepsUnmatchedLeft: Bool { [.left, .full, .anti, .mark, .single].contains(self) }
    /// Right rows without a match still come out.
    public var keepsUnmatchedRight: Bool { self == .right || self == .full }
    /// Each left row's output depends only on it and the right rows, so the
    /// left side may be split across tasks or partitions against a whole right side.
    public var leftRowsIndependent: Bool { !keepsUnmatchedRight }
}

public indirect enum TableRef: Sendable {
    case named(String, alias: String?, SourceLocation)
    case path(String, alias: String?, SourceLocation)
    case function(String, args: [FunctionArg], alias: String?, SourceLocation)
    case subquery(Query, alias: String?)
    case join(TableRef, TableRef, JoinKind, on: Expr?, using: [String])
    /// `... AS v(a, b)`: the inner reference with its columns renamed.
    case renamed(TableRef, columns: [String], SourceLocation)
}

public struct FunctionArg: Sendable {
    public var name: String?
    public var value: Expr
}

public struct Expr: Sendable {
    public var kind: ExprKind
    public var location: SourceLocation
    public init(_ kind: ExprKind, _ location: SourceLocation) { self.kind = kind; self.location = location }
}

public enum Literal: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case typed(DataType, String)   // DATE '1998-12-01', TIMESTAMP '...'
    case interval(String, unit: String?)
}

public indirect enum ExprKind: Sendable {
    case column([String])
    case literal(Literal)
    case unary(String, Expr)                       // "-", "+", "NOT"
    case binary(String, Expr, Expr)                // arithmetic, comparison, AND, OR, ||
    case function(String, [Expr], distinct: Bool, star: Bool)
    /// `agg(args ORDER BY ...)`: an aggregate (a `.function`) fed its rows in this order.
    case orderedAggregate(Expr, [OrderItem])
    /// `f(args) OVER (...)`.
    case window(String, [Expr], distinct: Bool, star: Bool, WindowSpec)
    case caseWhen(operand: Expr?, whens: [(Expr, Expr)], otherwise: Expr?)
    case cast(Expr, DataType)
    /// `TRY_CAST(x AS t)`: NULL where the value does not convert.
    case tryCast(Expr, DataType)
    case inList(Expr, [Expr], negated: Bool)
    case inSubquery(Expr, Query, negated: Bool)
    case scalarSubquery(Query)
    case exists(Query, negated: Bool)
    case between(Expr, Expr, Expr, negated: Bool)
    /// `x [NOT] [I]LIKE pattern [ESCAPE 'c']`.
    case like(Expr, Expr, negated: Bool, caseInsensitive: Bool, escape: Expr?)
    case isNull(Expr, negated: Bool)
    case isDistinctFrom(Expr, Expr, negated: Bool)
    case extract(String, Expr)
    case structLiteral([(String, Expr)])           // {'a': 'INT'}, read_csv options
    case listLiteral([Expr])
}

extension Expr {
    /// `COLUMNS('regex')` parses as a column reference `[columnsMarker, regex]` (`*` for COLUMNS(*)) until the binder expands it.
    public static let columnsMarker = "*columns*"

    /// The selector of the `COLUMNS(...)` in this expression, if it has one (outside subqueries).
    public var columnsSelector: String? {
        var found: String?
        _ = replacingColumns { parts in
            if parts.count == 2, parts[0] == Expr.columnsMarker { found = parts[1] }
            return nil
        }
        return found
    }

    /// This expression with column references replaced where `f` returns a
    /// replacement (the binder uses it for select-list aliases in WHERE/HAVING).
    /// Subqueries are left alone: their names are their own.
    public func replacingColumns(_ f: ([String]) -> Expr?) -> Expr {
        func r(_ e: Expr) -> Expr { e.replacingColumns(f) }
        let k: ExprKind
        switch kind {
        case .column(let parts): return f(parts) ?? self
        case .literal, .scalarSubquery, .exists, .structLiteral: return self
        case .unary(let op, let x): k = .unary(op, r(x))
        case .binary(let op, let a, let b): k = .binary(op, r(a), r(b))
        case .function(let n, let args, let d, let s): k = .function(n, args.map(r), distinct: d, star: s)
        case .orderedAggregate(let f, var order):
            for i in order.indices { order[i].expr = r(order[i].expr) }
            k = .orderedAggregate(r(f), order)
        case .window(let n, let args, let d, let s, var w):
            w.partitionBy = w.partitionBy.map(r)
            for i in w.orderBy.indices { w.orderBy[i].expr = r(w.orderBy[i].expr) }
            k = .window(n, args.map(r), distinct: d, star: s, w)
        case .caseWhen(let op, let whens, let other): k = .caseWhen(operand: op.map(r), whens: whens.map { (r($0.0), r($0.1)) }, otherwise: other.map(r))
        case .cast(let x, let t): k = .cast(r(x), t)
        case .tryCast(let x, let t): k = .tryCast(r(x), t)
        case .inList(let x, let items, let n): k = .inList(r(x), items.map(r), negated: n)
        case .inSubquery(let x, let q, let n): k = .inSubquery(r(x), q, negated: n)
        case .between(let x, let lo, let hi, let n): k = .between(r(x), r(lo), r(hi), negated: n)
        case .like(let x, let p, let n, let ci, let e): k = .like(r(x), r(p), negated: n, caseInsensitive: ci, escape: e.map(r))
        case .isNull(let x, let n): k = .isNull(r(x), negated: n)
        case .isDistinctFrom(let a, let b, let n): k = .isDistinctFrom(r(a), r(b), negated: n)
        case .extract(let part, let x): k = .extract(part, r(x))
        case .listLiteral(let items): k = .listLiteral(items.map(r))
        }
        return Expr(k, location)
    }
}
