public import Columnar
public import SQL

/// A query cut into stages for the cluster (`StageCutter`): each stage is a
/// plan fragment run by `tasks` tasks, reading what earlier stages wrote
/// through `stageInput` leaves and writing its own rows split for its readers.
/// The last stage is the result: one task, one output.
public struct StagePlan: Sendable {
    public var stages: [QueryStage]
    /// How its stages that read a hash shuffle are re-planned once their inputs are done.
    public var adaptive = AdaptivePolicy()
    public var result: QueryStage { stages[stages.count - 1] }
    public init(stages: [QueryStage]) { self.stages = stages }
}

/// What one stage did (EXPLAIN ANALYZE), over the task attempts whose output
/// was used: one per task.
public struct StageFigures: Sendable, Equatable {
    public var tasks = 0
    /// Rows its tasks wrote.
    public var rows: UInt64 = 0
    /// Encoded, compressed bytes they wrote for the stages after it (or the result).
    public var bytes: UInt64 = 0
    /// From its first task's start to its last task's end.
    public var seconds: Double = 0
    /// Its tasks' run times added up.
    public var taskSeconds: Double = 0
    /// Where its tasks ran, sorted.
    public var workers: [String] = []
    /// What its tasks spilled to disk under their memory budgets.
    public var spilled: UInt64 = 0
    /// What adaptive execution changed in how it read its inputs, and why.
    public var changes: [String] = []
    public init(tasks: Int = 0, rows: UInt64 = 0, bytes: UInt64 = 0, seconds: Double = 0, taskSeconds: Double = 0, workers: [String] = []) {
        self.tasks = tasks
        self.rows = rows
        self.bytes = bytes
        self.seconds = seconds
        self.taskSeconds = taskSeconds
        self.workers = workers
    }
}

/// A staged query's rows (none when it ran for EXPLAIN ANALYZE) and what each stage did.
public struct StagedRun: Sendable {
    public var rows: [RecordBatch]
    /// One per stage, in stage order.
    public var figures: [StageFigures]
    public init(rows: [RecordBatch], figures: [StageFigures]) {
        self.rows = rows
        self.figures = figures
    }
}

public struct QueryStage: Sendable {
    public var id: Int
    /// The fragment: its leaves are scans, values and stage inputs.
    public var plan: PhysicalPlan
    /// How each task splits its rows for the stages that read them.
    public var output: StageOutput
    public var tasks: Int
    /// Stages whose outputs it reads (stage inputs and subquery results), ascending.
    public var dependsOn: [Int]
    /// `subqueries[i]` is the stage whose output is the rows of subquery i
    /// (expressions `.subqueryValue(i)` and `.inSubqueryRows(_, i)`).
    public var subqueries: [Int]
    /// The type of each subquery's (first) column.
    public var subqueryTypes: [DataType]
    /// How a task combines its own partitions (its threads) before writing:
    /// the order the stage's readers expect of each task's rows.
    public var combine: GatherOrder
    /// For a stage with a scan: what each task reads of its files (whole
    /// files, or byte ranges of large ones), in file order; nil otherwise.
    public var scanShares: [[ScanShare]]?
    /// For a stage reading a hash shuffle, when the sizes its producers wrote
    /// changed how it reads (`AdaptivePlanner`): per task, the slices of its
    /// shuffled inputs it reads. Nil: task k reads bucket k of every producer.
    public var layout: [[InputSlice]]?

    public init(id: Int, plan: PhysicalPlan, output: StageOutput, combine: GatherOrder, tasks: Int, dependsOn: [Int], subqueries: [Int],
                subqueryTypes: [DataType], scanShares: [[ScanShare]]?, layout: [[InputSlice]]? = nil) {
        self.layout = layout
        self.subqueryTypes = subqueryTypes
        self.combine = combine
        self.id = id
        self.plan = plan
        self.output = output
        self.tasks = tasks
        self.dependsOn = dependsOn
        self.subqueries = subqueries
        self.scanShares = scanShares
    }
}

/// One part of a scan a task reads: file `file` of the scan, whole or bytes `range`.
public struct ScanShare: Sendable, Equatable {
    public var file: Int
    public var range: Range<Int>?
    public init(file: Int, range: Range<Int>? = nil) {
        self.file = file
        self.range = range
    }
}

/// Part of a stage input one task reads: buckets `buckets` of stage `stage`,
/// from its producer tasks `producers` (nil: every one), bucket by bucket,
/// producers in task order.
public struct InputSlice: Sendable, Equatable {
    public var stage: Int
    public var buckets: Range<Int>
    public var producers: Range<Int>?
    public init(stage: Int, buckets: Range<Int>, producers: Range<Int>? = nil) {
        self.stage = stage
        self.buckets = buckets
        self.producers = producers
    }

    /// Every producer's only bucket (a gather or broadcast input, a subquery).
    public static func whole(_ stage: Int) -> InputSlice { InputSlice(stage: stage, buckets: 0..<1) }
}

/// How a stage's task splits its output rows.
public enum StageOutput: Sendable {
    /// Into `partitions` buckets by the hash of the keys (equal keys, and all
    /// NULL keys, in one bucket); reader task k reads bucket k of every task.
    case hash(keys: [BoundExpr], partitions: Int)
    /// One bucket, which every reader reads whole.
    case single

    public var buckets: Int {
        switch self {
        case .hash(_, let n): n
        case .single: 1
        }
    }
}
