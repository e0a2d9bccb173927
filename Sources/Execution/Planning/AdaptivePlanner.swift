public import SQL

/// Adaptive execution's settings (`SET adaptive = false`, `SET adaptive_... = N`).
/// The defaults are Spark's (advisory partition size, skew factor and threshold)
/// except the broadcast size, which counts compressed shuffle bytes.
public struct AdaptivePolicy: Sendable, Equatable {
    public var enabled = true
    /// Bytes a task reading a shuffle should get: neighbouring small partitions are coalesced up to it.
    public var targetBytes: UInt64 = 64_000_000
    /// A join side's partition is skewed above `skewFactor` times that side's
    /// median partition, above what a task should read, and above `skewBytes`
    /// (Spark's 256 MB floor is for large clusters; 0 leaves the task's share as the floor).
    public var skewFactor: Double = 5
    public var skewBytes: UInt64 = 0
    /// A join side that wrote at most this is read whole by every task, and the
    /// other side by producer instead of by key. Small, since it counts
    /// compressed bytes and every task then builds the side's whole table.
    public var broadcastBytes: UInt64 = 4_000_000
    /// Tasks that can run at once (the cluster's slots): a task's share is
    /// lowered from `targetBytes` so a stage keeps this many tasks busy, but
    /// not below `minTaskBytes` (Spark's parallelism-first coalescing).
    public var parallelism = 1
    public static let minTaskBytes: UInt64 = 1_000_000

    /// Bytes a task should read of a stage whose inputs wrote `total`.
    func taskBytes(total: UInt64) -> UInt64 {
        let share = total / UInt64(max(1, parallelism))
        return max(1, min(targetBytes, max(Self.minTaskBytes, share)))
    }

    public init() {}
}

/// Re-plans how a stage reads its hash-shuffled inputs once the stages before
/// it have run and reported the bytes they wrote into each bucket. Pure: the
/// coordinator calls it when the stage's inputs are done (and `StagedQuery` in
/// one process), and the answer is a layout (`QueryStage.layout`) plus what
/// changed, in words, for EXPLAIN ANALYZE. Three changes, in Spark AQE's terms:
/// - coalescing: neighbouring partitions are read by one task up to the target
///   size, and partitions nobody wrote to are not read at all;
/// - a skewed join partition is split by producer over several tasks, each
///   reading the other side's matching partition whole;
/// - a join whose side turned out small reads that side whole in every task and
///   deals the other side's output out by producer (a broadcast join after the
///   shuffle: the shuffle was already written, but no task waits on one key).
/// Splitting a side is only done where it keeps the answer: the side whose
/// unmatched rows the join may emit (the probe side of a LEFT join) can be
/// split, the other side then being read whole; and everything else in the
/// stage must work row by row (no final aggregate, no second partitioned join).
/// Correctness never depends on the sizes: any layout reads each piece exactly once.
public enum AdaptivePlanner {
    public struct Decision: Sendable {
        public var stage: QueryStage
        public var changes: [String]
    }

    /// `sizes[s][p][b]`: bytes producer task `p` of stage `s` wrote into bucket `b`.
    /// Nil when the stage reads no hash shuffle, adaptation is off, or nothing would change.
    public static func adapt(_ stage: QueryStage, sizes: [Int: [[UInt64]]], policy: AdaptivePolicy) -> Decision? {
        guard policy.enabled, adapts(stage) else { return nil }
        let shuffled = stage.plan.shuffledStageInputs
        let buckets = stage.tasks
        guard buckets >= 1 else { return nil }
        // Every input must have reported a size per bucket (defensive: a worker's figures are its own).
        for s in shuffled {
            guard let perProducer = sizes[s], !perProducer.isEmpty, perProducer.allSatisfy({ $0.count == buckets }) else { return nil }
        }
        let input = Sizes(sizes: sizes, inputs: shuffled, buckets: buckets)
        let join = SplittableJoin(stage.plan, shuffled: shuffled)
        let target = policy.taskBytes(total: input.total)

        if let join, let decision = broadcast(stage, join, input, policy, target) { return decision }

        var layout: [[InputSlice]] = []
        var changes: [String] = []
        var group: [Int] = []
        var groupBytes: UInt64 = 0
        var empty = 0
        var coalesced = 0
        func close() {
            guard !group.isEmpty else { return }
            if group.count > 1 { coalesced += group.count }
            layout.append(shuffled.flatMap { s in runs(group).map { InputSlice(stage: s, buckets: $0) } })
            group = []
            groupBytes = 0
        }
        let thresholds = join.map { j in j.splittable.map { s in max(policy.skewBytes, target, UInt64(policy.skewFactor * Double(input.median(s)))) } }
        for b in 0..<buckets {
            let bytes = input.bucket(b)
            if let join, let thresholds, let split = skewSplit(b, join, thresholds, input, target) {
                close()
                let side = join.splittable[split.side]
                for producers in split.groups {
                    layout.append(shuffled.map { s in
                        InputSlice(stage: s, buckets: b..<(b + 1), producers: s == side ? producers : nil)
                    })
                }
                changes.append("partition \(b) of stage \(side) (\(PlanText.byteText(input.bytes(side, b))), \(ratio(input.bytes(side, b), input.median(side))) "
                    + "its median) split into \(split.groups.count) tasks by producer; each reads partition \(b) of "
                    + shuffled.filter { $0 != side }.map { "stage \($0)" }.joined(separator: ", ") + " whole")
                continue
            }
            if bytes == 0 { empty += 1; continue }
            if !group.isEmpty, groupBytes + bytes > target { close() }
            group.append(b)
            groupBytes += bytes
        }
        close()
        if layout.isEmpty { layout = [[]] }   // nothing was written: one task, reading nothing
        if coalesced > 0 || empty > 0 {
            var text = "\(buckets) partitions (\(PlanText.byteText(input.total))) read by \(layout.count) task\(layout.count == 1 ? "" : "s")"
            if coalesced > 0 { text += "; neighbours coalesced up to \(PlanText.byteText(target)) a task" }
            if empty > 0 { text += "; \(empty) empty partition\(empty == 1 ? "" : "s") not read" }
            changes.insert(text, at: 0)
        }
        guard !changes.isEmpty, layout.count <= QueryStage.maxTasks else { return nil }
        var out = stage
        out.tasks = layout.count
        out.layout = layout
        return Decision(stage: out, changes: changes)
    }

    /// The join switched to broadcast, when one side it may replicate is small
    /// and the other is worth more than one task.
    private static func broadcast(_ stage: QueryStage, _ join: SplittableJoin, _ input: Sizes, _ policy: AdaptivePolicy,
                                  _ target: UInt64) -> Decision? {
        // A side may be split (read by producer) when the other is the one replicated.
        let candidates = join.splittable.compactMap { big -> (small: Int, big: Int)? in
            guard let small = join.sides.first(where: { $0 != big }) else { return nil }
            let s = input.total(small)
            guard s <= policy.broadcastBytes, input.total(big) > target, s < input.total(big) else { return nil }
            return (small, big)
        }
        guard let pick = candidates.min(by: { input.total($0.small) < input.total($1.small) }) else { return nil }
        let perProducer = input.producerTotals(pick.big)
        let groups = contiguousGroups(perProducer, target: target)
        let all = 0..<input.buckets
        let layout = groups.map { producers in
            [InputSlice(stage: pick.big, buckets: all, producers: producers), InputSlice(stage: pick.small, buckets: all)]
        }
        guard layout.count <= QueryStage.maxTasks else { return nil }
        var out = stage
        out.tasks = layout.count
        out.layout = layout
        let side = pick.small == join.build ? "build" : "probe"
        return Decision(stage: out, changes: [
            "join switched to broadcast: stage \(pick.small) (the \(side) side) wrote \(PlanText.byteText(input.total(pick.small))), "
                + "at most adaptive_broadcast_bytes (\(PlanText.byteText(policy.broadcastBytes))); every task reads it whole, and "
                + "\(layout.count) task\(layout.count == 1 ? " shares" : "s share") stage \(pick.big)'s \(PlanText.byteText(input.total(pick.big))) "
                + "by producer instead of by key",
        ])
    }

    /// How to split partition `b` when a side that may be split is skewed
    /// there: that side (an index into `join.splittable`) and its producers in
    /// groups of about the target size; nil when not skewed or not splittable
    /// (one producer wrote it all).
    private static func skewSplit(_ b: Int, _ join: SplittableJoin, _ thresholds: [UInt64], _ input: Sizes,
                                  _ target: UInt64) -> (side: Int, groups: [Range<Int>])? {
        var best: (side: Int, groups: [Range<Int>])?
        var bestBytes: UInt64 = 0
        for (i, s) in join.splittable.enumerated() where input.bytes(s, b) > thresholds[i] && input.bytes(s, b) > bestBytes {
            let groups = contiguousGroups(input.producerBytes(s, b), target: target)
            guard groups.count > 1 else { continue }
            best = (i, groups)
            bestBytes = input.bytes(s, b)
        }
        return best
    }

    /// Whether `stage` is one adaptation may re-plan: it reads a hash shuffle, scans no files, and has no layout yet.
    public static func adapts(_ stage: QueryStage) -> Bool {
        stage.layout == nil && stage.scanShares == nil && !stage.plan.shuffledStageInputs.isEmpty
    }

    /// Indices 0..<sizes.count cut into contiguous runs of about `target` bytes each.
    static func contiguousGroups(_ sizes: [UInt64], target: UInt64) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0
        var bytes: UInt64 = 0
        for (i, n) in sizes.enumerated() {
            if i > start, bytes + n > target {
                out.append(start..<i)
                start = i
                bytes = 0
            }
            bytes += n
        }
        out.append(start..<sizes.count)
        return out
    }

    /// Sorted bucket indices as ranges of consecutive ones.
    static func runs(_ sorted: [Int]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        for b in sorted {
            if let last = out.last, last.upperBound == b { out[out.count - 1] = last.lowerBound..<(b + 1) } else { out.append(b..<(b + 1)) }
        }
        return out
    }

    static func ratio(_ n: UInt64, _ median: UInt64) -> String {
        median == 0 ? "above" : "\(Int((Double(n) / Double(median)).rounded()))x"
    }
}

/// The bytes a stage's shuffled inputs wrote.
private struct Sizes {
    let sizes: [Int: [[UInt64]]]
    let inputs: [Int]
    let buckets: Int

    func bytes(_ s: Int, _ b: Int) -> UInt64 { sizes[s]!.reduce(0) { $0 &+ $1[b] } }
    func bucket(_ b: Int) -> UInt64 { inputs.reduce(0) { $0 &+ bytes($1, b) } }
    func total(_ s: Int) -> UInt64 { sizes[s]!.reduce(0) { $0 &+ $1.reduce(0, &+) } }
    var total: UInt64 { inputs.reduce(0) { $0 &+ total($1) } }
    func producerBytes(_ s: Int, _ b: Int) -> [UInt64] { sizes[s]!.map { $0[b] } }
    func producerTotals(_ s: Int) -> [UInt64] { sizes[s]!.map { $0.reduce(0, &+) } }
    func median(_ s: Int) -> UInt64 {
        let sorted = (0..<buckets).map { bytes(s, $0) }.sorted()
        return sorted[sorted.count / 2]
    }
}

/// A stage whose one partitioned hash join reads two shuffled inputs
/// directly, with nothing else in the stage that needs a key's rows together:
/// which of its sides may be split over tasks (the other read whole by each).
private struct SplittableJoin {
    let probe: Int
    let build: Int
    /// Sides that may be split: the probe side when the join never emits
    /// unmatched build rows (all but RIGHT and FULL), the build side when it never emits
    /// unmatched probe rows (INNER, RIGHT).
    let splittable: [Int]
    var sides: [Int] { [probe, build] }

    init?(_ plan: PhysicalPlan, shuffled: [Int]) {
        var found: (kind: JoinKind, probe: Int, build: Int)?
        for n in plan.allNodes {
            switch n.node {
            case .hashJoin(let kind, _, _, _, .partitioned):
                guard found == nil,
                      case .stageInput(let p, .repartition) = n.inputs[0].node,
                      case .stageInput(let b, .repartition) = n.inputs[1].node, p != b else { return nil }
                found = (kind, p, b)
            case .hashJoin(let kind, _, _, _, .shared), .nestedLoopJoin(let kind, _):
                // Unmatched rows of a replicated side would come out of every task.
                guard kind.leftRowsIndependent else { return nil }
            case .aggregate(_, _, .partial), .filter, .project, .sort, .topN, .limit, .write, .stageInput, .values:
                break
            default:
                return nil
            }
        }
        guard let found, Set(shuffled) == [found.probe, found.build] else { return nil }
        probe = found.probe
        build = found.build
        var sides: [Int] = []
        if found.kind.leftRowsIndependent { sides.append(found.probe) }
        if found.kind == .inner || found.kind == .right { sides.append(found.build) }
        splittable = sides
    }
}
