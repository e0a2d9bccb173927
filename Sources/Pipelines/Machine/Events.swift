/// What the pipeline machine is told, and what it answers. Events are
/// `Codable` because the coordinator journals them: replaying the journal
/// through a fresh machine rebuilds its state exactly (every id and time in
/// the state comes from an event).

public struct RunID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ v: Int64) { rawValue = v }
    public static func < (a: RunID, b: RunID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "run-\(rawValue)" }
}

public struct BackfillID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ v: Int64) { rawValue = v }
    public static func < (a: BackfillID, b: BackfillID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "backfill-\(rawValue)" }
}

/// Who is waiting for a run, which decides its share of the cluster: a
/// person's run, then scheduled runs, then backfills, which only take what
/// is left.
public enum Lane: String, Sendable, Codable, Comparable {
    case interactive, scheduled, backfill
    var rank: Int { self == .interactive ? 0 : self == .scheduled ? 1 : 2 }
    public static func < (a: Lane, b: Lane) -> Bool { a.rank < b.rank }
}

/// The shape of one version of a pipeline, as much as the machine needs:
/// models and their edges, retries, timeouts, schedule and SLA.
public struct PipelineSpec: Sendable, Codable, Equatable {
    public struct ModelSpec: Sendable, Codable, Equatable {
        public var name: String
        public var upstream: [String]
        public var retries: Int
        public var timeoutMs: Int64?
    }
    public var name: String
    /// The content hash of the file this spec came from.
    public var version: String
    /// In dependency order.
    public var models: [ModelSpec]
    public var cron: String?
    public var timezone: String
    public var catchup: Bool
    public var finishByMinute: Int?
    public var maxDurationMs: Int64?
    /// The parameter a schedule and a backfill fill in (a `date` or `timestamp`), if any.
    public var intervalParam: String?
    public var intervalParamIsTimestamp: Bool

    public init(_ v: ValidPipeline, version: String) {
        name = v.pipeline.name
        self.version = version
        models = v.graph.order.map { m in
            let model = v.pipeline.model(m)!
            return ModelSpec(name: m, upstream: v.graph.upstream[m] ?? [], retries: model.retries, timeoutMs: model.timeoutMs)
        }
        cron = v.pipeline.schedule?.cron.text
        timezone = v.pipeline.schedule?.timezone ?? "UTC"
        catchup = v.pipeline.catchup
        switch v.pipeline.sla {
        case .finishBy(let m): finishByMinute = m; maxDurationMs = nil
        case .maxDurationMs(let d): finishByMinute = nil; maxDurationMs = d
        case nil: finishByMinute = nil; maxDurationMs = nil
        }
        let interval = v.pipeline.params.first { $0.name == "date" && ($0.kind == .date || $0.kind == .timestamp) }
            ?? v.pipeline.params.first { $0.kind == .date }
        intervalParam = interval?.name
        intervalParamIsTimestamp = interval?.kind == .timestamp
    }
}

/// How a backfill treats partitions a run of the pipeline already wrote.
public enum Reprocess: String, Sendable, Codable, CaseIterable {
    /// Skip partitions with a succeeded run; run the rest.
    case none
    /// Run partitions never run, and those whose last run failed.
    case failed
    /// Run every partition.
    case all
}

public enum PipelineEvent: Sendable, Codable, Equatable {
    /// Registers (or replaces) a deployed pipeline; its schedule starts from `nowMs`.
    case deploy(PipelineSpec, nowMs: Int64)
    case undeploy(name: String, nowMs: Int64)
    /// One run with these parameter values (as text, each already checked against its type).
    case startRun(PipelineSpec, params: [String: String], lane: Lane, nowMs: Int64)
    case modelSucceeded(RunID, model: String, attempt: Int, rows: Int64, quarantined: Int64, nowMs: Int64)
    case modelFailed(RunID, model: String, attempt: Int, error: String, nowMs: Int64)
    case cancelRun(RunID, reason: String, nowMs: Int64)
    /// One run per value of the spec's interval parameter, `values` in the order to run them.
    case startBackfill(PipelineSpec, values: [String], params: [String: String], maxActiveRuns: Int, reprocess: Reprocess, nowMs: Int64)
    case cancelBackfill(BackfillID, reason: String, nowMs: Int64)
    /// Time passed: schedules fire, timeouts and SLAs are checked.
    case tick(nowMs: Int64)
    /// The coordinator started again with this state replayed: model runs
    /// that were running are submitted again, as new attempts.
    case recovered(nowMs: Int64)
}

/// A model of a run to be run as a job: the shell renders its SQL from the
/// pipeline version and parameters and submits it in the lane's priority.
public struct ModelTask: Sendable, Equatable, Hashable {
    public var run: RunID
    public var pipeline: String
    public var version: String
    public var model: String
    public var attempt: Int
    public var params: [String: String]
    public var lane: Lane
}

public enum PipelineAction: Sendable, Equatable {
    case runCreated(RunID)
    case backfillCreated(BackfillID, runs: Int, skipped: Int)
    case submit(ModelTask)
    /// Stop a model's job (run cancelled, or timed out).
    case cancel(RunID, model: String, attempt: Int, reason: String)
    case runFinished(RunID, RunState, error: String?)
    case slaMissed(RunID, pipeline: String)
    case backfillFinished(BackfillID, BackfillState)
    /// A request the machine turned down, with why (an unknown run, a backfill already ended).
    case refused(String)
}
