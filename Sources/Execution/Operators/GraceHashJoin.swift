import Columnar
import SQL

/// A partitioned hash join (this partition's own build side) under a memory
/// limit: the build side is held while the query's pool has room for it and
/// its table, and then joined in memory as `HashJoinOperator` does. When the
/// pool says no, it becomes a grace hash join: both sides are written into 16
/// files each by bits of their key's hash (`HashSpill`), and each pair of files is joined on
/// its own, one level deeper (other hash bits) when a pair's build side is
/// still too large. Rows with equal keys always land in the same pair, and
/// every row in exactly one, so every join kind and its extra conditions keep
/// their meaning per pair.
final class GraceHashJoinOperator: Operator {
    let schema: Schema
    let stats = OperatorStats()
    private let probe: Operator
    private let build: Operator
    private let buildKeys: [BoundExpr]
    private let probeKeys: [BoundExpr]
    private let kind: JoinKind
    private let residual: BoundExpr?
    private let context: RunContext
    private let level: Int
    private var current: Operator?
    private var pairs: [(build: SpillReader, probe: SpillReader)] = []
    private var started = false
    private var reservation: MemoryReservation?
    static let maxLevel = 8

    init(probe: Operator, build: Operator, buildKeys: [BoundExpr], probeKeys: [BoundExpr], kind: JoinKind, residual: BoundExpr?,
         schema: Schema, context: RunContext, level: Int = 0) {
        self.probe = probe
        self.build = build
        self.buildKeys = buildKeys
        self.probeKeys = probeKeys
        self.kind = kind
        self.residual = residual
        self.schema = schema
        self.context = context
        self.level = level
    }

    func close() {
        current?.close()
        current = nil
        pairs = []
        probe.close()
        build.close()
        reservation?.free()
    }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            if !started {
                started = true
                try start()
            }
            while true {
                if let c = current {
                    if let b = try c.next() { return b }
                    if let g = c as? GraceHashJoinOperator { stats.absorbMemory(of: g.stats) }
                    current = nil
                    reservation?.free()
                }
                guard !pairs.isEmpty else { return nil }
                let (b, p) = pairs.removeFirst()
                current = GraceHashJoinOperator(probe: SpillScan(p, schema: probe.schema, stats: stats), build: SpillScan(b, schema: build.schema, stats: stats),
                                                buildKeys: buildKeys, probeKeys: probeKeys, kind: kind, residual: residual, schema: schema,
                                                context: context, level: level + 1)
            }
        }
    }

    /// Reads the build side: into memory while it fits, else into partition files (and then the probe side too).
    private func start() throws(SQLError) {
        guard let (memory, spill) = context.reservation("HASH JOIN") else {
            return try joinInMemory(drain(build))
        }
        reservation = memory
        var held: [RecordBatch] = []
        var files: HashSpill? = nil
        while let b = try build.next() {
            try context.check()
            if b.rowCount == 0 { continue }
            if files == nil {
                // Its rows, their copy in one batch, and the table's slots and chains.
                if memory.grow(2 * b.memoryBytes + 28 * b.rowCount) {
                    held.append(b)
                    stats.peakMemory = max(stats.peakMemory, memory.peak)
                    continue
                }
                if level >= Self.maxLevel {
                    try memory.require(2 * b.memoryBytes + 28 * b.rowCount, "the build side of its rows with one key")
                    held.append(b)
                    continue
                }
                let made = try HashSpill(spill, "join-build", level: level)
                files = made
                for h in held { try partition(h, keys: buildKeys, into: made) }
                held = []
                memory.free()
            }
            try partition(b, keys: buildKeys, into: files!)
        }
        guard let files else { return try joinInMemory(held) }
        let probes = try HashSpill(spill, "join-probe", level: level)
        while let b = try probe.next() {
            try context.check()
            if b.rowCount > 0 { try partition(b, keys: probeKeys, into: probes) }
        }
        stats.spilledBytes += files.bytes + probes.bytes
        for (b, p) in zip(files.files, probes.files) {
            // An empty build side still matters to the probe rows of LEFT, FULL, ANTI, MARK and SINGLE joins.
            if p.batches == 0 && (b.batches == 0 || !kind.keepsUnmatchedRight) { continue }
            if b.batches == 0 && !kind.keepsUnmatchedLeft { continue }
            pairs.append((b.finish(), p.finish()))
        }
    }

    private func joinInMemory(_ rows: [RecordBatch]) throws(SQLError) {
        let schema = build.schema, keys = buildKeys
        current = HashJoinOperator(probe: probe, build: { () throws(SQLError) in try JoinTable(rows, schema: schema, keys: keys) }, closeBuild: {},
                                   matches: nil, kind: kind, probeKeys: probeKeys, residual: residual, schema: self.schema, context: context)
    }

    /// Writes `b`'s rows into the files of their key's hash at this level (hashed as the join table hashes them).
    private func partition(_ b: RecordBatch, keys: [BoundExpr], into files: HashSpill) throws(SQLError) {
        var cols: [Column] = []
        for k in keys { cols.append(try Evaluator.evaluate(k, b)) }
        try files.append(b, hashes: Keys(cols, packPairs: true).hashes)
    }
}
