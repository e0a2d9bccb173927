import Columnar
import SQL

/// Window functions over one partition of the plan (which holds whole window
/// partitions: hashed on the PARTITION BY keys, or gathered). The input goes
/// through a sort by the partition and order keys, which spills under a
/// memory limit like any ORDER BY; each window partition is then held as it
/// streams out of the sort, its calls computed, and its rows sent on with one
/// column per call.
final class WindowOperator: Operator {
    let schema: Schema
    let stats = OperatorStats()
    private let input: Operator
    private let partitionBy: [BoundExpr]
    private let orderBy: [SortKey]
    private let calls: [WindowCall]
    private let context: RunContext
    private var held: [RecordBatch] = []
    private var lastKeys: [Value]?
    private var pending = BatchQueue()
    private var done = false
    /// What the held window partition takes of the query's memory (it cannot spill: a partition too large is a clear error).
    private lazy var memory: MemoryReservation? = context.reservation("WINDOW").map(\.0)

    init(_ input: Operator, partitionBy: [BoundExpr], orderBy: [SortKey], calls: [WindowCall], schema: Schema, context: RunContext) {
        let keys = partitionBy.map { SortKey(expr: $0, ascending: true, nullsFirst: false) } + orderBy
        self.input = keys.isEmpty ? input : SortOperator(input, keys: keys, context: context)
        self.partitionBy = partitionBy
        self.orderBy = orderBy
        self.calls = calls
        self.schema = schema
        self.context = context
    }

    func close() {
        done = true
        held = []
        memory?.free()
        pending = BatchQueue()
        input.close()
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            while true {
                if let b = pending.pop() { return b }
                if done { return nil }
                try context.check()
                guard let b = try input.next() else {
                    done = true
                    if let sort = input as? SortOperator { stats.absorbMemory(of: sort.stats) }
                    try finishPartition()
                    continue
                }
                if b.rowCount > 0 { try split(b) }
            }
        }
    }

    /// Holds `b` in the partition being read, under the memory limit.
    private func hold(_ b: RecordBatch) throws(SQLError) {
        if let memory {
            try memory.require(b.memoryBytes, "one window partition")
            stats.peakMemory = max(stats.peakMemory, memory.peak)
        }
        held.append(b)
    }

    /// Adds a sorted batch to the partition being read, finishing it wherever the keys change.
    private func split(_ b: RecordBatch) throws(SQLError) {
        guard !partitionBy.isEmpty else { try hold(b); return }
        var keys: [Column] = []
        for e in partitionBy { keys.append(try Evaluator.evaluate(e, b)) }
        let comparators = keys.map { RowComparator.make($0, ascending: true, nullsFirst: false) }
        var start = 0
        if let last = lastKeys, zip(keys, last).contains(where: { $0.value(at: 0) != $1 }) { try finishPartition() }
        for i in 1..<max(1, b.rowCount) where comparators.contains(where: { $0(i - 1, i) != 0 }) {
            try hold(b.slice(start..<i))
            try finishPartition()
            start = i
        }
        try hold(start == 0 ? b : b.slice(start..<b.rowCount))
        lastKeys = keys.map { $0.value(at: b.rowCount - 1) }
    }

    private func finishPartition() throws(SQLError) {
        guard !held.isEmpty else { return }
        let rows = RecordBatch.concat(held, schema: input.schema)
        held = []
        defer { memory?.free() }
        guard rows.rowCount > 0 else { return }
        let partition = try WindowPartition(rows, orderBy: orderBy)
        var columns = rows.columns
        for c in calls {
            try context.check()
            columns.append(try partition.compute(c))
        }
        // Batches of the usual size: a sort above (another window's) must hold at least one.
        let out = RecordBatch(schema: schema, columns: columns, rowCount: rows.rowCount)
        for start in stride(from: 0, to: out.rowCount, by: targetBatchRows) {
            pending.append(out.slice(start..<min(out.rowCount, start + targetBatchRows)))
        }
    }
}

/// One window partition's rows in order, with their peer groups (rows equal
/// on the ORDER BY keys), and the computation of a call over them.
struct WindowPartition {
    let rows: RecordBatch
    let n: Int
    let orderBy: [SortKey]
    /// For each row: the first row of its peer group, one past its last, and the group's number.
    private(set) var peerStart: [Int]
    private(set) var peerEnd: [Int]
    private(set) var group: [Int]
    /// The first row of each peer group, then `n`.
    private(set) var groupStarts: [Int]

    init(_ rows: RecordBatch, orderBy: [SortKey]) throws(SQLError) {
        self.rows = rows
        self.orderBy = orderBy
        n = rows.rowCount
        var comparators: [(Int, Int) -> Int] = []
        for k in orderBy { comparators.append(RowComparator.make(try Evaluator.evaluate(k.expr, rows), ascending: k.ascending, nullsFirst: k.nullsFirst)) }
        peerStart = [Int](repeating: 0, count: n)
        peerEnd = [Int](repeating: n, count: n)
        group = [Int](repeating: 0, count: n)
        groupStarts = [0]
        for i in 1..<max(1, n) {
            if comparators.contains(where: { $0(i - 1, i) != 0 }) {
                groupStarts.append(i)
                peerStart[i] = i
            } else {
                peerStart[i] = peerStart[i - 1]
            }
            group[i] = groupStarts.count - 1
        }
        groupStarts.append(n)
        for g in 0..<(groupStarts.count - 1) {
            for i in groupStarts[g]..<groupStarts[g + 1] { peerEnd[i] = groupStarts[g + 1] }
        }
    }

    func compute(_ call: WindowCall) throws(SQLError) -> Column {
        switch call.function {
        case .rowNumber: return ints((0..<n).map { Int64($0 + 1) })
        case .rank: return ints(peerStart.map { Int64($0 + 1) })
        case .denseRank: return ints(group.map { Int64($0 + 1) })
        case .percentRank:
            return Column(type: .double, data: .double(peerStart.map { n > 1 ? Double($0) / Double(n - 1) : 0 }))
        case .cumeDist:
            return Column(type: .double, data: .double(peerEnd.map { Double($0) / Double(n) }))
        case .ntile:
            let buckets = min(Int64(n), try constant(call.arguments[0]) ?? 1)
            let size = Int64(n) / buckets, large = Int64(n) - buckets * size, smallFrom = large * (size + 1)
            return ints((0..<Int64(n)).map { i in i < smallFrom ? 1 + i / (size + 1) : 1 + large + (i - smallFrom) / size })
        case .lag, .lead:
            let value = try Evaluator.evaluate(call.arguments[0], rows)
            let offset = try constant(call.arguments[1]) ?? 1
            let fallback = try Evaluator.evaluate(call.arguments[2], rows)
            var b = ColumnBuilder(type: call.type, capacity: n)
            for i in 0..<n {
                let (j, overflow) = call.function == .lag ? Int64(i).subtractingReportingOverflow(offset) : Int64(i).addingReportingOverflow(offset)
                b.append(!overflow && j >= 0 && j < Int64(n) ? value.value(at: Int(j)) : fallback.value(at: i))
            }
            return b.finish()
        case .firstValue, .lastValue, .nthValue:
            let value = try Evaluator.evaluate(call.arguments[0], rows)
            let nth = call.function == .nthValue ? (try constant(call.arguments[1]) ?? 1) : 1
            let frames = try Frames(self, call.frame)
            var picked = [Int32](repeating: -1, count: n)
            for i in 0..<n {
                let ranges = frames.ranges(i)
                switch call.function {
                case .firstValue: if let r = ranges.first { picked[i] = Int32(r.lowerBound) }
                case .lastValue: if let r = ranges.last { picked[i] = Int32(r.upperBound - 1) }
                default:
                    var left = nth
                    for r in ranges {
                        if Int64(r.count) >= left { picked[i] = Int32(r.lowerBound + Int(left) - 1); break }
                        left -= Int64(r.count)
                    }
                }
            }
            return value.gather(picked)
        case .aggregate:
            return try aggregate(call)
        }
    }

    private func ints(_ v: [Int64]) -> Column { Column(type: .bigint, data: .int64(v)) }

    private func constant(_ e: BoundExpr) throws(SQLError) -> Int64? {
        guard case .literal(let v, _) = e else { throw SQLError.execution("Invalid plan: a window function's count is not a constant") }
        if case .int(let x) = v { return x }
        return nil
    }

    /// An aggregate over each row's frame: once for a frame of the whole
    /// partition, by adding rows as the frame grows when one end is unbounded,
    /// else over each frame's rows.
    private func aggregate(_ call: WindowCall) throws(SQLError) -> Column {
        guard let agg = call.aggregateCall else { throw SQLError.execution("Invalid plan: not an aggregate window") }
        let argument = try call.arguments.first.map { (e) throws(SQLError) in try Evaluator.evaluate(e, rows) }
        let extra = try agg.extra.map { (e) throws(SQLError) in try Evaluator.evaluate(e, rows) }
        let frames = try Frames(self, call.frame)
        let f = call.frame
        if case .unboundedPreceding = f.start, case .unboundedFollowing = f.end, f.exclude == .noOthers {
            let state = AggregateState(agg)
            state.resize(1)
            try state.update([Int32](repeating: 0, count: n), argument, extra: extra, rows: n)
            let v = try state.finish(1).value(at: 0)
            return Column.constant(v, type: call.type, count: n)
        }
        if f.exclude == .noOthers, case .unboundedPreceding = f.start {
            return try running(agg, argument, extra, order: Array(0..<n)) { i in frames.bounds(i).end }
        }
        if f.exclude == .noOthers, case .unboundedFollowing = f.end {
            // From the last row back, the frame grows at its start.
            return try running(agg, argument, extra, order: Array((0..<n).reversed()), fromEnd: true) { i in frames.bounds(i).start }
        }
        let state = AggregateState(agg)
        state.resize(n)
        var ids: [Int32] = [], picks: [Int32] = []
        func flush() throws(SQLError) {
            guard !ids.isEmpty else { return }
            try state.update(ids, argument?.gather(picks), extra: extra?.gather(picks), rows: ids.count)
            ids.removeAll(keepingCapacity: true)
            picks.removeAll(keepingCapacity: true)
        }
        for i in 0..<n {
            for r in frames.ranges(i) {
                for j in r { ids.append(Int32(i)); picks.append(Int32(j)) }
            }
            if ids.count >= 1 << 16 { try flush() }
        }
        try flush()
        return try state.finish(n)
    }

    /// Rows visited in `order`, each frame holding the rows from one end up
    /// to `edge(i)`; the aggregate grows with the frame and is read at each row.
    private func running(_ agg: AggregateCall, _ argument: Column?, _ extra: Column?, order: [Int], fromEnd: Bool = false,
                         edge: (Int) -> Int) throws(SQLError) -> Column {
        let state = AggregateState(agg)
        state.resize(1)
        var covered = fromEnd ? n : 0
        var last: Value? = nil
        var b = ColumnBuilder(type: agg.type, capacity: n)
        var values = [Value](repeating: .null, count: n)
        for i in order {
            let e = edge(i)
            let range = fromEnd ? max(0, min(e, covered))..<covered : covered..<max(covered, min(e, n))
            if !range.isEmpty {
                let idx = range.map { Int32($0) }
                try state.update([Int32](repeating: 0, count: idx.count), argument?.gather(idx), extra: extra?.gather(idx), rows: idx.count)
                covered = fromEnd ? range.lowerBound : range.upperBound
                last = nil
            }
            if last == nil { last = try state.finish(1).value(at: 0) }
            values[i] = last!
        }
        for v in values { b.append(v) }
        return b.finish()
    }
}

/// Each row's frame in a window partition, as ranges of rows (EXCLUDE can cut a hole).
struct Frames {
    let p: WindowPartition
    let frame: WindowFrame
    /// RANGE offsets: the ORDER BY key and each row's boundary values.
    private var key: Column?
    private var startBoundary: Column?
    private var endBoundary: Column?
    /// Rows whose ORDER BY key is not NULL (a RANGE offset applies among them).
    private var nonNull = 0..<0

    init(_ p: WindowPartition, _ frame: WindowFrame) throws(SQLError) {
        self.p = p
        self.frame = frame
        guard frame.mode == .range, frame.start.offset != nil || frame.end.offset != nil else { return }
        guard let k = p.orderBy.first else { throw SQLError.execution("Invalid plan: a RANGE offset without ORDER BY") }
        let key = try Evaluator.evaluate(k.expr, p.rows)
        self.key = key
        if let e = frame.start.offset { startBoundary = try Evaluator.evaluate(e, p.rows) }
        if let e = frame.end.offset { endBoundary = try Evaluator.evaluate(e, p.rows) }
        var lo = 0, hi = p.n
        while lo < hi, key.isNull(lo) { lo += 1 }
        while hi > lo, key.isNull(hi - 1) { hi -= 1 }
        nonNull = lo..<hi
    }

    /// The frame of row `i` before EXCLUDE: [start, end), clamped to the partition.
    func bounds(_ i: Int) -> (start: Int, end: Int) {
        let s = edge(frame.start, i, isStart: true), e = edge(frame.end, i, isStart: false)
        return (max(0, min(s, p.n)), max(0, min(e, p.n)))
    }

    func ranges(_ i: Int) -> [Range<Int>] {
        let (s, e) = bounds(i)
        guard s < e else { return [] }
        let cut: Range<Int>
        switch frame.exclude {
        case .noOthers: return [s..<e]
        case .currentRow: cut = i..<(i + 1)
        case .group, .ties: cut = p.peerStart[i]..<p.peerEnd[i]
        }
        var out: [Range<Int>] = []
        if s < cut.lowerBound { out.append(s..<min(e, cut.lowerBound)) }
        if frame.exclude == .ties, i >= s, i < e { out.append(i..<(i + 1)) }
        if cut.upperBound < e { out.append(max(s, cut.upperBound)..<e) }
        return out
    }

    private func count(_ e: BoundExpr) -> Int {
        if case .literal(.int(let v), _) = e { return Int(clamping: v) }
        return 0
    }

    private func edge(_ b: FrameBound, _ i: Int, isStart: Bool) -> Int {
        switch (frame.mode, b) {
        case (_, .unboundedPreceding): return 0
        case (_, .unboundedFollowing): return p.n
        case (.rows, .currentRow): return isStart ? i : i + 1
        case (_, .currentRow): return isStart ? p.peerStart[i] : p.peerEnd[i]
        case (.rows, .preceding(let k)):
            let (v, o) = i.subtractingReportingOverflow(count(k))
            let at = o ? Int.min / 2 : v
            return isStart ? at : at + 1
        case (.rows, .following(let k)):
            let (v, o) = i.addingReportingOverflow(count(k))
            let at = o ? Int.max / 2 : v
            return isStart ? at : at + 1
        case (.groups, .preceding(let k)), (.groups, .following(let k)):
            var g = p.group[i]
            let groups = p.groupStarts.count - 1
            if case .preceding = b { g = g - min(count(k), g + 1) } else { g = g + min(count(k), groups - g) }
            if isStart { return g < 0 ? 0 : p.groupStarts[min(g, groups)] }
            return g < 0 ? 0 : p.groupStarts[min(g + 1, groups)]
        case (.range, .preceding), (.range, .following):
            return rangeEdge(i, isStart: isStart)
        }
    }

    /// RANGE with an offset: the first row whose key is at or past the
    /// boundary (the start), or the first past it (the end). A row with a
    /// NULL key frames its NULL peers.
    private func rangeEdge(_ i: Int, isStart: Bool) -> Int {
        guard let key, let boundary = isStart ? startBoundary : endBoundary else { return isStart ? 0 : p.n }
        if key.isNull(i) { return isStart ? p.peerStart[i] : p.peerEnd[i] }
        let target = boundary.value(at: i)
        let ascending = p.orderBy.first?.ascending ?? true
        // First row in the non-NULL run where `before(row)` is false.
        func before(_ r: Int) -> Bool {
            let c = ValueOrder.compare(key.value(at: r), target) * (ascending ? 1 : -1)
            return isStart ? c < 0 : c <= 0
        }
        var lo = nonNull.lowerBound, hi = nonNull.upperBound
        while lo < hi {
            let mid = (lo + hi) / 2
            if before(mid) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// What a window call needs of its arguments, checked before a plan from elsewhere runs.
enum WindowCheck {
    static func arguments(_ c: WindowCall, error: (String) -> SQLError) throws(SQLError) {
        func literalInt(_ e: BoundExpr) -> Int64? { if case .literal(.int(let v), _) = e { return v }; return nil }
        let n = c.arguments.count
        let ok: Bool
        switch c.function {
        case .rowNumber, .rank, .denseRank, .percentRank, .cumeDist: ok = n == 0
        case .ntile: ok = n == 1 && (literalInt(c.arguments[0]) ?? 0) >= 1
        case .lag, .lead: ok = n == 3 && literalInt(c.arguments[1]) != nil
        case .firstValue, .lastValue: ok = n == 1
        case .nthValue: ok = n == 2 && (literalInt(c.arguments[1]) ?? 0) >= 1
        case .aggregate(let k): ok = k == .countStar ? n == 0 : n == (k.takesExtra ? 2 : 1)
        }
        guard ok else { throw error("\(c.function.name) has the wrong arguments") }
        for b in [c.frame.start, c.frame.end] where c.frame.mode != .range {
            if let o = b.offset, (literalInt(o) ?? -1) < 0 { throw error("a frame offset is not a non-negative integer") }
        }
    }
}
