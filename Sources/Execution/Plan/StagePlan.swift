public import Columnar
public import SQL

/// A query cut into stages for the cluster (`StageCutter`): each stage is a
/// plan fragment run by `tasks` tasks, reading what earlier stages wrote
/// through `stageInput` leaves and writing its own rows split for its readers.
/// The last stage is the result: one task, one output.
public struct StagePlan: Sendable {
    public var stages: [QueryStage]
    public var result: QueryStage { stages[stages.count - 1] }
    public init(stages: [QueryStage]) { self.stages = stages }
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

    public init(id: Int, plan: PhysicalPlan, output: StageOutput, combine: GatherOrder, tasks: Int, dependsOn: [Int], subqueries: [Int],
                subqueryTypes: [DataType], scanShares: [[ScanShare]]?) {
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
