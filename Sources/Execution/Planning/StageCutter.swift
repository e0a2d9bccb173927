public import SQL

/// Cuts a physical query into stages for the cluster. The plan must have
/// been made for `partitions` partitions (so it has its exchanges); every
/// exchange becomes a stage boundary: the subtree below it is a stage whose
/// tasks write their rows split as the exchange would deliver them (hashed
/// into `partitions` buckets for a repartition, one bucket otherwise), and
/// the exchange itself becomes a `stageInput` leaf of the stage above.
/// Subqueries and CTEs become stages of their own, ahead of their readers;
/// the last stage is the result.
public struct StageCutter: Sendable {
    /// Buckets of a hash shuffle: the tasks of a stage that reads one.
    public let partitions: Int
    /// The most tasks a stage that scans files is split into.
    public let scanTasks: Int
    /// Bytes below which a scan task is not worth its start (0: split as finely as `scanTasks` allows).
    public let minTaskBytes: Int

    public init(partitions: Int, scanTasks: Int, minTaskBytes: Int = 8 << 20) {
        self.partitions = max(1, partitions)
        self.scanTasks = max(1, scanTasks)
        self.minTaskBytes = max(0, minTaskBytes)
    }

    public func cut(_ query: PhysicalQuery) throws(SQLError) -> StagePlan {
        var state = State(query: query, cutter: self)
        for i in query.subqueries.indices {
            state.subqueryStages.append(try state.stage(query.subqueries[i], output: .single, combine: order(of: query.subqueries[i])))
        }
        _ = try state.stage(query.root, output: .single, combine: order(of: query.root))
        return StagePlan(stages: state.stages)
    }

    /// How rows leave a tree whose readers expect them in order.
    private func order(of p: PhysicalPlan) -> GatherOrder { p.keepsInputOrder ? .preserve : .any }

    private struct State {
        let query: PhysicalQuery
        let cutter: StageCutter
        var stages: [QueryStage] = []
        var subqueryStages: [Int] = []
        var cteStages: [Int: Int] = [:]

        /// Makes `p` a stage (and every stage below it); returns its id.
        mutating func stage(_ p: PhysicalPlan, output: StageOutput, combine: GatherOrder) throws(SQLError) -> Int {
            var inputs: [Int] = []
            let fragment = try cut(p, &inputs)
            let subqueries = StageCutter.subqueriesUsed(fragment)
            var tasks = 1
            var shares: [[ScanShare]]? = nil
            if fragment.allNodes.contains(where: { if case .recursiveCTE = $0.node { true } else { false } }) {
                // A recursive CTE runs its rounds in one task, over all of its files.
            } else if !fragment.shuffledStageInputs.isEmpty {
                tasks = cutter.partitions
            } else if let scan = fragment.allNodes.lazy.compactMap({ if case .scan(let s) = $0.node { s } else { nil } }).first {
                shares = cutter.share(scan)
                tasks = shares!.count
            }
            for i in subqueries where i >= subqueryStages.count {
                throw SQLError.execution("internal error: subquery \(i) is used before it is planned")
            }
            let deps = Set(inputs).union(subqueries.map { subqueryStages[$0] })
            let id = stages.count
            stages.append(QueryStage(id: id, plan: fragment, output: output, combine: combine, tasks: tasks, dependsOn: deps.sorted(),
                                     subqueries: subqueryStages,
                                     subqueryTypes: query.subqueries.prefix(subqueryStages.count).map { $0.schema.fields.first?.type ?? .null },
                                     scanShares: shares))
            return id
        }

        /// The fragment of `p` up to the exchanges below it, each cut into a stage.
        mutating func cut(_ p: PhysicalPlan, _ inputs: inout [Int]) throws(SQLError) -> PhysicalPlan {
            switch p.node {
            case .exchange(let e):
                let input = p.inputs[0]
                let output: StageOutput
                let combine: GatherOrder
                switch e {
                case .repartition(let keys): (output, combine) = (.hash(keys: keys, partitions: cutter.partitions), .any)
                case .gather(let order): (output, combine) = (.single, order)
                case .broadcast: (output, combine) = (.single, .any)
                }
                let s = try stage(input, output: output, combine: combine)
                inputs.append(s)
                var leaf = PhysicalPlan(.stageInput(stage: s, exchange: e), schema: p.schema)
                leaf.id = p.id
                return leaf
            case .cteScan(let id):
                return try cteInput(p, id, &inputs)
            case .recursiveCTE:
                // Its sides run again every round, in the task, exchanges as threads: only the
                // shared CTEs they read are cut, into stages every round reads again.
                return try cutCTEs(p, &inputs)
            default:
                var new: [PhysicalPlan] = []
                for i in p.inputs { new.append(try cut(i, &inputs)) }
                return p.withNewInputs(new)
            }
        }

        /// A shared CTE's scan as the input of the CTE's own stage (made the first time it is read).
        mutating func cteInput(_ p: PhysicalPlan, _ id: Int, _ inputs: inout [Int]) throws(SQLError) -> PhysicalPlan {
            let s: Int
            if let known = cteStages[id] {
                s = known
            } else {
                let cte = query.ctes[id]
                s = try stage(cte, output: .single, combine: cte.keepsInputOrder ? .preserve : .any)
                cteStages[id] = s
            }
            inputs.append(s)
            var leaf = PhysicalPlan(.stageInput(stage: s, exchange: .gather(.preserve)), schema: p.schema)
            leaf.id = p.id
            return leaf
        }

        /// `p` with its shared CTEs' scans cut into stage inputs, and nothing else.
        mutating func cutCTEs(_ p: PhysicalPlan, _ inputs: inout [Int]) throws(SQLError) -> PhysicalPlan {
            if case .cteScan(let id) = p.node { return try cteInput(p, id, &inputs) }
            var new: [PhysicalPlan] = []
            for i in p.inputs { new.append(try cutCTEs(i, &inputs)) }
            return p.withNewInputs(new)
        }
    }

    /// A scan's files dealt out to tasks in file order, about the same bytes
    /// each: whole files, and byte ranges of large text files (a range's
    /// reader finds its first row itself). Compressed and Sluice files go whole.
    func share(_ scan: ScanSpec) -> [[ScanShare]] {
        let total = scan.files.reduce(0) { $0 + max(0, $1.size) }
        // Sluice files split at block starts, which only reading the file finds: whole, as compressed ones.
        let splittable: (DataFile) -> Bool = { f in
            if case .sluice = scan.format { return false }
            return !ByteSource.isCompressed(f.path)
        }
        var tasks = minTaskBytes > 0 ? total / minTaskBytes : Int.max
        if !scan.files.contains(where: splittable) { tasks = min(tasks, scan.files.count) }
        tasks = max(1, min(tasks, scanTasks))
        let target = max(1, (total + tasks - 1) / tasks)
        var out: [[ScanShare]] = [[]]
        var filled = 0
        for (i, f) in scan.files.enumerated() {
            guard splittable(f), f.size > target else {
                if filled > 0, filled + f.size > target, out.count < tasks { out.append([]); filled = 0 }
                out[out.count - 1].append(ScanShare(file: i))
                filled += f.size
                continue
            }
            var at = 0
            while at < f.size {
                if filled >= target, out.count < tasks { out.append([]); filled = 0 }
                let end = out.count == tasks ? f.size : min(f.size, at + (target - filled))
                out[out.count - 1].append(ScanShare(file: i, range: at..<end))
                filled += end - at
                at = end
            }
        }
        return out
    }

    /// The subqueries a fragment's expressions refer to.
    static func subqueriesUsed(_ p: PhysicalPlan) -> Set<Int> {
        var used = Set<Int>()
        func visit(_ e: BoundExpr) {
            switch e {
            case .subqueryValue(let i, _): used.insert(i)
            case .inSubqueryRows(_, let i, _): used.insert(i)
            default: break
            }
            e.children.forEach(visit)
        }
        for n in p.allNodes { _ = try? n.node.mapExpressions { e in visit(e); return e } }
        return used
    }
}
