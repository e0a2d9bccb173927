/// Identity and plan types the scheduler works with. Times are wall-clock
/// milliseconds supplied by the caller: the scheduler never reads a clock.

public typealias AttemptID = UInt64
public typealias Millis = Int64

/// A job's identity, assigned by the coordinator when it accepts the job.
///
/// Its hash is computed once: the scheduler looks jobs up several times per
/// task, and hashing the string each time was a third of its work.
public struct JobID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String
    private let hash: Int
    public init(_ rawValue: String) {
        self.rawValue = rawValue
        hash = rawValue.hashValue
    }
    public var description: String { rawValue }
    public static func < (a: JobID, b: JobID) -> Bool { a.rawValue < b.rawValue }
    public static func == (a: JobID, b: JobID) -> Bool { a.hash == b.hash && a.rawValue == b.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }
    /// The cached hash, mixed with the table's seed, without running the hasher again.
    public func _rawHashValue(seed: Int) -> Int { hash ^ seed }
}

/// One incarnation of one worker. A worker process that restarts keeps its id
/// and gets a new incarnation, so the coordinator can tell the two apart.
public struct WorkerKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let id: String
    public let incarnation: UInt64
    private let hash: Int
    public init(id: String, incarnation: UInt64) {
        self.id = id
        self.incarnation = incarnation
        hash = id.hashValue ^ incarnation.hashValue
    }
    public static func == (a: WorkerKey, b: WorkerKey) -> Bool { a.hash == b.hash && a.incarnation == b.incarnation && a.id == b.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }
    public func _rawHashValue(seed: Int) -> Int { hash ^ seed }
    public var description: String { "\(id)#\(incarnation)" }
    public static func < (a: WorkerKey, b: WorkerKey) -> Bool { (a.id, a.incarnation) < (b.id, b.incarnation) }
}

/// One task of one stage of one job.
public struct TaskKey: Hashable, Sendable, CustomStringConvertible {
    public let job: JobID
    public let stage: Int
    public let task: Int
    public init(job: JobID, stage: Int, task: Int) {
        self.job = job
        self.stage = stage
        self.task = task
    }
    public var description: String { "\(job)/\(stage).\(task)" }
}

/// What a job asks of the scheduler: its stages and their dependencies, and
/// how hard to retry. What the tasks do (kind, payload) is the shell's business;
/// the scheduler knows only the capabilities a stage requires of its workers.
public struct JobPlan: Sendable, Equatable {
    public struct Stage: Sendable, Equatable {
        public var tasks: Int
        public var dependsOn: [Int]
        /// Capabilities a worker must offer to run this stage's tasks (e.g. "commands").
        public var requires: Set<String>
        /// Its tasks leave outputs on the worker that ran them (shuffle data)
        /// that the stages depending on it read: the scheduler remembers where
        /// each one is, and a lost output that is still needed runs again.
        public var keepsOutputs: Bool
        /// Its task count is the shell's to decide once its dependencies are
        /// done (adaptive execution, from the sizes they wrote): the scheduler
        /// asks (`layoutNeeded`) and starts it on the answer (`stageLaidOut`);
        /// `tasks` is the planned count until then.
        public var laidOutWhenReady: Bool
        public init(tasks: Int, dependsOn: [Int] = [], requires: Set<String> = [], keepsOutputs: Bool = false, laidOutWhenReady: Bool = false) {
            self.laidOutWhenReady = laidOutWhenReady
            self.tasks = tasks
            self.dependsOn = dependsOn
            self.requires = requires
            self.keepsOutputs = keepsOutputs
        }
    }

    public var stages: [Stage]
    /// Retries after a failed attempt: `retries + 1` attempts in all.
    public var retries: Int
    /// Share of the slots against other jobs (tasks handed out per round-robin pass).
    public var weight: Int
    /// The last stage's output is a result someone reads after the stages are
    /// done (a query's rows): the job runs until the shell says it was
    /// delivered (`resultDelivered`), and a loss before that runs it again.
    public var deliversResult: Bool
    /// Which lane of the fair share the job is in.
    public var lane: Lane

    /// `normal` jobs share the slots round-robin and may be leased ahead;
    /// `low` jobs (backfills) get only slots no normal job wants, and are never leased ahead.
    public enum Lane: String, Sendable, Codable { case normal, low }

    public init(stages: [Stage], retries: Int = 3, weight: Int = 1, deliversResult: Bool = false, lane: Lane = .normal) {
        self.stages = stages
        self.retries = retries
        self.weight = max(1, weight)
        self.deliversResult = deliversResult
        self.lane = lane
    }

    /// The most tasks one stage may have: task indices travel as 32-bit fields.
    public static let maxTasksPerStage = 100_000_000
    /// The most tasks a stage that keeps outputs may have: the scheduler holds
    /// an entry per output until the job ends.
    public static let maxTasksKeepingOutputs = 100_000

    /// Nil when the plan is usable, else why not.
    public var problem: String? {
        if stages.isEmpty { return "a job needs at least one stage" }
        for (i, s) in stages.enumerated() {
            if s.tasks < 1 { return "stage \(i) has no tasks" }
            if s.tasks > Self.maxTasksPerStage { return "stage \(i) has \(s.tasks) tasks; the limit is \(Self.maxTasksPerStage)" }
            if deliversResult, i == stages.count - 1, !s.keepsOutputs { return "a job delivering a result keeps its last stage's outputs" }
            if s.keepsOutputs, s.tasks > Self.maxTasksKeepingOutputs {
                return "stage \(i) keeps its outputs and has \(s.tasks) tasks; the limit for such a stage is \(Self.maxTasksKeepingOutputs)"
            }
            for d in s.dependsOn where d < 0 || d >= i {
                return "stage \(i) depends on stage \(d), which is not an earlier stage"
            }
        }
        return nil
    }
}

/// A task handed to a worker: attempt `number` (1-based) of `task`.
public struct Assignment: Hashable, Sendable {
    public let attempt: AttemptID
    public let task: TaskKey
    public let number: Int
}

/// How an attempt ended, as the worker reported it.
public enum Outcome: Hashable, Sendable {
    case succeeded
    case failed(reason: String, exitCode: Int32)
    case timedOut(reason: String, exitCode: Int32 = -1)
    case cancelled
    /// It could not read the output of `producer` (a task of a stage it
    /// depends on) at output epoch `epoch`: not the attempt's fault, so it
    /// uses no retry; the output is lost and runs again, and so does this task.
    case inputLost(producer: TaskKey, epoch: Int, reason: String)
}

public struct WorkerInfo: Hashable, Sendable {
    public var key: WorkerKey
    public var slots: Int
    /// What this worker can run, matched against `JobPlan.Stage.requires`.
    public var capabilities: Set<String>
    public init(key: WorkerKey, slots: Int, capabilities: Set<String> = []) {
        self.key = key
        self.slots = slots
        self.capabilities = capabilities
    }
}

public enum JobState: String, Sendable {
    case running, succeeded, failed, cancelled
    public var isFinal: Bool { self != .running }
}

public enum StageState: String, Sendable {
    case waiting, running, succeeded, failed, cancelled
}

/// Lifecycle of a task. Legal moves are in `allows`; anything else is a bug.
public enum TaskPhase: String, Sendable {
    /// Its stage waits for the stages it depends on.
    case waiting
    /// Ready to run, in its stage's queue.
    case pending
    /// Failed and waiting out its retry backoff.
    case backoff
    /// Has an attempt leased or running.
    case active
    case succeeded, failed, cancelled

    /// The legal moves (a switch, not a table of sets: it runs for every task event).
    func allows(_ next: TaskPhase) -> Bool {
        switch (self, next) {
        case (.waiting, .pending), (.waiting, .cancelled): true
        case (.pending, .active), (.pending, .cancelled), (.pending, .succeeded), (.pending, .failed): true
        case (.backoff, .pending), (.backoff, .cancelled), (.backoff, .succeeded): true
        case (.active, .pending), (.active, .backoff), (.active, .succeeded), (.active, .failed), (.active, .cancelled): true
        // Output lost: its output is gone and still needed, so it runs again under a new output epoch.
        case (.succeeded, .pending): true
        default: false
        }
    }
}

/// Lifecycle of an attempt: leased -> running -> one of the ends. `lost` (its
/// worker died or forgot it) may still turn into `succeeded` when its result
/// arrives late and the task has not been committed by another attempt.
public enum AttemptState: String, Sendable {
    case leased, running, succeeded, failed, timedOut, cancelled, lost

    public var isActive: Bool { self == .leased || self == .running }

    func allows(_ next: AttemptState) -> Bool {
        switch (self, next) {
        case (.leased, .running), (.leased, .succeeded), (.leased, .failed), (.leased, .timedOut), (.leased, .cancelled), (.leased, .lost): true
        case (.running, .succeeded), (.running, .failed), (.running, .timedOut), (.running, .cancelled), (.running, .lost): true
        case (.lost, .succeeded), (.cancelled, .succeeded): true
        default: false
        }
    }
}

/// Lifecycle of a worker incarnation. `recovering`: known from the journal
/// after a coordinator restart, waiting for the worker to register again.
public enum WorkerState: String, Sendable {
    case alive, suspect, draining, recovering, dead, left

    func allows(_ next: WorkerState) -> Bool {
        switch (self, next) {
        case (.alive, .suspect), (.alive, .draining), (.alive, .dead), (.alive, .left): true
        case (.suspect, .alive), (.suspect, .draining), (.suspect, .dead), (.suspect, .left): true
        case (.draining, .dead), (.draining, .left): true
        case (.recovering, .alive), (.recovering, .dead), (.dead, .alive): true
        default: false
        }
    }
}
