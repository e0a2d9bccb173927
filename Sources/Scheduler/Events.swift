/// What the coordinator tells the scheduler happened.
public enum Event: Sendable {
    case submitted(JobID, JobPlan)
    /// A worker registered. `running` and `queued` are attempts it still holds
    /// (re-registration after a coordinator restart or a partition); `finished`
    /// are results it never had acknowledged.
    case workerJoined(WorkerInfo, running: [AttemptID], queued: [AttemptID], finished: [Report])
    case heartbeat(WorkerKey, draining: Bool)
    /// A worker reports and asks for up to `want` tasks. `token` names this
    /// request; the scheduler answers it with exactly one `.answerSync`, at once
    /// or (a parked long poll) by `deadline`. `draining` takes effect before
    /// anything else in the sync, so tasks it hands back never return to it.
    case sync(WorkerKey, token: UInt64, want: Int, deadline: Millis, started: [AttemptID], finished: [Report], released: [AttemptID], draining: Bool = false)
    case workerLeft(WorkerKey)
    case cancel(JobID, reason: String)
    /// The output of a committed task (of a stage that keeps outputs) at
    /// output epoch `epoch` is gone: the shell learned the worker holding it
    /// cannot serve it. Stale epochs are ignored.
    case outputLost(TaskKey, epoch: Int, reason: String)
    /// The result of a job that delivers one was read: the job succeeds.
    case resultDelivered(JobID)
    /// The answer to `layoutNeeded`: stage `stage` runs as `tasks` tasks.
    /// Ignored unless the stage is still waiting, ready and not laid out.
    case stageLaidOut(JobID, stage: Int, tasks: Int)
    /// Time passes: heartbeats go missing, backoffs end, parked polls expire.
    case tick
    /// Workers are being added (an autoscaling step): until they register, no
    /// worker is leased tasks beyond its free slots, so the backlog stays here
    /// for the new ones instead of queueing on the old.
    case scaleUpPending(Bool)
}

/// An attempt's end as reported by a worker.
public struct Report: Hashable, Sendable {
    public var attempt: AttemptID
    public var outcome: Outcome
    public init(attempt: AttemptID, outcome: Outcome) {
        self.attempt = attempt
        self.outcome = outcome
    }
}

/// What the scheduler asks the coordinator to do.
public enum Action: Hashable, Sendable {
    /// Answer the sync request `token` of `worker` with these tasks (maybe none).
    case answerSync(WorkerKey, token: UInt64, [Assignment])
    /// Tell the worker to stop these attempts.
    case cancel(WorkerKey, [Assignment])
    /// An attempt ended (or a lost one was re-adopted): journal it.
    case attemptEnded(AttemptEnd)
    case jobEnded(JobID, JobState, reason: String)
    /// A finished job left memory (`keepFinished` after it ended); the journal keeps it.
    case jobForgotten(JobID)
    case workerChanged(WorkerKey, WorkerState, reason: String)
    /// A committed task's output was lost while still needed: it runs again
    /// under output epoch `epoch`.
    case outputLost(TaskKey, epoch: Int, reason: String)
    /// Every stage of a job that delivers a result succeeded: read the last
    /// stage's outputs (again, after a loss), then send `resultDelivered`.
    case resultReady(JobID)
    /// A dead or departed worker left memory (`forgetWorkersAfter` after it went).
    case workerForgotten(WorkerKey)
    /// The dependencies of a stage that is `laidOutWhenReady` are done: the
    /// shell decides its task count and answers with `stageLaidOut`.
    case layoutNeeded(JobID, stage: Int)
}

/// Everything the journal records when an attempt ends: the attempt may
/// leave the scheduler's memory in the same step.
public struct AttemptEnd: Hashable, Sendable {
    public var attempt: AttemptID
    public var task: TaskKey
    public var state: AttemptState
    public var reason: String
    public var exitCode: Int32
    public init(attempt: AttemptID, task: TaskKey, state: AttemptState, reason: String, exitCode: Int32 = 0) {
        self.attempt = attempt
        self.task = task
        self.state = state
        self.reason = reason
        self.exitCode = exitCode
    }
}

/// The scheduler's tunables. Defaults are the documented ones.
public struct SchedulerConfig: Sendable {
    public var heartbeatInterval: Millis = 1000
    /// Missed heartbeats after which a worker is suspect (gets no new tasks).
    public var suspectAfterMissed = 2
    /// Silence after which a worker is dead and its tasks are retried elsewhere.
    public var deadAfter: Millis = 5000
    /// Tasks a worker may hold beyond its free slots, so dispatch overlaps execution.
    public var leaseAhead = 1024
    /// Attempts lost with dead workers before a task is declared poison.
    public var poisonAfterLost = 3
    /// Reports of a lost input by one task before it fails (a block that keeps going missing).
    public var failAfterInputLosses = 5
    public var backoffBase: Millis = 200
    public var backoffMax: Millis = 10_000
    /// How long a finished job stays in memory before only the journal has it.
    public var keepFinished: Millis = 60_000
    /// How long a dead or departed worker stays in memory (and in `status`).
    public var forgetWorkersAfter: Millis = 300_000

    public init() {}

    public func backoff(afterFailures n: Int) -> Millis {
        let shift = min(max(n - 1, 0), 20)
        return min(backoffBase << Millis(shift), backoffMax)
    }
}
