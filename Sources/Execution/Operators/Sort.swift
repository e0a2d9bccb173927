import Columnar
import SQL

/// ORDER BY over one partition: materializes its input and sorts it
/// (stable). Above it, a merging gather combines the partitions' runs.
/// Under a memory limit it is an external merge sort: what it holds is
/// reserved from the query's pool, and when the pool says no, the rows held
/// so far are sorted and spilled as a run; at the end the runs are merged,
/// a batch of each at a time (in several passes when there are more runs
/// than the budget can hold a batch of at once).
final class SortOperator: Operator {
    let input: Operator
    let keys: [SortKey]
    let stats = OperatorStats()
    private let context: RunContext
    private var output: BatchQueue?
    private var merger: RunMerger?
    private var reservation: MemoryReservation?

    init(_ input: Operator, keys: [SortKey], context: RunContext) {
        self.input = input
        self.keys = keys
        self.context = context
    }

    var schema: Schema { input.schema }

    func close() {
        output = BatchQueue()
        merger = nil
        reservation?.free()
        input.close()
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if output == nil && merger == nil { try consume() }
            if let merger {
                guard let b = try merger.next() else { reservation?.free(); return nil }
                stats.readBackBytes = merger.readBack
                return b
            }
            return output?.pop()
        }
    }

    private func consume() throws(SQLError) {
        let budget = context.reservation("ORDER BY")
        reservation = budget?.0
        var held: [RecordBatch] = []
        var runs: [SpillReader] = []
        while let b = try input.next() {
            try context.check()
            if b.rowCount == 0 { continue }
            if let (memory, spill) = budget {
                // Held, and its sorted copy.
                let size = 2 * b.memoryBytes
                if !memory.grow(size) {
                    if !held.isEmpty {
                        runs.append(try writeRun(held, to: spill, share: memory.share))
                        held = []
                        memory.free()
                    }
                    try memory.require(size, "one batch of its input")
                }
                stats.peakMemory = memory.peak
            }
            held.append(b)
        }
        guard let (memory, spill) = budget, !runs.isEmpty else {
            output = BatchQueue(held.isEmpty ? [] : chunked(try SortKernel.sorted(RecordBatch.concat(held, schema: schema), keys, keep: nil)))
            return
        }
        if !held.isEmpty { runs.append(try writeRun(held, to: spill, share: memory.share)) }
        held = []
        memory.free()
        merger = try RunMerger.merging(runs, keys: keys, schema: schema, memory: memory, spill: spill, context: context, stats: stats)
    }

    /// The rows held, sorted, as a run on disk, in batches small enough that
    /// a merge of several runs holds a batch of each within the budget `share`.
    private func writeRun(_ held: [RecordBatch], to spill: SpillSpace, share: Int) throws(SQLError) -> SpillReader {
        let sorted = try SortKernel.sorted(RecordBatch.concat(held, schema: schema), keys, keep: nil)
        let file = try spill.file("sort")
        let rowBytes = max(1, sorted.memoryBytes / max(1, sorted.rowCount))
        let batchRows = min(RunMerger.batchRows, max(8, share / (rowBytes * 32)))
        var start = 0
        while start < sorted.rowCount {
            let end = min(sorted.rowCount, start + batchRows)
            try file.append(sorted.slice(start..<end))
            start = end
        }
        stats.spilledBytes += file.bytes
        return file.finish()
    }
}

/// Merges sorted runs on disk into one sorted stream, a batch at a time:
/// the current batches of the runs are put side by side, the merge order
/// is found with the same comparators as the in-memory sort (ties go to the
/// earlier run, so the sort stays stable), and the output is gathered from
/// them, until one run's batch is used up and its next one is read.
final class RunMerger {
    /// Rows per batch of a run on disk: small, so a merge of many runs holds little.
    static let batchRows = 4096
    private let runs: [SpillReader]
    private let keys: [SortKey]
    private let schema: Schema
    private let context: RunContext
    private var current: [RecordBatch?]
    private(set) var readBack = 0

    private init(_ runs: [SpillReader], keys: [SortKey], schema: Schema, context: RunContext) {
        self.runs = runs
        self.keys = keys
        self.schema = schema
        self.context = context
        current = Array(repeating: nil, count: runs.count)
    }

    /// A merge of `runs`, first merging groups of them into longer runs while
    /// the budget cannot hold a batch of each (two, for the side-by-side copy).
    static func merging(_ runs: [SpillReader], keys: [SortKey], schema: Schema, memory: MemoryReservation, spill: SpillSpace,
                        context: RunContext, stats: OperatorStats) throws(SQLError) -> RunMerger {
        var runs = runs
        let perRun = max(1, runs.map { $0.bytes / max(1, $0.batchCount) }.max() ?? 1) * 6   // decoded, and copied side by side
        let available = max(0, min(memory.share, memory.pool.limit - memory.pool.used))
        let fanIn = max(2, min(256, available / perRun))
        while runs.count > fanIn {
            var longer: [SpillReader] = []
            for start in stride(from: 0, to: runs.count, by: fanIn) {
                let group = Array(runs[start..<min(runs.count, start + fanIn)])
                if group.count == 1 { longer.append(group[0]); continue }
                let m = RunMerger(group, keys: keys, schema: schema, context: context)
                let file = try spill.file("sort-merge")
                while let b = try m.next() { try file.append(b) }
                stats.spilledBytes += file.bytes
                stats.readBackBytes += m.readBack
                longer.append(file.finish())
            }
            runs = longer
        }
        try memory.require(perRun * runs.count, "merging \(runs.count) sorted runs")
        stats.peakMemory = max(stats.peakMemory, memory.peak)
        return RunMerger(runs, keys: keys, schema: schema, context: context)
    }

    func next() throws(SQLError) -> RecordBatch? {
        try context.check()
        for i in runs.indices where (current[i]?.rowCount ?? 0) == 0 {
            current[i] = nil
            while let b = try runs[i].next() {
                readBack += b.memoryBytes
                if b.rowCount > 0 { current[i] = b; break }
            }
        }
        let live = runs.indices.filter { current[$0] != nil }
        if live.isEmpty { return nil }
        if live.count == 1 {
            defer { current[live[0]] = nil }
            return current[live[0]]
        }
        var starts: [Int] = []
        var at = 0
        for i in live { starts.append(at); at += current[i]!.rowCount }
        let side = RecordBatch.concat(live.map { current[$0]! }, schema: schema)
        var comparators: [(Int, Int) -> Int] = []
        for k in keys { comparators.append(RowComparator.make(try Evaluator.evaluate(k.expr, side), ascending: k.ascending, nullsFirst: k.nullsFirst)) }
        // Rows of the side-by-side batch in order: runs are laid out in run order, so a tie goes to the lower position.
        let less: (Int, Int) -> Bool = { x, y in
            for c in comparators {
                let r = c(x, y)
                if r != 0 { return r < 0 }
            }
            return x < y
        }
        var heads = starts
        let ends = starts.indices.map { $0 + 1 < starts.count ? starts[$0 + 1] : at }
        var heap = RunHeap(less: less)
        for r in live.indices { heap.push(r, heads[r]) }
        var picks: [Int32] = []
        picks.reserveCapacity(Self.batchRows)
        while let r = heap.pop() {
            picks.append(Int32(heads[r]))
            heads[r] += 1
            if heads[r] == ends[r] { break }   // this run's batch is used up: read its next one first
            heap.push(r, heads[r])
        }
        for (r, i) in live.enumerated() {
            let used = heads[r] - starts[r]
            let b = current[i]!
            current[i] = used == b.rowCount ? nil : b.slice(used..<b.rowCount)
        }
        return side.gather(picks)
    }
}

/// A binary min-heap of runs keyed by their head row's position in the side-by-side batch.
private struct RunHeap {
    let less: (Int, Int) -> Bool
    private var items: [(run: Int, row: Int)] = []
    init(less: @escaping (Int, Int) -> Bool) { self.less = less }

    mutating func push(_ run: Int, _ row: Int) {
        items.append((run, row))
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            guard less(items[c].row, items[p].row) else { break }
            items.swapAt(c, p)
            c = p
        }
    }

    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < items.count, less(items[l].row, items[m].row) { m = l }
                if r < items.count, less(items[r].row, items[m].row) { m = r }
                if m == p { break }
                items.swapAt(p, m)
                p = m
            }
        }
        return top.run
    }
}

/// Sorting shared by ORDER BY and top-N: a permutation by the keys, then a gather.
enum SortKernel {
    static func describe(_ keys: [SortKey], _ schema: Schema) -> String {
        keys.map { k in
            ExpressionText.render(k.expr, schema) + (k.ascending ? " ASC" : " DESC") + (k.nullsFirst ? " NULLS FIRST" : " NULLS LAST")
        }.joined(separator: ", ")
    }

    /// The rows of `b` in key order; only the first `keep` when given.
    static func sorted(_ b: RecordBatch, _ keys: [SortKey], keep: Int?) throws(SQLError) -> RecordBatch {
        var columns: [Column] = []
        for k in keys { columns.append(try Evaluator.evaluate(k.expr, b)) }
        if keep == nil, let order = NumericOrder(columns, keys) {
            return b.gather(order.sortedRows())
        }
        var comparators: [(Int, Int) -> Int] = []
        for (k, c) in zip(keys, columns) { comparators.append(RowComparator.make(c, ascending: k.ascending, nullsFirst: k.nullsFirst)) }
        var perm = Array(0..<b.rowCount)
        let less: (Int, Int) -> Bool = { x, y in
            for c in comparators {
                let r = c(x, y)
                if r != 0 { return r < 0 }
            }
            return x < y   // stable
        }
        if let keep, keep < perm.count / 4 {
            perm = smallest(perm, keep, by: less)
        } else {
            perm.sort(by: less)
            if let keep, keep < perm.count { perm.removeLast(perm.count - keep) }
        }
        return b.gather(perm.map { Int32($0) })
    }

    /// The `k` smallest elements in order, via a bounded max-heap.
    static func smallest(_ xs: [Int], _ k: Int, by less: (Int, Int) -> Bool) -> [Int] {
        guard k > 0 else { return [] }
        var heap: [Int] = []
        heap.reserveCapacity(k + 1)
        func siftUp(_ i: Int) {
            var c = i
            while c > 0 { let p = (c - 1) / 2; if less(heap[p], heap[c]) { heap.swapAt(p, c); c = p } else { break } }
        }
        func siftDown() {
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < heap.count, less(heap[m], heap[l]) { m = l }
                if r < heap.count, less(heap[m], heap[r]) { m = r }
                if m == p { return }
                heap.swapAt(p, m); p = m
            }
        }
        for x in xs {
            if heap.count < k { heap.append(x); siftUp(heap.count - 1) }
            else if less(x, heap[0]) { heap[0] = x; siftDown() }
        }
        return heap.sorted(by: less)
    }
}

/// Sort keys that are all numbers, dates or booleans, as one block of
/// order-preserving 64-bit integers with NULL flags: the comparison then reads
/// plain memory instead of calling a closure per key (which, with its
/// reference counting, was most of the time of sorting millions of rows).
struct NumericOrder {
    private let n: Int
    private let values: [Int64]      // key k of row i at k * n + i
    private let nulls: [Bool]?       // the same layout; nil when no key is NULL
    private let keys: [SortKey]

    init?(_ columns: [Column], _ keys: [SortKey]) {
        let n = columns.first?.count ?? 0
        var values: [Int64] = []
        values.reserveCapacity(n * columns.count)
        var nulls: [Bool]? = nil
        for (k, c) in columns.enumerated() {
            switch c.data {
            case .int32, .int64: values += c.int64Values()
            case .double(let a):
                // Doubles as integers in the same order; NaN after every number (DuckDB's), -0 as 0.
                for i in 0..<n {
                    let d = a[i]
                    if d.isNaN { values.append(.max); continue }
                    let bits = Int64(bitPattern: (d == 0 ? 0.0 : d).bitPattern)
                    values.append(bits < 0 ? bits ^ .max : bits)
                }
            case .bool(let a): for i in 0..<n { values.append(a[i] ? 1 : 0) }
            default: return nil
            }
            if c.validity != nil || c.type == .null {
                if nulls == nil { nulls = [Bool](repeating: false, count: n * columns.count) }
                for i in 0..<n where c.type == .null || c.isNull(i) { nulls![k * n + i] = true }
            }
        }
        self.n = n
        self.values = values
        self.nulls = nulls
        self.keys = keys
    }

    /// Row numbers in key order, ties in input order.
    func sortedRows() -> [Int32] {
        var perm = (0..<n).map { Int32($0) }
        let m = keys.count, n = n
        let ascending = keys.map(\.ascending), nullsFirst = keys.map(\.nullsFirst)
        values.withUnsafeBufferPointer { v in
            ascending.withUnsafeBufferPointer { asc in
                nullsFirst.withUnsafeBufferPointer { nf in
                    func less(_ x: Int, _ y: Int, _ isNull: UnsafeBufferPointer<Bool>?) -> Bool {
                        for k in 0..<m {
                            if let isNull {
                                let nx = isNull[k * n + x], ny = isNull[k * n + y]
                                if nx || ny {
                                    if nx == ny { continue }
                                    return nx == nf[k]
                                }
                            }
                            let a = v[k * n + x], b = v[k * n + y]
                            if a != b { return (a < b) == asc[k] }
                        }
                        return x < y
                    }
                    if let nulls {
                        nulls.withUnsafeBufferPointer { isNull in perm.sort { less(Int($0), Int($1), isNull) } }
                    } else {
                        perm.sort { less(Int($0), Int($1), nil) }
                    }
                }
            }
        }
        return perm
    }
}

/// Compares two rows of one column with the ORDER BY direction and NULL placement.
enum RowComparator {
    static func make(_ c: Column, ascending: Bool, nullsFirst: Bool) -> (Int, Int) -> Int {
        let dir = ascending ? 1 : -1
        let base: (Int, Int) -> Int
        switch c.data {
        case .bool(let a): base = { a[$0] == a[$1] ? 0 : (a[$0] ? 1 : -1) }
        case .int32(let a): base = { a[$0] < a[$1] ? -1 : (a[$0] > a[$1] ? 1 : 0) }
        case .int64(let a): base = { a[$0] < a[$1] ? -1 : (a[$0] > a[$1] ? 1 : 0) }
        case .int128(let a): base = { a[$0] < a[$1] ? -1 : (a[$0] > a[$1] ? 1 : 0) }
        case .double(let a):
            // NaN sorts after every number, as in DuckDB.
            base = { x, y in
                let p = a[x], q = a[y]
                if p.isNaN || q.isNaN { return p.isNaN == q.isNaN ? 0 : (p.isNaN ? 1 : -1) }
                return p < q ? -1 : (p > q ? 1 : 0)
            }
        case .interval(let a): base = { a[$0] < a[$1] ? -1 : (a[$0] == a[$1] ? 0 : 1) }
        case .string(let s):
            base = { x, y in
                s.bytes.withUnsafeBytes { raw in
                    compareBytes(UnsafeRawBufferPointer(rebasing: raw[s.range(x)]), UnsafeRawBufferPointer(rebasing: raw[s.range(y)]))
                }
            }
        }
        guard c.validity != nil || c.type == .null else { return { base($0, $1) * dir } }
        let nullOrder = nullsFirst ? -1 : 1
        return { x, y in
            let nx = c.isNull(x) || c.type == .null, ny = c.isNull(y) || c.type == .null
            if nx || ny { return nx == ny ? 0 : (nx ? nullOrder : -nullOrder) }
            return base(x, y) * dir
        }
    }
}

import Foundation
