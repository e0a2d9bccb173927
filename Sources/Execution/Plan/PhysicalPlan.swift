public import Columnar
public import SQL

/// A physical plan: what to run, as a value. An immutable, `Sendable` tree
/// of nodes; expressions address columns by position in their input.
/// Running it (`QueryRun`) creates operators per partition; the plan is never
/// mutated, so one plan can be printed, sent to a worker, or run twice.
///
/// Partitions are explicit: every node declares how its output is
/// partitioned (`partitioning`), and wherever a node needs something else of
/// its input the planner put an `exchange` node in between (hash repartition,
/// gather to one, broadcast to all). In one process an exchange is a channel
/// between threads; on the cluster the same node is a stage boundary.
public struct PhysicalPlan: Sendable {
    public var node: PhysicalNode
    public var inputs: [PhysicalPlan]
    /// The output columns.
    public var schema: Schema
    /// Pre-order position in its tree (0 is the root), set by `numbered()`;
    /// EXPLAIN ANALYZE reports each node's operators under it.
    public var id: Int = 0

    public init(_ node: PhysicalNode, inputs: [PhysicalPlan] = [], schema: Schema) {
        self.node = node
        self.inputs = inputs
        self.schema = schema
    }
}

/// What a node does. Its inputs are `PhysicalPlan.inputs`, in the order each
/// case names them.
public enum PhysicalNode: Sendable {
    /// Reads files (split into morsels when it runs), applying pushed filters.
    case scan(ScanSpec)
    /// Rows known when planning: VALUES, an in-memory table.
    case values([RecordBatch])
    /// Reads the rows of CTE `id` of the query, computed once for every reference.
    case cteScan(id: Int)
    case filter(BoundExpr)
    case project([BoundExpr])
    case aggregate(groups: [BoundExpr], aggregates: [AggregateCall], phase: AggregatePhase)
    /// Inputs: probe, build. `build` says whether the build side is one table
    /// shared by every probe partition (its input is a broadcast) or one per
    /// partition (both inputs repartitioned on their keys).
    case hashJoin(kind: JoinKind, probeKeys: [BoundExpr], buildKeys: [BoundExpr], residual: BoundExpr?, build: BuildDistribution)
    /// Inputs: outer, inner (broadcast). For joins without equality keys.
    case nestedLoopJoin(kind: JoinKind, condition: BoundExpr?)
    /// Sorts each partition; a `gather(.merge)` above combines the runs.
    case sort([SortKey])
    /// The first `limit` rows of each partition by the keys.
    case topN([SortKey], limit: Int)
    /// Of each partition; above a gather, of all.
    case limit(limit: Int?, offset: Int)
    case exchange(Exchange)
    /// On the cluster: what the tasks of stage `stage` wrote for this task,
    /// delivered as `exchange` would deliver its input in one process (the
    /// exchange this node replaced when the plan was cut into stages). A leaf.
    case stageInput(stage: Int, exchange: Exchange)
    /// Writes its input into files (COPY on the cluster); a row per file out.
    case write(WriteSpec)
    /// Every input row (sorted by the keys) with one column per window call;
    /// the input holds whole partitions (hashed on `partitionBy`, or gathered).
    /// The calls' own partition and order lists are empty: these are theirs.
    case window(partitionBy: [BoundExpr], orderBy: [SortKey], calls: [WindowCall])
    /// Every row of every input (UNION ALL), inputs of the same column types.
    /// Partition k reads each input's partition k (an input in one partition, from partition 0).
    case union
    /// WITH RECURSIVE, in one partition: inputs anchor and step. The anchor's
    /// rows, then the step run again and again over the rows the last round
    /// added (its `workingTable(id)` leaves), until a round adds none;
    /// `distinct` (UNION) drops rows produced before.
    case recursiveCTE(id: Int, distinct: Bool)
    /// Inside a recursive CTE's step: the rows of the round before. A leaf.
    case workingTable(id: Int)
}

public enum BuildDistribution: String, Sendable {
    /// One hash table built from all the build rows, probed by every partition.
    case shared
    /// Build and probe both hash-partitioned on the keys; a table per partition.
    case partitioned
}

/// A change of partitioning.
public enum Exchange: Sendable {
    /// Rows go to partition `hash(keys) mod n`: equal keys meet in one partition.
    case repartition(keys: [BoundExpr])
    /// All partitions into one.
    case gather(GatherOrder)
    /// Every consumer partition gets every row (the small side of a join).
    case broadcast
}

extension Exchange {
    /// How the rows it delivers are partitioned.
    public var partitioning: Partitioning {
        switch self {
        case .repartition(let keys): .hash(keys)
        case .gather: .single
        case .broadcast: .broadcast
        }
    }
}

public enum GatherOrder: Sendable {
    /// Any order (the input has none worth keeping: a join, an aggregate).
    case any
    /// The input's order: the scan's rows in file order, through filters and projections.
    case preserve
    /// Each partition is sorted by the keys; the gather merges the runs.
    case merge([SortKey])
}

/// How a node's output is spread over partitions.
public enum Partitioning: Sendable {
    /// One partition.
    case single
    /// As many as run (the threads of a process, the tasks of a stage), split by morsels.
    case spread
    /// Partition `hash(keys) mod n`.
    case hash([BoundExpr])
    /// Every partition holds all rows.
    case broadcast

    public var isBroadcast: Bool {
        if case .broadcast = self { return true }
        return false
    }
}

/// A whole query: its plan, the uncorrelated subqueries its expressions
/// refer to (`.subqueryValue(i)`, `.inSubqueryRows(x, i)`; each runs once,
/// before the plan, in index order), and its shared CTEs (`cteScan(id)`).
public struct PhysicalQuery: Sendable {
    public var root: PhysicalPlan
    public var subqueries: [PhysicalPlan]
    public var ctes: [PhysicalPlan]

    public init(root: PhysicalPlan, subqueries: [PhysicalPlan] = [], ctes: [PhysicalPlan] = []) {
        self.root = root
        self.subqueries = subqueries
        self.ctes = ctes
    }
}

// MARK: - generic rewrites

extension PhysicalPlan {
    /// This node with its inputs replaced.
    public func withNewInputs(_ new: [PhysicalPlan]) -> PhysicalPlan {
        precondition(new.count == inputs.count, "Internal inconsistency: \(new.count) inputs for a node with \(inputs.count) (this is a bug, please report it)")
        var p = self
        p.inputs = new
        return p
    }

    /// Rewrites bottom-up: inputs first, then `f` on the node with its new inputs.
    public func transformUp(_ f: (PhysicalPlan) throws(SQLError) -> PhysicalPlan) throws(SQLError) -> PhysicalPlan {
        var new: [PhysicalPlan] = []
        for i in inputs { new.append(try i.transformUp(f)) }
        return try f(withNewInputs(new))
    }

    /// Rewrites top-down: `f` on the node first, then on the inputs of what it returned.
    public func transformDown(_ f: (PhysicalPlan) throws(SQLError) -> PhysicalPlan) throws(SQLError) -> PhysicalPlan {
        let top = try f(self)
        var new: [PhysicalPlan] = []
        for i in top.inputs { new.append(try i.transformDown(f)) }
        return top.withNewInputs(new)
    }

    /// Every node, pre-order.
    public var allNodes: [PhysicalPlan] {
        [self] + inputs.flatMap(\.allNodes)
    }

    /// The tree with `id`s set in pre-order from `start`.
    public func numbered(from start: Int = 0) -> PhysicalPlan {
        var next = start
        func number(_ p: PhysicalPlan) -> PhysicalPlan {
            var q = p
            q.id = next
            next += 1
            q.inputs = p.inputs.map(number)
            return q
        }
        return number(self)
    }

    /// The stages this fragment reads through a hash shuffle (repartitioned
    /// stage inputs), in plan order, each once.
    public var shuffledStageInputs: [Int] {
        var out: [Int] = []
        for n in allNodes {
            if case .stageInput(let s, .repartition) = n.node, !out.contains(s) { out.append(s) }
        }
        return out
    }

    /// How this node's output is partitioned.
    public var partitioning: Partitioning {
        switch node {
        case .scan: return .spread
        case .values, .cteScan, .recursiveCTE, .workingTable: return .single
        case .union: return inputs.allSatisfy { if case .single = $0.partitioning { true } else { false } } ? .single : .spread
        case .exchange(let e): return e.partitioning
        case .stageInput(_, let e): return e.partitioning
        // A join's output starts with its probe side's columns, at the same positions.
        case .filter, .sort, .topN, .limit, .hashJoin, .nestedLoopJoin, .write, .window:
            return inputs[0].partitioning
        // The output's columns are others: a hash on input columns holds only where they are output, moved.
        case .project(let es):
            return Self.moved(inputs[0].partitioning, to: es)
        case .aggregate(let groups, _, _):
            return Self.moved(inputs[0].partitioning, to: groups)
        }
    }

    /// `p` for an output whose columns are `outputs` (of the input): a hash by
    /// input columns becomes one by their output positions, or just `spread`
    /// when one of them is not output as it is.
    static func moved(_ p: Partitioning, to outputs: [BoundExpr]) -> Partitioning {
        guard case .hash(let keys) = p else { return p }
        var moved: [BoundExpr] = []
        for k in keys {
            guard case .column(_, let type) = k, let i = outputs.firstIndex(of: k) else { return .spread }
            moved.append(.column(i, type))
        }
        return .hash(moved)
    }

    /// Whether rows leave this node in the order they came from its leaves
    /// (so a gather above can keep it): scans, filters, projections, limits.
    public var keepsInputOrder: Bool {
        switch node {
        case .scan, .values, .cteScan: return true
        case .filter, .project, .limit: return inputs[0].keepsInputOrder
        case .exchange(.gather(.preserve)): return inputs[0].keepsInputOrder
        case .stageInput(_, .gather(.preserve)): return true
        default: return false
        }
    }
}

extension PhysicalNode {
    /// The expressions of this node, each over its inputs' columns.
    public var expressions: [BoundExpr] {
        switch self {
        case .scan(let s): return s.filters
        case .values, .cteScan, .limit, .write, .union, .recursiveCTE, .workingTable, .exchange(.gather(.any)), .exchange(.gather(.preserve)),
             .exchange(.broadcast): return []
        case .stageInput(_, let e): return PhysicalNode.exchange(e).expressions
        case .filter(let e): return [e]
        case .project(let es): return es
        case .aggregate(let g, let a, _): return g + a.flatMap(\.expressions)
        case .hashJoin(_, let pk, let bk, let r, _): return pk + bk + (r.map { [$0] } ?? [])
        case .nestedLoopJoin(_, let c): return c.map { [$0] } ?? []
        case .sort(let k), .topN(let k, _), .exchange(.gather(.merge(let k))): return k.map(\.expr)
        case .exchange(.repartition(let k)): return k
        case .window(let p, let o, let calls): return p + o.map(\.expr) + calls.flatMap(\.expressions)
        }
    }

    /// This node with `f` applied to each of its expressions.
    public func mapExpressions(_ f: (BoundExpr) throws(SQLError) -> BoundExpr) throws(SQLError) -> PhysicalNode {
        func all(_ es: [BoundExpr]) throws(SQLError) -> [BoundExpr] {
            var out: [BoundExpr] = []
            for e in es { out.append(try f(e)) }
            return out
        }
        func keys(_ ks: [SortKey]) throws(SQLError) -> [SortKey] {
            var out: [SortKey] = []
            for var k in ks { k.expr = try f(k.expr); out.append(k) }
            return out
        }
        switch self {
        case .values, .cteScan, .limit, .write, .union, .recursiveCTE, .workingTable, .exchange(.gather(.any)), .exchange(.gather(.preserve)),
             .exchange(.broadcast): return self
        case .scan(var s):
            s.filters = try all(s.filters)
            return .scan(s)
        case .filter(let e): return .filter(try f(e))
        case .project(let es): return .project(try all(es))
        case .aggregate(let g, let a, let phase):
            var calls: [AggregateCall] = []
            for c in a { calls.append(try c.mapExpressions(f)) }
            return .aggregate(groups: try all(g), aggregates: calls, phase: phase)
        case .hashJoin(let k, let pk, let bk, let r, let b):
            return .hashJoin(kind: k, probeKeys: try all(pk), buildKeys: try all(bk), residual: try r.map(f), build: b)
        case .nestedLoopJoin(let k, let c): return .nestedLoopJoin(kind: k, condition: try c.map(f))
        case .sort(let k): return .sort(try keys(k))
        case .topN(let k, let l): return .topN(try keys(k), limit: l)
        case .exchange(.gather(.merge(let k))): return .exchange(.gather(.merge(try keys(k))))
        case .exchange(.repartition(let k)): return .exchange(.repartition(keys: try all(k)))
        case .stageInput(let s, let e):
            guard case .exchange(let mapped) = try PhysicalNode.exchange(e).mapExpressions(f) else { return self }
            return .stageInput(stage: s, exchange: mapped)
        case .window(let p, let o, let calls):
            var out: [WindowCall] = []
            for c in calls { out.append(try c.mapExpressions(f)) }
            return .window(partitionBy: try all(p), orderBy: try keys(o), calls: out)
        }
    }
}

/// Where and how a `write` node writes (COPY ... TO on the cluster).
public struct WriteSpec: Sendable, Equatable {
    public var directory: String
    /// "csv", "jsonl" or "sluice".
    public var format: String
    /// Hive-style `key=value/` directories by these columns (left out of the files).
    public var partitionBy: [String]
    public var header: Bool
    public var delimiter: String
    /// One file of this name (a single writer); empty: a file per partition and key.
    public var fileName: String

    public init(directory: String, format: String, partitionBy: [String], header: Bool, delimiter: String, fileName: String) {
        self.directory = directory
        self.format = format
        self.partitionBy = partitionBy
        self.header = header
        self.delimiter = delimiter
        self.fileName = fileName
    }

    /// What a write returns: a row per file written.
    public static let summarySchema = Schema([Field("file", .varchar), Field("rows", .bigint), Field("bytes", .bigint)])
}
