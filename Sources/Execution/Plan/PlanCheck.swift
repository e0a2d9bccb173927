import Columnar
public import SQL

/// Checks a physical query made elsewhere (decoded from the wire) before it
/// runs: every node has the inputs its kind needs, every column reference is
/// in range with the type its input has, every schema is what its node
/// produces, every subquery and CTE reference exists. The operators trust
/// their plan; this is what earns them that trust, so no plan, however
/// made, can make one index outside a batch.
extension PhysicalQuery {
    public func check() throws(SQLError) {
        for (i, s) in subqueries.enumerated() {
            // A subquery runs after the ones before it, so it may use only those.
            try PlanCheck(query: self, subqueries: i, tree: "subquery \(i + 1)").node(s)
            guard s.schema.count >= 1 else { throw PlanCheck.error("subquery \(i + 1) returns no column") }
        }
        for (i, c) in ctes.enumerated() {
            try PlanCheck(query: self, subqueries: subqueries.count, tree: "CTE \(i + 1)").node(c)
        }
        try PlanCheck(query: self, subqueries: subqueries.count, tree: "the plan").node(root)
    }
}

extension QueryStage {
    /// The most buckets a stage may write, and the most tasks it may have.
    public static let maxBuckets = 100_000
    public static let maxTasks = 100_000

    /// Checks a stage made elsewhere (decoded from a task's payload) before
    /// one of its tasks runs: its fragment as `PhysicalQuery.check` would, and
    /// that every stage it reads comes before it and is listed as a dependency.
    public func check() throws(SQLError) {
        let what = "stage \(id)"
        guard id >= 0, (1...Self.maxTasks).contains(tasks) else { throw PlanCheck.error("\(what) has \(tasks) tasks") }
        guard subqueries.count == subqueryTypes.count, subqueries.allSatisfy({ $0 >= 0 && $0 < id }) else {
            throw PlanCheck.error("\(what) lists subqueries that are not earlier stages")
        }
        guard dependsOn.allSatisfy({ $0 >= 0 && $0 < id }) else { throw PlanCheck.error("\(what) depends on a stage that is not earlier") }
        let check = PlanCheck(query: PhysicalQuery(root: plan), subqueries: subqueries.count, tree: what)
        try check.node(plan)
        for n in plan.allNodes {
            if case .stageInput(let s, _) = n.node, !dependsOn.contains(s) {
                throw PlanCheck.error("\(what) reads stage \(s) without depending on it")
            }
        }
        switch output {
        case .single: break
        case .hash(let keys, let n):
            guard (1...Self.maxBuckets).contains(n), !keys.isEmpty else { throw PlanCheck.error("\(what) hashes into \(n) buckets by \(keys.count) keys") }
            for k in keys { try check.expr(k, plan.schema, plan) }
        }
        if case .merge(let keys) = combine { for k in keys { try check.expr(k.expr, plan.schema, plan) } }
        if let scanShares {
            guard scanShares.count == tasks else { throw PlanCheck.error("\(what) shares its files among \(scanShares.count) tasks, not \(tasks)") }
            let files: [DataFile] = plan.allNodes.lazy.compactMap { (n: PhysicalPlan) -> [DataFile]? in if case .scan(let s) = n.node { s.files } else { nil } }.first ?? []
            for share in scanShares.joined() {
                guard share.file >= 0, share.file < files.count else { throw PlanCheck.error("\(what) gives a task file \(share.file) of \(files.count)") }
                if let r = share.range, r.lowerBound < 0 || r.upperBound > files[share.file].size {
                    throw PlanCheck.error("\(what) gives a task bytes \(r) of a file of \(files[share.file].size)")
                }
            }
        }
        if let layout {
            guard layout.count == tasks else { throw PlanCheck.error("\(what) lays out reads for \(layout.count) tasks, not \(tasks)") }
            let shuffled = Set(plan.shuffledStageInputs)
            for slice in layout.joined() {
                guard shuffled.contains(slice.stage) else { throw PlanCheck.error("\(what) gives a task slices of stage \(slice.stage), which it does not read by key") }
                guard slice.buckets.upperBound <= Self.maxBuckets, (slice.producers?.upperBound ?? 0) <= Self.maxTasks else {
                    throw PlanCheck.error("\(what) gives a task buckets \(slice.buckets) of producers \(slice.producers.map { "\($0)" } ?? "all")")
                }
            }
        }
    }
}

struct PlanCheck {
    let query: PhysicalQuery
    /// How many subqueries expressions here may refer to.
    let subqueries: Int
    let tree: String

    static func error(_ why: String) -> SQLError { .execution("Invalid plan: \(why)") }
    func error(_ p: PhysicalPlan, _ why: String) -> SQLError { Self.error("\(tree), node \(p.id): \(why)") }

    func node(_ p: PhysicalPlan) throws(SQLError) {
        for i in p.inputs { try node(i) }
        let want: Int
        switch p.node {
        case .scan, .values, .cteScan, .stageInput, .workingTable: want = 0
        case .hashJoin, .nestedLoopJoin, .recursiveCTE: want = 2
        case .union: want = max(2, p.inputs.count)
        default: want = 1
        }
        guard p.inputs.count == want else { throw error(p, "\(p.inputs.count) inputs where \(want) are needed") }
        let input = p.inputs.first?.schema ?? Schema([])
        func same(_ produced: [DataType]) throws(SQLError) {
            guard produced == p.schema.fields.map(\.type) else {
                throw error(p, "declares columns \(p.schema.fields.map(\.type)) but produces \(produced)")
            }
        }
        func over(_ es: [BoundExpr], _ s: Schema) throws(SQLError) { for e in es { try expr(e, s, p) } }
        func keys(_ ks: [SortKey]) throws(SQLError) { try over(ks.map(\.expr), input) }
        switch p.node {
        case .scan(let spec):
            let all = spec.fullSchema
            guard spec.fields.allSatisfy({ $0 >= 0 && $0 < all.count }) else { throw error(p, "scan reads a column it does not have") }
            try same(spec.outputSchema.fields.map(\.type))
            try over(spec.filters, p.schema)
            if case .csv(let d) = spec.format, d.delimiter == d.quote || d.delimiter == 10 || d.quote == 10 {
                throw error(p, "CSV delimiter, quote and newline must differ")
            }
        case .values(let batches):
            for b in batches {
                guard b.columns.map(\.type) == p.schema.fields.map(\.type), b.columns.allSatisfy({ $0.count == b.rowCount }) else {
                    throw error(p, "rows do not have the node's columns")
                }
            }
        case .cteScan(let id):
            guard id >= 0, id < query.ctes.count else { throw error(p, "CTE \(id + 1) does not exist") }
            try same(query.ctes[id].schema.fields.map(\.type))
        case .filter(let e):
            try expr(e, input, p)
            try same(input.fields.map(\.type))
        case .union:
            for i in p.inputs { try same(i.schema.fields.map(\.type)) }
        case .recursiveCTE(let id, _):
            for i in p.inputs { try same(i.schema.fields.map(\.type)) }
            for w in p.inputs[1].allNodes {
                if case .workingTable(id) = w.node { try same(w.schema.fields.map(\.type)) }
            }
        case .workingTable:
            break   // its recursive CTE checks it (and a working table outside one fails when it runs)
        case .project(let es):
            try over(es, input)
            try same(es.map(\.type))
        case .aggregate(let groups, let aggregates, _):
            try over(groups, input)
            try over(aggregates.flatMap(\.expressions), input)
            guard aggregates.allSatisfy({ ($0.extra != nil) == $0.kind.takesExtra }) else { throw error(p, "an aggregate's second argument is missing or extra") }
            guard aggregates.allSatisfy({ ($0.argument == nil) == ($0.kind == .countStar) }) else {
                throw error(p, "an aggregate is missing its argument")
            }
            try same(groups.map(\.type) + aggregates.map(\.type))
        case .hashJoin(let kind, let probeKeys, let buildKeys, let residual, _):
            guard kind != .cross else { throw error(p, "a hash join cannot be \(kind.rawValue)") }
            guard !probeKeys.isEmpty, probeKeys.count == buildKeys.count else { throw error(p, "join keys do not pair up") }
            try over(probeKeys, input)
            try over(buildKeys, p.inputs[1].schema)
            guard zip(probeKeys, buildKeys).allSatisfy({ $0.type == $1.type }) else { throw error(p, "join keys of different types") }
            let both = Schema(input.fields + p.inputs[1].schema.fields)
            if let residual { try expr(residual, both, p) }
            try same(try joinOutput(kind, input, p.inputs[1].schema, p))
        case .nestedLoopJoin(let kind, let condition):
            let both = Schema(input.fields + p.inputs[1].schema.fields)
            if let condition { try expr(condition, both, p) }
            try same(try joinOutput(kind, input, p.inputs[1].schema, p))
        case .sort(let ks):
            try keys(ks)
            try same(input.fields.map(\.type))
        case .window(let partition, let order, let calls):
            try over(partition, input)
            try keys(order)
            for c in calls {
                try over(c.arguments + [c.frame.start.offset, c.frame.end.offset].compactMap { $0 }, input)
                guard c.partitionBy.isEmpty, c.orderBy.isEmpty else { throw error(p, "a window call carries its own partition or order") }
                try WindowCheck.arguments(c, error: { (why: String) in error(p, why) })
            }
            try same(input.fields.map(\.type) + calls.map(\.type))
        case .topN(let ks, let limit):
            try keys(ks)
            guard limit >= 0 else { throw error(p, "negative limit") }
            try same(input.fields.map(\.type))
        case .limit(let limit, let offset):
            guard (limit ?? 0) >= 0, offset >= 0 else { throw error(p, "negative limit or offset") }
            try same(input.fields.map(\.type))
        case .exchange(let e):
            switch e {
            case .repartition(let ks):
                guard !ks.isEmpty else { throw error(p, "a repartition without keys") }
                try over(ks, input)
            case .gather(.merge(let ks)): try keys(ks)
            case .gather, .broadcast: break
            }
            try same(input.fields.map(\.type))
        case .write(let w):
            guard ["csv", "jsonl", "sluice"].contains(w.format) else { throw error(p, "cannot write format \(w.format)") }
            guard !w.directory.isEmpty, w.delimiter.utf8.count == 1, !w.fileName.contains("/"), w.fileName != "..", w.fileName != "." else {
                throw error(p, "a write needs a directory, a one-byte delimiter and a plain file name")
            }
            for c in w.partitionBy where input.index(of: c) == nil { throw error(p, "PARTITION_BY column \(c) is not written") }
            guard p.schema == WriteSpec.summarySchema else { throw error(p, "a write returns file, rows and bytes") }
        case .stageInput(let stage, let e):
            guard stage >= 0 else { throw error(p, "stage \(stage) does not exist") }
            switch e {
            case .repartition(let ks):
                guard !ks.isEmpty else { throw error(p, "a repartition without keys") }
                try over(ks, p.schema)
            case .gather(.merge(let ks)): try over(ks.map(\.expr), p.schema)
            case .gather, .broadcast: break
            }
        }
    }

    /// The column types a join of this kind produces from its two inputs.
    func joinOutput(_ kind: JoinKind, _ left: Schema, _ right: Schema, _ p: PhysicalPlan) throws(SQLError) -> [DataType] {
        switch kind {
        case .semi, .anti: return left.fields.map(\.type)
        case .mark:
            guard right.fields.last?.type == .boolean else { throw error(p, "a mark join's right side must end with its BOOLEAN placeholder") }
            return left.fields.map(\.type) + [.boolean]
        default: return (left.fields + right.fields).map(\.type)
        }
    }

    func expr(_ e: BoundExpr, _ s: Schema, _ p: PhysicalPlan) throws(SQLError) {
        switch e {
        case .column(let i, let t):
            guard i >= 0, i < s.count else { throw error(p, "column #\(i) of \(s.count)") }
            guard s.fields[i].type == t else { throw error(p, "column #\(i) is \(s.fields[i].type), not \(t)") }
        case .literal(let v, let t):
            guard Self.fits(v, t) else { throw error(p, "a \(t) constant holds \(v)") }
        case .call(let f, let args, _):
            guard f.arity.contains(args.count) else { throw error(p, "\(f.rawValue)() with \(args.count) arguments") }
        case .subqueryValue(let i, _), .inSubqueryRows(_, let i, _):
            guard i >= 0, i < subqueries else { throw error(p, "subquery \(i + 1) is not available here") }
        case .inSubquery, .scalarSubquery, .aggregate, .exists, .window:
            throw error(p, "an expression that only a logical plan may hold")
        case .cast, .caseWhen, .inList:
            break
        }
        for c in e.children { try expr(c, s, p) }
    }

    /// Whether a constant's value has the shape its type stores.
    static func fits(_ v: Value, _ t: DataType) -> Bool {
        switch (v, t.physical) {
        case (.null, _): return true
        case (.bool, .bool): return true
        case (.int, .int32), (.int, .int64), (.int, .int128): return true
        case (.wide, .int128): return true
        case (.double, .double): return true
        case (.string, .string): return true
        case (.interval, .interval): return true
        default: return false
        }
    }
}
