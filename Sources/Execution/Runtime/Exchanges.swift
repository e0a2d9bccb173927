import Columnar
import SQL
import Synchronization

/// The producing half of an exchange in one process: a thread per input
/// partition, each pulling its operator and handing every batch to `route`.
/// Threads start when a consumer first asks for rows, so a hash join's probe
/// side does not compete with its build for the cores.
final class Producers: @unchecked Sendable {
    private let inputs: [Operator]
    private let name: String
    private let context: RunContext
    /// Sends a batch of producer `i`; false when none of its consumers wants more.
    private let route: (Int, RecordBatch, Int) throws(SQLError) -> Bool
    /// Producer `i` is finished (its channels are told).
    private let finish: (Int) -> Void
    private let started = Atomic<Bool>(false)

    init(_ inputs: [Operator], name: String, context: RunContext, route: @escaping (Int, RecordBatch, Int) throws(SQLError) -> Bool, finish: @escaping (Int) -> Void) {
        self.inputs = inputs
        self.name = name
        self.context = context
        self.route = route
        self.finish = finish
    }

    var count: Int { inputs.count }

    func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for (i, op) in inputs.enumerated() {
            context.spawn("\(name)-\(i)") { [self] () throws(SQLError) in
                defer { finish(i) }
                // The failure is recorded before the consumers hear this producer is done,
                // so none of them takes the missing rows for the end of its input.
                do throws(SQLError) {
                    while let b = try op.next() {
                        if !(try route(i, b, op.morsel)) {
                            op.close()
                            try context.check()
                            return
                        }
                    }
                } catch {
                    context.fail(error)
                    throw error
                }
            }
        }
    }
}

/// Reads one channel: the consumer side of a gather (any order), a
/// repartition, or a broadcast's collection.
final class ChannelSource: Operator {
    let schema: Schema
    let stats = OperatorStats()
    private let channel: Channel
    private let producers: Producers
    private let context: RunContext
    private(set) var morsel = -1

    init(_ channel: Channel, producers: Producers, schema: Schema, context: RunContext) {
        self.channel = channel
        self.producers = producers
        self.schema = schema
        self.context = context
    }

    func close() { channel.closeConsumer() }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            producers.start()
            guard let item = channel.receive() else {
                try context.check()
                return nil
            }
            morsel = item.morsel
            return item.batch
        }
    }
}

/// Gathers partitions into one in morsel order: each producer's channel
/// holds its morsels in increasing order (they are handed out in order), so
/// taking the smallest head among all channels restores the input's order.
final class PreservingGather: Operator {
    let schema: Schema
    let stats = OperatorStats()
    private let channels: [Channel]
    private let producers: Producers
    private let context: RunContext
    private var heads: [Channel.Item?]
    private var done: [Bool]
    private(set) var morsel = -1

    init(_ channels: [Channel], producers: Producers, schema: Schema, context: RunContext) {
        self.channels = channels
        self.producers = producers
        self.schema = schema
        self.context = context
        heads = Array(repeating: nil, count: channels.count)
        done = Array(repeating: false, count: channels.count)
    }

    func close() { for c in channels { c.closeConsumer() } }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            producers.start()
            for i in channels.indices where heads[i] == nil && !done[i] {
                if let item = channels[i].receive() { heads[i] = item } else {
                    try context.check()
                    done[i] = true
                }
            }
            var best = -1
            for i in heads.indices {
                guard let h = heads[i] else { continue }
                if best < 0 || h.morsel < heads[best]!.morsel { best = i }
            }
            guard best >= 0, let item = heads[best] else { return nil }
            heads[best] = nil
            morsel = item.morsel
            return item.batch
        }
    }
}

/// Gathers partitions that are each sorted by `keys` into one sorted stream:
/// collects every partition's run, then merges them (ties go to the lower
/// partition, so a run's equal rows stay in their order).
final class MergingGather: Operator {
    let schema: Schema
    let stats = OperatorStats()
    private let channels: [Channel]
    private let producers: Producers
    private let keys: [SortKey]
    private let context: RunContext
    private var output: BatchQueue?

    init(_ channels: [Channel], producers: Producers, keys: [SortKey], schema: Schema, context: RunContext) {
        self.channels = channels
        self.producers = producers
        self.keys = keys
        self.schema = schema
        self.context = context
    }

    func close() {
        output = BatchQueue()
        for c in channels { c.closeConsumer() }
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if output == nil { output = BatchQueue(try merge()) }
            return output?.pop()
        }
    }

    private func merge() throws(SQLError) -> [RecordBatch] {
        producers.start()
        var runs: [[RecordBatch]] = Array(repeating: [], count: channels.count)
        for (i, c) in channels.enumerated() {
            while let item = c.receive() { if item.batch.rowCount > 0 { runs[i].append(item.batch) } }
            try context.check()
        }
        var bounds: [Int] = [0]
        var all: [RecordBatch] = []
        for r in runs { all += r; bounds.append(bounds.last! + r.reduce(0) { $0 + $1.rowCount }) }
        guard bounds.last! > 0 else { return [] }
        let rows = RecordBatch.concat(all, schema: schema)
        if runs.filter({ !$0.isEmpty }).count == 1 { return chunked(rows) }
        var comparators: [(Int, Int) -> Int] = []
        for k in keys { comparators.append(RowComparator.make(try Evaluator.evaluate(k.expr, rows), ascending: k.ascending, nullsFirst: k.nullsFirst)) }
        func less(_ x: Int, _ y: Int) -> Bool {
            for c in comparators {
                let r = c(x, y)
                if r != 0 { return r < 0 }
            }
            return false
        }
        var cursor = Array(bounds.dropLast())
        let ends = Array(bounds.dropFirst())
        var order: [Int32] = []
        order.reserveCapacity(rows.rowCount)
        while true {
            var best = -1
            for r in cursor.indices where cursor[r] < ends[r] {
                if best < 0 || less(cursor[r], cursor[best]) { best = r }
            }
            if best < 0 { break }
            order.append(Int32(cursor[best]))
            cursor[best] += 1
            if order.count & 0xFFFF == 0 { try context.check() }
        }
        return chunked(rows.gather(order))
    }
}

/// Batches computed once and shared (a CTE's rows, a broadcast): every
/// partition reading it gets all of them.
final class SharedRowsSource: Operator {
    let schema: Schema
    let stats = OperatorStats()
    private let rows: () throws(SQLError) -> HeldRows
    private let context: RunContext
    private var reader: HeldRows.Reader?
    private var done = false

    init(schema: Schema, context: RunContext, rows: @escaping () throws(SQLError) -> HeldRows) {
        self.schema = schema
        self.context = context
        self.rows = rows
    }

    var morsel: Int { 0 }

    func close() {
        reader?.close()
        reader = nil
        done = true
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            try context.check()
            guard !done else { return nil }
            if reader == nil { reader = try rows().reader() }
            guard let b = try reader?.next() else { close(); return nil }
            return RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount)
        }
    }
}

/// Splits batches by the hash of their keys into `n` partitions: equal keys
/// (NULLs included) always land in the same one.
struct HashRouter {
    let keys: [BoundExpr]
    let n: Int
    /// Mixes the hash again before taking the bucket: the cluster's shuffle
    /// does, so a task's rows (all in one bucket) still spread over its own
    /// threads, which split by the unmixed hash.
    var remix = false

    func split(_ b: RecordBatch) throws(SQLError) -> [RecordBatch?] {
        var cols: [Column] = []
        for k in keys { cols.append(try Evaluator.evaluate(k, b)) }
        let hashed = Keys(cols)
        guard hashed.hashes.count == b.rowCount else {
            throw SQLError.execution("Invalid plan: a repartition hashes \(hashed.hashes.count) keys for \(b.rowCount) rows")
        }
        var targets = [[Int32]](repeating: [], count: n)
        for t in 0..<n { targets[t].reserveCapacity(b.rowCount / n + 16) }
        let m = UInt64(n)
        let hashes = remix ? hashed.hashes.map { $0 &* 0x9E37_79B9_7F4A_7C15 } : hashed.hashes
        hashes.withUnsafeBufferPointer { h in
            if let nulls = hashed.nulls {
                for i in 0..<b.rowCount { targets[nulls[i] ? 0 : Int((h[i] >> 32) % m)].append(Int32(i)) }
            } else {
                for i in 0..<b.rowCount { targets[Int((h[i] >> 32) % m)].append(Int32(i)) }
            }
        }
        return targets.map { idx in
            if idx.isEmpty { return nil }
            return idx.count == b.rowCount ? b : b.gather(idx)
        }
    }
}
