/// A run's lifecycle: running → succeeded | failed | cancelled. A run is
/// created running; it ends when no model is running and none can start.
public enum RunState: String, Sendable, Codable, Equatable { case running, succeeded, failed, cancelled }

/// A model's lifecycle within a run:
///
///     waiting → running → succeeded
///                  ↓  ↖ (retry)
///                failed          waiting → skipped (an upstream model failed)
///     waiting | running → cancelled
public enum ModelState: String, Sendable, Codable, Equatable {
    case waiting, running, succeeded, failed, skipped, cancelled

    var ended: Bool { self != .waiting && self != .running }

    static func legal(_ from: ModelState, _ to: ModelState) -> Bool {
        switch (from, to) {
        case (.waiting, .running), (.waiting, .skipped), (.waiting, .cancelled),
             (.running, .succeeded), (.running, .failed), (.running, .running), (.running, .cancelled):
            return true
        default:
            return false
        }
    }
}

public struct ModelRun: Sendable, Equatable {
    public var name: String
    public var upstream: [String]
    public var state: ModelState = .waiting
    /// Attempts started; the current one is `attempt`.
    public var attempt = 0
    public var retries: Int
    public var timeoutMs: Int64?
    public var startedMs: Int64?
    public var endedMs: Int64?
    public var rows: Int64 = 0
    public var quarantined: Int64 = 0
    public var error: String?
}

public struct PipelineRun: Sendable, Equatable {
    public var id: RunID
    public var pipeline: String
    public var version: String
    public var params: [String: String]
    public var lane: Lane
    public var backfill: BackfillID?
    public var state: RunState = .running
    public var models: [ModelRun]
    public var startedMs: Int64
    public var endedMs: Int64?
    /// When it must be done by (its SLA), if it has one.
    public var deadlineMs: Int64?
    public var slaMissed = false
    public var error: String?

    /// The parameter values as one key: which partition a run wrote.
    public var key: String { Self.key(params) }
    public var rows: Int64 { models.reduce(0) { $0 + $1.rows } }
    public var quarantined: Int64 { models.reduce(0) { $0 + $1.quarantined } }
}

public enum BackfillState: String, Sendable, Codable, Equatable { case running, succeeded, failed, cancelled }

public struct Backfill: Sendable, Equatable {
    public enum Slot: Sendable, Equatable {
        case pending
        case running(RunID)
        case done(RunID, RunState)
        /// Already written by an earlier run (`--reprocess none|failed`).
        case skipped
    }
    public var id: BackfillID
    public var pipeline: String
    public var version: String
    public var param: String
    public var params: [String: String]
    /// The interval parameter's values, in the order they run, each with where it stands.
    public var values: [String]
    public var slots: [Slot]
    public var maxActiveRuns: Int
    public var state: BackfillState = .running
    public var startedMs: Int64
    public var endedMs: Int64?
    public var reason: String?

    public var counts: (done: Int, running: Int, failed: Int, pending: Int, skipped: Int) {
        var c = (done: 0, running: 0, failed: 0, pending: 0, skipped: 0)
        for s in slots {
            switch s {
            case .pending: c.pending += 1
            case .running: c.running += 1
            case .done(_, .succeeded): c.done += 1
            case .done: c.failed += 1
            case .skipped: c.skipped += 1
            }
        }
        return c
    }
}

/// A deployed pipeline and where its schedule stands.
public struct Deployment: Sendable, Equatable {
    public var spec: PipelineSpec
    public var deployedMs: Int64
    /// The end of the next interval to run (when the schedule fires next).
    public var nextFireMs: Int64?
}
