import Columnar
import SQL

/// One execution of a physical query in this process. Uncorrelated
/// subqueries run first, in order, and their rows replace the references to
/// them; CTEs run when first read, once. Each plan tree is instantiated as
/// operators per partition (`TreeRun`); exchanges run their producers on
/// threads of their own; the root is drained on the calling thread.
final class QueryRun {
    let query: PhysicalQuery
    /// Parent of every tree's run: cancellation, settings and statistics they share.
    let context: RunContext
    private var subqueryRows: [[RecordBatch]] = []
    private let cteRows: [Once<HeldRows>]
    /// What each running recursive CTE's step reads: the rows its last round added.
    let workingTables = Locked<[Int: [RecordBatch]]>([:])
    /// On the cluster: this task's index, what it reads from earlier stages,
    /// and the slices of its shuffled inputs when the stage has a layout.
    let stageTask: (index: Int, reader: any StageReader, reads: [InputSlice]?, writeTag: String)?
    /// The type of each subquery's column.
    private let subqueryTypes: [DataType]

    init(_ query: PhysicalQuery, partitions: Int, cancel: Cancellation, memory: MemoryPool? = nil, spill: SpillSpace? = nil) {
        self.query = query
        context = RunContext(cancel: cancel, partitions: partitions, memory: memory, spill: spill, holders: Self.holders(query))
        let root = context
        cteRows = query.ctes.map { _ in Once(context: root) }
        stageTask = nil
        subqueryTypes = query.subqueries.map { $0.schema.fields.first?.type ?? .null }
    }

    /// A task of a stage: `fragment` reads earlier stages through `reader`;
    /// `subqueryRows` are the rows of the subqueries its expressions use.
    init(fragment: PhysicalPlan, subqueryRows: [[RecordBatch]], subqueryTypes: [DataType], task: Int, reader: any StageReader,
         reads: [InputSlice]? = nil, writeTag: String, partitions: Int, cancel: Cancellation, memory: MemoryPool? = nil, spill: SpillSpace? = nil) {
        self.subqueryTypes = subqueryTypes
        query = PhysicalQuery(root: fragment)
        context = RunContext(cancel: cancel, partitions: partitions, memory: memory, spill: spill,
                             holders: Self.holders(PhysicalQuery(root: fragment)))
        cteRows = []
        self.subqueryRows = subqueryRows
        stageTask = (task, reader, reads, writeTag)
    }

    /// Operators that hold rows under the memory budget: sorts (windows sort too), final and single
    /// grouped aggregates, joins with a build side of their own. They share it
    /// evenly; the partial aggregates, an eighth of a share each, count as one more.
    static func holders(_ q: PhysicalQuery) -> Int {
        var n = 0, partials = 0
        for tree in [q.root] + q.subqueries + q.ctes {
            for p in tree.allNodes {
                switch p.node {
                case .sort, .window: n += 1
                case .aggregate(let groups, _, .partial) where !groups.isEmpty: partials = 1
                case .aggregate(let groups, _, _) where !groups.isEmpty: n += 1
                case .hashJoin where !p.inputs[1].partitioning.isBroadcast: n += 1
                default: break
                }
            }
        }
        return max(1, n + partials)
    }

    /// Tree numbers for statistics: the root, then subqueries, then CTEs.
    static let rootTree = 0
    func subqueryTree(_ i: Int) -> Int { 1 + i }
    func cteTree(_ i: Int) -> Int { 1 + query.subqueries.count + i }

    /// Runs the query to completion; its rows, in the root's schema.
    func run() throws(SQLError) -> [RecordBatch] {
        var out: [RecordBatch] = []
        try run { out.append($0) }
        return out
    }

    /// Runs the query to completion, handing each non-empty batch of rows (in the root's schema) to `sink` as it comes.
    func run(into sink: (RecordBatch) throws(SQLError) -> Void) throws(SQLError) {
        defer { context.join() }
        for (i, s) in query.subqueries.enumerated() where i >= subqueryRows.count {
            subqueryRows.append(try execute(try resolve(s), tree: subqueryTree(i), parent: context))
        }
        let schema = query.root.schema
        try execute(try resolve(query.root), tree: Self.rootTree, parent: context) { (b) throws(SQLError) in
            try sink(RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount))
        }
    }

    /// Runs one tree in a child run of `parent`, draining its root here into `sink`.
    private func execute(_ plan: PhysicalPlan, tree: Int, parent: RunContext,
                         into sink: (RecordBatch) throws(SQLError) -> Void) throws(SQLError) {
        let run = parent.child()
        defer { run.join() }
        do {
            let root = try TreeRun(query: self, tree: tree, context: run).operator(plan, partition: 0)
            while let b = try root.next() { if b.rowCount > 0 { try sink(b) } }
        } catch {
            run.fail(error)
            throw run.error ?? error
        }
        if let e = run.error { throw e }
    }

    /// One tree's rows, collected.
    func execute(_ plan: PhysicalPlan, tree: Int, parent: RunContext) throws(SQLError) -> [RecordBatch] {
        var out: [RecordBatch] = []
        try execute(plan, tree: tree, parent: parent) { out.append($0) }
        return out
    }

    /// A CTE's rows, computed by the first partition that reads them; held
    /// under the memory limit (a quarter of it at most), spilled past it.
    func cte(_ id: Int, from context: RunContext) throws(SQLError) -> HeldRows {
        try cteRows[id].get { () throws(SQLError) in
            let reservation = context.memory.map { MemoryReservation($0, owner: "WITH query", share: max(1 << 20, $0.limit / 4)) }
            let rows = HeldRows(reservation, spill: context.spill, what: "its rows")
            try execute(try resolve(query.ctes[id]), tree: cteTree(id), parent: context) { (b) throws(SQLError) in try rows.append(b) }
            rows.finish()
            return rows
        }
    }

    // MARK: subquery results

    /// The plan with every subquery reference replaced by the subquery's result.
    private func resolve(_ plan: PhysicalPlan) throws(SQLError) -> PhysicalPlan {
        try plan.transformUp { (p) throws(SQLError) -> PhysicalPlan in
            var q = p
            q.node = try p.node.mapExpressions { (e) throws(SQLError) in try self.substitute(e) }
            return q
        }
    }

    private func substitute(_ e: BoundExpr) throws(SQLError) -> BoundExpr {
        switch e {
        case .subqueryValue(let i, let t):
            let batches = subqueryRows[i]
            let rows = batches.reduce(0) { $0 + $1.rowCount }
            guard rows <= 1 else {
                throw SQLError.execution("More than one row returned by a subquery used as an expression (\(rows) rows); add LIMIT 1 or an aggregate")
            }
            let v = rows == 0 ? Value.null : batches.first { $0.rowCount > 0 }!.columns[0].value(at: 0)
            return .literal(v, t)
        case .inSubqueryRows(let x, let i, let negated):
            let batches = subqueryRows[i]
            let t = subqueryTypes[i]
            var items: [BoundExpr] = []
            var seen = Set<Value>()
            for b in batches {
                for r in 0..<b.rowCount {
                    let v = b.columns[0].value(at: r)
                    if seen.insert(v).inserted { items.append(.literal(v, t)) }
                }
            }
            if items.isEmpty { return .literal(.bool(negated), .boolean) }   // x IN (empty) is FALSE, even for NULL x
            return .inList(try substitute(x), items, negated: negated)
        default:
            return try e.mapChildren { (c) throws(SQLError) in try self.substitute(c) }
        }
    }
}

/// One plan tree's operators for one run: an operator per node per
/// partition, and the state a node's partitions share (a scan's morsel
/// queue, an exchange, a shared build). Built on one thread before anything runs.
final class TreeRun {
    private let query: QueryRun
    let tree: Int
    let context: RunContext
    private var queues: [Int: MorselQueue] = [:]
    private var exchanges: [Int: ExchangeState] = [:]
    private var sharedTables: [Int: Once<JoinTable>] = [:]

    private enum ExchangeState {
        /// A gather in any order (one channel) or a repartition (a channel per partition).
        case channels(Producers, [Channel])
        case preserve(Producers, [Channel])
        case merge(Producers, [Channel], [SortKey])
        case broadcast(Once<HeldRows>, OperatorStats)
        /// A stage input pulled in task order by one partition.
        case stream(any StageStream)
    }

    init(query: QueryRun, tree: Int, context: RunContext) {
        self.query = query
        self.tree = tree
        self.context = context
    }

    /// How many partitions of `p` run.
    func partitions(_ p: PhysicalPlan) -> Int {
        if case .single = p.partitioning { return 1 }
        return context.partitions
    }

    /// Partition `k` of node `p`, with its inputs.
    func `operator`(_ p: PhysicalPlan, partition k: Int) throws(SQLError) -> Operator {
        let op: Operator
        switch p.node {
        case .scan(let spec):
            let queue = try morselQueue(p, spec)
            let scan = ScanOperator(spec, queue: queue.queue, format: spec.format.format(quarantines: context.quarantines),
                                    filters: queue.rowFilters, context: context)
            if k == 0 {
                scan.stats.filesRead = queue.queue.filesRead
                scan.stats.filesSkipped = queue.queue.filesSkipped
                scan.stats.bytesSkipped = queue.queue.bytesSkipped
            }
            op = scan
        case .values(let batches):
            op = ValuesOperator(k == 0 ? batches : [], schema: p.schema, context: context)
        case .cteScan(let id):
            let run = query, ctx = context
            op = SharedRowsSource(schema: p.schema, context: context) { () throws(SQLError) in try run.cte(id, from: ctx) }
        case .recursiveCTE(let id, let distinct):
            let run = query, ctx = context, tree = self.tree
            op = SharedRowsSource(schema: p.schema, context: context) { () throws(SQLError) in
                try run.recursive(p, id: id, distinct: distinct, tree: tree, from: ctx)
            }
        case .workingTable(let id):
            // Read when the round's operators are made, after the round before has finished.
            guard let rows = query.workingTables.withLock({ $0[id] }) else {
                throw SQLError.execution("Invalid plan: working table r\(id + 1) is read outside its recursive CTE")
            }
            op = ValuesOperator(k == 0 ? rows : [], schema: p.schema, context: context)
        case .filter(let e):
            op = FilterOperator(try self.operator(p.inputs[0], partition: k), e, context: context)
        case .union:
            // An input in one partition gives all its rows to partition 0.
            var inputs: [Operator] = []
            for i in p.inputs where partitions(i) > 1 || k == 0 { inputs.append(try self.operator(i, partition: partitions(i) > 1 ? k : 0)) }
            op = UnionOperator(inputs, schema: p.schema, context: context)
        case .project(let es):
            op = ProjectOperator(try self.operator(p.inputs[0], partition: k), es, p.schema, context: context)
        case .aggregate(let groups, let aggregates, let phase):
            op = HashAggregateOperator(try self.operator(p.inputs[0], partition: k), groups: groups, aggregates: aggregates,
                                       schema: p.schema, context: context, partial: phase == .partial)
        case .hashJoin(let kind, let probeKeys, let buildKeys, let residual, _) where !p.inputs[1].partitioning.isBroadcast:
            // This partition's own build side: joined in memory while it fits the memory limit, else by partitions on disk.
            op = GraceHashJoinOperator(probe: try self.operator(p.inputs[0], partition: k), build: try self.operator(p.inputs[1], partition: k),
                                       buildKeys: buildKeys, probeKeys: probeKeys, kind: kind, residual: residual, schema: p.schema, context: context)
        case .hashJoin(let kind, let probeKeys, let buildKeys, let residual, _):
            let probe = try self.operator(p.inputs[0], partition: k)
            let side = try joinSide(p, partition: k)
            let schema = p.inputs[1].schema
            let build: () throws(SQLError) -> JoinTable
            if side.shared {
                // One table for every partition, built by the first to need it with a thread per partition.
                let once = sharedTables[p.id] ?? Once(context: context)
                sharedTables[p.id] = once
                let ctx = context
                build = { () throws(SQLError) in
                    try once.get { () throws(SQLError) in
                        try JoinTable(try side.rows(), schema: schema, keys: buildKeys, threads: ctx.partitions, parallel: ctx.parallel)
                    }
                }
            } else {
                build = { () throws(SQLError) in try JoinTable(try side.rows(), schema: schema, keys: buildKeys) }
            }
            op = HashJoinOperator(probe: probe, build: build, closeBuild: side.close, matches: side.matches, kind: kind, probeKeys: probeKeys,
                                  residual: residual, schema: p.schema, context: context)
        case .nestedLoopJoin(let kind, let condition):
            let outer = try self.operator(p.inputs[0], partition: k)
            let side = try joinSide(p, partition: k)
            let schema = p.inputs[1].schema
            op = NestedLoopJoinOperator(outer: outer, inner: { () throws(SQLError) in RecordBatch.concat(try side.rows(), schema: schema) },
                                        innerSchema: schema, closeInner: side.close, matches: side.matches, kind: kind,
                                        condition: condition, schema: p.schema, context: context)
        case .sort(let keys):
            op = SortOperator(try self.operator(p.inputs[0], partition: k), keys: keys, context: context)
        case .window(let partition, let order, let calls):
            op = WindowOperator(try self.operator(p.inputs[0], partition: k), partitionBy: partition, orderBy: order, calls: calls,
                                schema: p.schema, context: context)
        case .topN(let keys, let limit):
            op = TopNOperator(try self.operator(p.inputs[0], partition: k), keys: keys, limit: limit, context: context)
        case .limit(let limit, let offset):
            op = LimitOperator(try self.operator(p.inputs[0], partition: k), limit: limit, offset: offset, context: context)
        case .exchange, .stageInput:
            op = try consumer(p, partition: k)
        case .write(let spec):
            op = WriteOperator(try self.operator(p.inputs[0], partition: k), spec: spec,
                               tag: "\(query.stageTask?.writeTag ?? "local")-p\(k)", context: context)
        }
        context.stats.record(op.stats, tree: tree, node: p.id)
        return op
    }

    private var matchSets: [Int: SharedMatches] = [:]

    /// A join's build (inner) side for partition `k`: the rows of a broadcast,
    /// which every partition shares (with, for RIGHT and FULL joins, one set of
    /// matched flags), or this partition's own input.
    private func joinSide(_ join: PhysicalPlan, partition k: Int) throws(SQLError)
        -> (rows: () throws(SQLError) -> [RecordBatch], close: () -> Void, shared: Bool, matches: SharedMatches?) {
        let side = join.inputs[1]
        guard case .broadcast = side.partitioning else {
            let input = try self.operator(side, partition: k)
            return ({ () throws(SQLError) in try drain(input) }, { input.close() }, false, nil)
        }
        let rows = try broadcastRows(side)
        var outer = false
        switch join.node {
        case .hashJoin(let kind, _, _, _, _), .nestedLoopJoin(let kind, _): outer = kind.keepsUnmatchedRight
        default: break
        }
        return ({ () throws(SQLError) in try rows().inMemory ?? [] }, {}, true, outer ? sharedMatches(join) : nil)
    }

    /// The flags of a RIGHT or FULL join's shared build rows, one set for all its partitions.
    private func sharedMatches(_ p: PhysicalPlan) -> SharedMatches {
        if let m = matchSets[p.id] { return m }
        let m = SharedMatches(partitions: partitions(p))
        matchSets[p.id] = m
        return m
    }

    // MARK: scans

    private struct ScanState {
        var queue: MorselQueue
        var rowFilters: [BoundExpr]
    }
    private var scans: [Int: ScanState] = [:]

    private func morselQueue(_ p: PhysicalPlan, _ spec: ScanSpec) throws(SQLError) -> ScanState {
        if let s = scans[p.id] { return s }
        // Filters on partition columns alone are decided per file, before opening it.
        let partitionSlots = Set(spec.fields.indices.filter { spec.fields[$0] >= spec.dataSchema.count })
        let pruning = spec.filters.filter { f in !f.columnIDs.isEmpty && f.columnIDs.isSubset(of: partitionSlots) }
        let rows = spec.filters.filter { f in f.columnIDs.isEmpty || !f.columnIDs.isSubset(of: partitionSlots) }
        let state = ScanState(queue: try MorselQueue(spec, pruning: pruning, partitions: context.partitions, context: context),
                              rowFilters: rows)
        scans[p.id] = state
        return state
    }

    // MARK: exchanges

    private func consumer(_ p: PhysicalPlan, partition k: Int) throws(SQLError) -> Operator {
        let kind: Exchange
        switch p.node {
        case .exchange(let e), .stageInput(_, let e): kind = e
        default: throw SQLError.execution("internal error: not an exchange")
        }
        let state = try exchange(p, kind)
        switch state {
        case .channels(let producers, let channels):
            return ChannelSource(channels[channels.count == 1 ? 0 : k], producers: producers, schema: p.schema, context: context)
        case .preserve(let producers, let channels):
            return PreservingGather(channels, producers: producers, schema: p.schema, context: context)
        case .merge(let producers, let channels, let keys):
            return MergingGather(channels, producers: producers, keys: keys, schema: p.schema, context: context)
        case .broadcast:
            let rows = try broadcastRows(p)
            return SharedRowsSource(schema: p.schema, context: context, rows: rows)
        case .stream(let stream):
            guard k == 0 else { return ValuesOperator([], schema: p.schema, context: context) }
            return StreamSource(stream, schema: p.schema, context: context)
        }
    }

    /// The rows of a broadcast exchange, collected once for every reader. A
    /// join's shared build side needs them in memory: they are reserved, and
    /// past the memory limit the query fails rather than the process.
    private func broadcastRows(_ p: PhysicalPlan) throws(SQLError) -> () throws(SQLError) -> HeldRows {
        guard case .broadcast(let once, let stats) = try exchange(p, .broadcast) else {
            throw SQLError.execution("internal error: not a broadcast")
        }
        return { () throws(SQLError) in try once.get { () throws(SQLError) in
            let start = monotonicNanos()
            defer { stats.nanos &+= monotonicNanos() &- start }
            let reservation = self.context.memory.map { MemoryReservation($0, owner: "a join's broadcast side", share: $0.limit) }
            let rows = HeldRows(reservation, spill: nil, what: "rows all its partitions share")
            try self.collectBroadcast(p) { (b) throws(SQLError) in
                stats.rows += b.rowCount
                stats.batches += 1
                try rows.append(b)
            }
            rows.finish()
            stats.peakMemory = max(stats.peakMemory, reservation?.peak ?? 0)
            return rows
        } }
    }

    private var broadcastInputs: [Int: (Producers, Channel)] = [:]
    /// Broadcast stage inputs, already read.
    private var stageRows: [Int: [RecordBatch]] = [:]

    private func collectBroadcast(_ p: PhysicalPlan, into sink: (RecordBatch) throws(SQLError) -> Void) throws(SQLError) {
        if let rows = stageRows.removeValue(forKey: p.id) {
            for b in rows where b.rowCount > 0 { try sink(b) }
            return
        }
        guard let (producers, channel) = broadcastInputs[p.id] else { return }
        producers.start()
        while let item = channel.receive() { if item.batch.rowCount > 0 { try sink(item.batch) } }
        try context.check()
    }

    private func exchange(_ p: PhysicalPlan, _ kind: Exchange) throws(SQLError) -> ExchangeState {
        if let e = exchanges[p.id] { return e }
        var inputs: [Operator] = []
        if case .stageInput(let stage, let e) = p.node {
            // What each task of the earlier stage wrote for this one, a source per task.
            guard let task = query.stageTask else { throw SQLError.execution("internal error: a stage input outside a stage's task") }
            var slices = [InputSlice.whole(stage)]
            if case .repartition = e {
                slices = task.reads?.filter { $0.stage == stage } ?? [InputSlice(stage: stage, buckets: task.index..<(task.index + 1))]
            }
            // Read in task order on this thread unless a merge or this task's own partitions need
            // channels: the same inputs then give the same rows in the same order (a result read
            // again after its worker died resumes by row count), and no producer threads run.
            let inOrder: Bool
            switch e {
            case .gather(.merge): inOrder = false
            case .repartition: inOrder = partitions(p) == 1
            case .gather, .broadcast: inOrder = true
            }
            if inOrder {
                let state: ExchangeState
                if case .broadcast = e {
                    // A join's build side: needed whole.
                    stageRows[p.id] = try task.reader.read(slices).flatMap { $0 }
                    let stats = OperatorStats()
                    context.stats.record(stats, tree: tree, node: p.id)
                    state = .broadcast(Once(context: context), stats)
                } else {
                    state = .stream(try task.reader.stream(slices))
                }
                exchanges[p.id] = state
                return state
            }
            let perTask = try task.reader.read(slices)
            for (t, rows) in perTask.enumerated() { inputs.append(ValuesOperator(rows, schema: p.schema, context: context, morsel: t)) }
        } else {
            let input = p.inputs[0]
            for i in 0..<partitions(input) { inputs.append(try self.operator(input, partition: i)) }
        }
        let n = inputs.count
        let name = "sluice-x\(tree).\(p.id)"
        let state: ExchangeState
        switch kind {
        case .gather(.any):
            let c = Channel(producers: n, context: context)
            let producers = Producers(inputs, name: name, context: context,
                                      route: { _, b, m in b.rowCount == 0 || c.send(b, morsel: m) },
                                      finish: { _ in c.producerDone() })
            state = .channels(producers, [c])
        case .gather(.preserve), .gather(.merge):
            let cs = (0..<n).map { _ in Channel(producers: 1, context: context) }
            let producers = Producers(inputs, name: name, context: context,
                                      route: { i, b, m in cs[i].send(b, morsel: m) },
                                      finish: { i in cs[i].producerDone() })
            if case .gather(.merge(let keys)) = kind { state = .merge(producers, cs, keys) } else { state = .preserve(producers, cs) }
        case .repartition(let keys):
            let m = context.partitions
            let cs = (0..<m).map { _ in Channel(producers: n, context: context) }
            let router = HashRouter(keys: keys, n: m)
            let open = Locked([Bool](repeating: true, count: n * m))
            let producers = Producers(inputs, name: name, context: context,
                                      route: { (i, b, morsel) throws(SQLError) -> Bool in
                                          guard b.rowCount > 0 else { return true }
                                          let parts = try router.split(b)
                                          var wanted = false
                                          for t in 0..<m {
                                              guard open.withLock({ $0[i * m + t] }) else { continue }
                                              if let part = parts[t], !cs[t].send(part, morsel: morsel) {
                                                  open.withLock { $0[i * m + t] = false }
                                                  continue
                                              }
                                              wanted = true
                                          }
                                          return wanted
                                      },
                                      finish: { _ in for c in cs { c.producerDone() } })
            state = .channels(producers, cs)
        case .broadcast:
            let c = Channel(producers: n, context: context)
            let producers = Producers(inputs, name: name, context: context,
                                      route: { _, b, m in b.rowCount == 0 || c.send(b, morsel: m) },
                                      finish: { _ in c.producerDone() })
            broadcastInputs[p.id] = (producers, c)
            let stats = OperatorStats()
            context.stats.record(stats, tree: tree, node: p.id)
            state = .broadcast(Once(context: context), stats)
        }
        exchanges[p.id] = state
        return state
    }
}
