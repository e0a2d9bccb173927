import Columnar
import Foundation
import SQL

/// The build side of a hash join: its rows, and an open-addressing table
/// from each distinct key to the first of the rows that have it, the others
/// chained behind it in input order. The table is split into regions by the
/// high bits of the hash, built at once by as many threads (each inserts
/// only its region's keys, so none waits for another) and probed as one:
/// a probe goes straight to its key's region. Built once, then only read, so
/// every probe partition may share one.
final class JoinTable: @unchecked Sendable {
    let rows: RecordBatch
    private struct Slot {
        var key: UInt64     // the integer key's bits, or the byte key's hash
        var row: Int32      // the first build row with the key; -1: empty
    }
    private let slots: UnsafeMutablePointer<Slot>
    private let regionBits: Int
    private let regionMask: Int     // slots per region - 1
    private let nextRow: UnsafeMutablePointer<Int32>
    /// The build rows' keys (byte keys are compared against them).
    private let keys: Keys

    /// `parallel(n, body)` runs body(0..<n) on n threads at once and returns when all are done.
    init(_ batches: [RecordBatch], schema: Schema, keys: [BoundExpr], threads: Int = 1,
         parallel: (Int, @escaping @Sendable (Int) -> Void) -> Void = { n, body in for k in 0..<n { body(k) } }) throws(SQLError) {
        let b = batches.isEmpty ? RecordBatch.empty(schema) : RecordBatch.concat(batches, schema: schema)
        var keyCols: [Column] = []
        for k in keys { keyCols.append(try Evaluator.evaluate(k, b)) }
        let n = b.rowCount
        self.keys = n == 0 ? Keys([]) : Keys(keyCols, packPairs: true)
        // Regions: a power of two, about one per thread, each at least 4096 slots.
        var regions = 1
        while regions < threads, n / (regions * 2) >= 2048 { regions *= 2 }
        var perRegion = 16
        while perRegion * regions < n * 2 { perRegion <<= 1 }
        regionBits = regions.trailingZeroBitCount
        regionMask = perRegion - 1
        slots = .allocate(capacity: perRegion * regions)
        slots.initialize(repeating: Slot(key: 0, row: -1), count: perRegion * regions)
        nextRow = .allocate(capacity: max(1, n))
        nextRow.initialize(repeating: -1, count: max(1, n))
        rows = b
        guard n > 0 else { return }
        let table = Unshared(self)
        parallel(regions) { region in table.value.build(region: region) }
    }

    deinit {
        slots.deallocate()
        nextRow.deallocate()
    }

    @inline(__always) private func region(_ h: UInt64) -> Int {
        regionBits == 0 ? 0 : Int(truncatingIfNeeded: h >> UInt64(64 - regionBits))
    }

    @inline(__always) private func sameKey(_ slot: Slot, _ h: UInt64, _ row: Int, in probe: Keys) -> Bool {
        switch (probe.storage, keys.storage) {
        case (.ints(let a), _): return slot.key == UInt64(bitPattern: a[row])
        case (.bytes(let po, let pa), .bytes(let bo, let ba)):
            guard slot.key == h else { return false }
            let r = Int(slot.row)
            let (plo, phi, blo, bhi) = (po[row], po[row + 1], bo[r], bo[r + 1])
            guard phi - plo == bhi - blo else { return false }
            return pa.withUnsafeBytes { p in ba.withUnsafeBytes { q in memcmp(p.baseAddress! + plo, q.baseAddress! + blo, phi - plo) == 0 } }
        default: return false
        }
    }

    /// Inserts the rows whose keys fall in `region`, from the back so each chain keeps input order.
    private func build(region k: Int) {
        let base = k * (regionMask + 1)
        let n = keys.count
        for row in stride(from: n - 1, through: 0, by: -1) {
            let h = keys.hashes[row]
            guard region(h) == k, !(keys.nulls?[row] ?? false) else { continue }
            var s = Int(truncatingIfNeeded: h) & regionMask
            while true {
                let slot = slots[base + s]
                if slot.row < 0 {
                    let key: UInt64
                    if case .ints(let v) = keys.storage { key = UInt64(bitPattern: v[row]) } else { key = h }
                    slots[base + s] = Slot(key: key, row: Int32(row))
                    break
                }
                if sameKey(slot, h, row, in: keys) {
                    nextRow[row] = slot.row
                    slots[base + s].row = Int32(row)
                    break
                }
                s = (s + 1) & regionMask
            }
        }
    }

    var isEmpty: Bool { rows.rowCount == 0 }

    /// The first build row with each probe row's key (-1: none, or a NULL key).
    func heads(_ keyColumns: [Column]) -> [Int32] {
        let n = keyColumns.first?.count ?? 0
        guard n > 0, !isEmpty else { return [Int32](repeating: -1, count: n) }
        let probe = Keys(keyColumns, packPairs: true)
        return [Int32](uninitializedCount: n) { out, count in
            for i in 0..<n {
                out[i] = -1
                if probe.nulls?[i] ?? false { continue }
                let h = probe.hashes[i]
                let base = region(h) * (regionMask + 1)
                var s = Int(truncatingIfNeeded: h) & regionMask
                while true {
                    let slot = slots[base + s]
                    if slot.row < 0 { break }
                    if sameKey(slot, h, i, in: probe) { out[i] = slot.row; break }
                    s = (s + 1) & regionMask
                }
            }
            count = n
        }
    }

    /// Calls `body` with the (probe row, build row) pairs of `heads`, a bounded chunk at a time.
    func forEachPairChunk(_ heads: [Int32], _ body: ([Int32], [Int32]) throws(SQLError) -> Void) throws(SQLError) {
        var left: [Int32] = [], right: [Int32] = []
        left.reserveCapacity(min(heads.count, targetBatchRows * 4))
        right.reserveCapacity(min(heads.count, targetBatchRows * 4))
        var next = 0
        while next < heads.count {
            left.removeAll(keepingCapacity: true)
            right.removeAll(keepingCapacity: true)
            next = pairs(heads, from: next, limit: targetBatchRows * 4, left: &left, right: &right)
            if !left.isEmpty { try body(left, right) }
        }
    }

    /// Appends the (probe row, build row) pairs with equal keys, probe rows in
    /// order from `start`, stopping after the probe row that reaches `limit`
    /// pairs; returns the probe row to go on from.
    func pairs(_ heads: [Int32], from start: Int, limit: Int, left: inout [Int32], right: inout [Int32]) -> Int {
        var i = start
        heads.withUnsafeBufferPointer { heads in
            while i < heads.count, left.count < limit {
                var row = heads[i]
                while row >= 0 {
                    left.append(Int32(i))
                    right.append(row)
                    row = nextRow[Int(row)]
                }
                i += 1
            }
        }
        return i
    }
}

/// A reference handed to the threads of a parallel build, each touching only its own part.
private struct Unshared<T: AnyObject>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Equi-join of one probe partition against a build table: INNER, LEFT,
/// RIGHT, FULL, and SEMI, ANTI, MARK and SINGLE (subqueries turned into
/// joins; see `JoinKind`); extra conditions are checked on each candidate pair. The
/// table is this partition's own (`partitioned`, both sides hashed on the
/// keys) or one shared by all (`shared`, built once from a broadcast).
/// Unmatched build rows (RIGHT, FULL) of a shared table are known only when
/// every partition is done: `matches` combines their flags for the last one.
final class HashJoinOperator: Operator {
    let probe: Operator
    let kind: JoinKind
    let probeKeys: [BoundExpr]
    let residual: BoundExpr?
    let schema: Schema
    let stats = OperatorStats()
    private let context: RunContext
    private let build: () throws(SQLError) -> JoinTable
    private let closeBuild: () -> Void
    private let matches: SharedMatches?
    private var table: JoinTable?
    private var buildMatched: [Bool] = []
    private var pending = BatchQueue()
    private var finished = false

    init(probe: Operator, build: @escaping () throws(SQLError) -> JoinTable, closeBuild: @escaping () -> Void, matches: SharedMatches?,
         kind: JoinKind, probeKeys: [BoundExpr], residual: BoundExpr?, schema: Schema, context: RunContext) {
        self.probe = probe
        self.matches = matches
        self.build = build
        self.closeBuild = closeBuild
        self.kind = kind
        self.probeKeys = probeKeys
        self.residual = residual
        self.schema = schema
        self.context = context
    }

    func close() {
        finished = true
        pending = BatchQueue()
        probe.close()
        closeBuild()
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if table == nil {
                let t = try build()
                table = t
                if kind.keepsUnmatchedRight { buildMatched = [Bool](repeating: false, count: t.rows.rowCount) }
                // Nothing can match an empty build: a join that keeps only matched probe rows is done.
                if t.isEmpty, !kind.keepsUnmatchedLeft { finished = true; probe.close() }
            }
            while true {
                if let b = pending.pop() { return b }
                if finished { return nil }
                try context.check()
                guard let p = try probe.next() else {
                    finished = true
                    if kind.keepsUnmatchedRight { emitUnmatchedBuild() }
                    continue
                }
                if p.rowCount > 0 { try probeBatch(p) }
            }
        }
    }

    private func probeBatch(_ p: RecordBatch) throws(SQLError) {
        guard let t = table else { return }
        var keyCols: [Column] = []
        for k in probeKeys { keyCols.append(try Evaluator.evaluate(k, p)) }
        let heads = t.heads(keyCols)
        guard kind.outputsRight else { return try probeForMatches(p, t, heads) }
        var probeMatched = [Bool](repeating: false, count: kind.keepsUnmatchedLeft ? p.rowCount : 0)
        try t.forEachPairChunk(heads) { (left, right) throws(SQLError) in
            var out = joined(p, left, t.rows, right)
            var l = left, r = right
            if let residual {
                let idx = selectionIndices(try Evaluator.select(residual, out))
                if idx.count != out.rowCount {
                    out = out.gather(idx)
                    l = idx.map { left[Int($0)] }
                    r = idx.map { right[Int($0)] }
                }
            }
            if kind == .single {
                for x in l { if probeMatched[Int(x)] { throw moreThanOneRow }; probeMatched[Int(x)] = true }
            } else if !probeMatched.isEmpty { for x in l { probeMatched[Int(x)] = true } }
            if !buildMatched.isEmpty { buildMatched.withUnsafeMutableBufferPointer { m in for x in r { m[Int(x)] = true } } }
            if out.rowCount > 0 { pending.append(out) }
        }
        if !probeMatched.isEmpty {
            let unmatched = (0..<p.rowCount).filter { !probeMatched[$0] }.map { Int32($0) }
            if !unmatched.isEmpty { pending.append(joined(p, unmatched, t.rows, [Int32](repeating: -1, count: unmatched.count))) }
        }
    }

    /// SEMI, ANTI, MARK: which probe rows some build row matches; without a
    /// condition the key lookup alone says so.
    private func probeForMatches(_ p: RecordBatch, _ t: JoinTable, _ heads: [Int32]) throws(SQLError) {
        var matches = LeftMatches(count: p.rowCount)
        if let residual {
            let pairSchema = Schema(p.schema.fields + t.rows.schema.fields)
            try t.forEachPairChunk(heads) { (left, right) throws(SQLError) in
                let pairs = RecordBatch(schema: pairSchema, columns: p.columns.map { $0.gather(left) } + t.rows.columns.map { $0.gather(right) },
                                        rowCount: left.count)
                matches.record(left: left, condition: try Evaluator.evaluate(residual, pairs))
            }
        } else {
            matches.record(left: heads.indices.filter { heads[$0] >= 0 }.map { Int32($0) }, condition: nil)
        }
        let out = matches.output(p, kind: kind, schema: schema)
        if out.rowCount > 0 { pending.append(out) }
    }

    private func emitUnmatchedBuild() {
        guard let b = table?.rows else { return }
        var matched = buildMatched
        if let matches {
            guard let all = matches.finish(buildMatched) else { return }   // another partition finishes last
            matched = all
        }
        let unmatched = (0..<b.rowCount).filter { !matched[$0] }.map { Int32($0) }
        guard !unmatched.isEmpty else { return }
        let nullProbe = RecordBatch(schema: probe.schema, columns: probe.schema.fields.map { Column.constant(.null, type: $0.type, count: 1) }, rowCount: 1)
        pending.append(joined(nullProbe, [Int32](repeating: -1, count: unmatched.count), b, unmatched))
    }

    private func joined(_ p: RecordBatch, _ l: [Int32], _ b: RecordBatch, _ r: [Int32]) -> RecordBatch {
        RecordBatch(schema: schema, columns: p.columns.map { $0.gather(l) } + b.columns.map { $0.gather(r) }, rowCount: l.count)
    }
}
