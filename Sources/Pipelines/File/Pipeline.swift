/// A pipeline as its file declares it: typed parameters, the sources it
/// reads, and SQL models whose references to one another make a DAG (as in
/// dbt). A value: reading, validating and running it are elsewhere.
public struct Pipeline: Sendable, Equatable {
    public var name: String
    public var params: [Param]
    public var sources: [Source]
    /// In file order; `PipelineGraph` orders them by dependency.
    public var models: [Model]
    public var schedule: Schedule?
    public var sla: SLA?
    /// Whether a deployed schedule runs the intervals it missed while nothing ran it.
    public var catchup: Bool

    public func model(_ name: String) -> Model? { models.first { $0.name == name } }
    public func param(_ name: String) -> Param? { params.first { $0.name == name } }
}

/// Where something sits in the pipeline file (1-based), for errors.
public struct FilePosition: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public var description: String { "\(line):\(column)" }
}

public struct Param: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case date, int, string, timestamp }
    public var name: String
    public var kind: Kind
    public var defaultValue: ParamValue?
    public var at: FilePosition
}

/// A table the models read: a catalog dataset, or files.
public struct Source: Sendable, Equatable {
    public enum Origin: Sendable, Equatable {
        case dataset(String)
        /// A path or glob with its format ("csv", "json", "sluice") and, optionally,
        /// a schema such as `id BIGINT, amount DECIMAL(12,2)`, plus the reader's
        /// `on_error` policy for malformed rows (`fail`, `skip`, or a quarantine).
        case files(path: String, format: String, schema: String?, onError: String?)
    }
    public var name: String
    public var origin: Origin
    public var at: FilePosition
}

public struct Model: Sendable, Equatable {
    public var name: String
    /// The SELECT, with `{{param}}` placeholders.
    public var sql: String
    /// Where the SQL's first character sits in the file, and how it was
    /// written there, so a position inside the SQL maps back to the file.
    public var sqlAt: SQLPlacement
    public var output: Output?
    public var retries: Int
    /// Milliseconds; nil for none.
    public var timeoutMs: Int64?
    public var at: FilePosition
}

/// How a model's SQL text lies in the file: a block scalar (`sql: |`) starts
/// on the line after its key, each line indented; an inline one starts at
/// its mark.
public struct SQLPlacement: Sendable, Equatable {
    public var firstLine: Int
    public var firstColumn: Int
    public var block: Bool

    /// The file position of a 1-based line and column inside the SQL.
    public func position(line: Int, column: Int) -> FilePosition {
        if block { return FilePosition(line: firstLine + line - 1, column: firstColumn + column - 1) }
        return FilePosition(line: firstLine + line - 1, column: line == 1 ? firstColumn + column - 1 : column)
    }
}

/// Where a model's rows go when its run commits.
public struct Output: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Replace one partition (`INSERT OVERWRITE ... PARTITION`); the rest stay.
        case overwritePartition = "overwrite_partition"
        /// Add the rows as a new version directory.
        case append
        /// Replace the whole dataset.
        case replace
    }
    public var dataset: String
    /// Partition column to value; a value is a constant or one `{{param}}`.
    public var partition: [(column: String, value: String)]
    public var format: String
    public var mode: Mode
    public var at: FilePosition

    public static func == (a: Output, b: Output) -> Bool {
        a.dataset == b.dataset && a.partition.elementsEqual(b.partition, by: { $0 == $1 }) && a.format == b.format && a.mode == b.mode && a.at == b.at
    }
}

/// When a deployed pipeline runs by itself.
public struct Schedule: Sendable, Equatable {
    public var cron: Cron
    /// An IANA zone name; the cron's fields are read in it.
    public var timezone: String
}

/// What "on time" means for a run: done by a time of day after its
/// interval ends (`finish_by: "06:00"`), or within a duration of starting.
public enum SLA: Sendable, Equatable {
    case finishBy(minuteOfDay: Int)
    case maxDurationMs(Int64)
}
