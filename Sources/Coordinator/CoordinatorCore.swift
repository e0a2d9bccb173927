import Foundation
import Logging
import Scheduler
import Transport
import Wire

/// The coordinator's state and request handlers. Owned by the loop thread
/// alone: nothing here is shared, so nothing here locks.
///
/// One loop turn: admit and handle every queued request (feeding the
/// scheduler), commit the journal once, then send the replies. A reply never
/// leaves before the journal holds what it acknowledges.
final class CoordinatorCore {
    let config: CoordinatorConfig
    let logger: Logger
    let epoch: UInt64
    let coordinatorID: String
    private(set) var scheduler: Scheduler
    private let journal: Journal
    private var gate: RequestGate
    let server: ReplyServer

    private var specs: [JobID: JobSpec] = [:]
    private var jobMeta: [JobID: JobMeta] = [:]
    private var submissions: [String: JobID] = [:]
    private var attemptInfo: [AttemptID: AttemptInfo] = [:]
    private var workerMeta: [WorkerKey: WorkerMeta] = [:]
    private var pendingCancels: [WorkerKey: [AttemptID]] = [:]
    private var parked: [UInt64: (request: IncomingRequest, envelope: Envelope)] = [:]
    private var duplicates: [[UInt8]: [IncomingRequest]] = [:]
    private var outbox: [(IncomingRequest, [UInt8])] = []
    private var nextToken: UInt64 = 1
    private var nextJobSeq: Int64 = 1

    struct JobMeta {
        var name: String
        var seq: Int64
        var submittedMs: Int64
        var finishedMs: Int64 = 0
    }

    struct AttemptInfo {
        var startedUs: Int64 = 0
        var finishedUs: Int64 = 0
        var output: [UInt8] = []
    }

    struct WorkerMeta {
        var host: String
        var serviceAddress: String
        var labels: [Label]
        var stats = ResourceStats()
        var lastHeartbeatMs: Int64
    }

    init(config: CoordinatorConfig, server: ReplyServer, logger: Logger) throws {
        self.config = config
        self.server = server
        self.logger = logger
        try FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true)
        journal = try Journal(path: config.dataDir + "/journal.db", fullSync: config.fullSync)
        epoch = try journal.nextEpoch()
        coordinatorID = "coordinator@\(ProcessInfo.processInfo.hostName)"
        gate = RequestGate(sealer: Sealer(clusterID: config.clusterID, sender: "coordinator:\(coordinatorID)", secret: config.secret),
                           windowMs: config.freshnessWindowMs)
        scheduler = Scheduler(config: config.scheduler)
        try restore()
    }

    // MARK: restart

    private func restore() throws {
        let now = Date().unixMilliseconds
        let storedJobs = try journal.loadJobs()
        let storedAttempts = try journal.loadAttempts()
        var restoredJobs: [Scheduler.RestoredJob] = []
        for j in storedJobs {
            let id = JobID(j.id)
            guard let spec = try? JobSpec(decoding: j.spec), spec.problem == nil else {
                logger.error("journal holds an unreadable job spec; skipping it", metadata: ["job.id": "\(j.id)"])
                continue
            }
            specs[id] = spec
            submissions[j.submission] = id
            jobMeta[id] = JobMeta(name: spec.name, seq: j.seq, submittedMs: j.submittedMs, finishedMs: j.finishedMs)
            nextJobSeq = max(nextJobSeq, j.seq + 1)
            restoredJobs.append(.init(id: id, plan: spec.plan, state: JobState(rawValue: j.state) ?? .running, reason: j.reason))
        }
        var restoredAttempts: [Scheduler.RestoredAttempt] = []
        for a in storedAttempts where specs[JobID(a.job)] != nil {
            attemptInfo[a.id] = AttemptInfo(startedUs: a.startedUs, finishedUs: a.finishedUs, output: a.output)
            restoredAttempts.append(.init(id: a.id, task: TaskKey(job: JobID(a.job), stage: a.stage, task: a.task), worker: a.worker,
                                          state: AttemptState(rawValue: a.state) ?? .lost, reason: a.reason))
        }
        let (s, actions) = Scheduler.restored(config: config.scheduler, jobs: restoredJobs, attempts: restoredAttempts, at: now)
        scheduler = s
        apply(actions, now: now)
        try journal.commit()
        let unfinished = restoredJobs.filter { scheduler.jobs[$0.id]?.state == .running }.count
        logger.info("journal replayed", metadata: [
            "epoch": "\(epoch)", "jobs": "\(restoredJobs.count)", "unfinished": "\(unfinished)",
            "attempts": "\(restoredAttempts.count)", "awaiting.workers": "\(scheduler.workers.count)",
        ])
    }

    // MARK: the loop turn

    func turn(_ batch: [IncomingRequest]) {
        let now = Date().unixMilliseconds
        for request in batch { admit(request, now: now) }
        feed(.tick, now: now)
        do {
            try journal.commit()
        } catch {
            // Without a durable journal nothing may be acknowledged: stop, and let a restart replay.
            logger.critical("journal commit failed; stopping so that nothing unrecorded is acknowledged", metadata: ["error": "\(error)"])
            fatalError("journal commit failed: \(error)")
        }
        let replies = outbox
        outbox.removeAll(keepingCapacity: true)
        for (request, bytes) in replies { request.reply(bytes) }
    }

    private func admit(_ request: IncomingRequest, now: Int64) {
        switch gate.admit(request.body, nowMs: now) {
        case .reply(let bytes, let refusal):
            if let refusal { logger.warning("refused a request", metadata: ["reason": "\(refusal)"]) }
            outbox.append((request, bytes))
        case .awaitOriginal(let nonce):
            duplicates[nonce, default: []].append(request)
        case .execute(let envelope):
            do {
                try dispatch(envelope, request, now: now)
            } catch let error as WireError where error.code == .malformed {
                respondError(.badRequest, "\(error.message) (kind \(envelope.kind))", to: envelope, request)
            } catch {
                respondError(.internal, "internal error: \(error)", to: envelope, request)
            }
        }
    }

    private func respond<M: KindedMessage>(_ message: M, to envelope: Envelope, _ request: IncomingRequest) {
        let bytes = gate.answer(message, to: envelope)
        outbox.append((request, bytes))
        if let waiting = duplicates.removeValue(forKey: envelope.nonce) {
            for d in waiting { outbox.append((d, bytes)) }
        }
    }

    private func respondError(_ code: ErrorCode, _ message: String, to envelope: Envelope, _ request: IncomingRequest) {
        respond(ErrorReply(code: code, message: message), to: envelope, request)
    }

    private func feed(_ event: Event, now: Int64) {
        apply(scheduler.handle(event, at: now), now: now)
    }

    // MARK: dispatch

    private func dispatch(_ env: Envelope, _ request: IncomingRequest, now: Int64) throws {
        switch env.kind {
        case .registerWorker: register(try RegisterWorker(decoding: env.body), env, request, now: now)
        case .heartbeat: heartbeat(try Heartbeat(decoding: env.body), env, request, now: now)
        case .sync: sync(try Sync(decoding: env.body), env, request, now: now)
        case .leave:
            let m = try Leave(decoding: env.body)
            let key = WorkerKey(id: m.workerID, incarnation: m.incarnation)
            feed(.workerLeft(key), now: now)
            respond(LeaveReply(), to: env, request)
        case .submitJob: submit(try SubmitJob(decoding: env.body), env, request, now: now)
        case .getJob:
            let m = try GetJob(decoding: env.body)
            if m.summaryOnly, let job = scheduler.jobs[JobID(m.jobID)] {
                respond(JobDetail(summary: summary(job)), to: env, request)
            } else if let detail = jobDetail(JobID(m.jobID), includeOutput: m.includeOutput) {
                respond(detail, to: env, request)
            } else {
                respondError(.notFound, "no job '\(m.jobID)'", to: env, request)
            }
        case .cancelJob:
            let m = try CancelJob(decoding: env.body)
            let id = JobID(m.jobID)
            guard scheduler.jobs[id] != nil else { return respondError(.notFound, "no job '\(m.jobID)'", to: env, request) }
            feed(.cancel(id, reason: "cancelled by \(env.sender)"), now: now)
            respond(CancelReply(state: scheduler.jobs[id]!.state.rawValue), to: env, request)
        case .listJobs:
            let m = try ListJobs(decoding: env.body)
            let limit = m.limit == 0 ? 50 : Int(m.limit)
            let jobs = scheduler.jobsInOrder.suffix(limit).reversed().map { summary($0) }
            respond(JobList(jobs: Array(jobs)), to: env, request)
        case .getClusterStatus:
            respond(clusterStatus(now: now), to: env, request)
        case .injectFault:
            let m = try InjectFault(decoding: env.body)
            guard config.faultHooks else { return respondError(.refused, "fault hooks are off (start the coordinator with --enable-fault-hooks)", to: env, request) }
            guard m.fault == "break-listener" else { return respondError(.badRequest, "unknown fault '\(m.fault)'", to: env, request) }
            logger.warning("fault hook: breaking the listener")
            // After the reply has left: closing a listener also closes the connections it accepted.
            let server = self.server
            Thread {
                Thread.sleep(forTimeInterval: 0.2)
                server.breakListener()
            }.start()
            respond(FaultReply(), to: env, request)
        default:
            respondError(.badRequest, "the coordinator does not serve \(env.kind) messages", to: env, request)
        }
    }

    // MARK: workers

    private func register(_ m: RegisterWorker, _ env: Envelope, _ request: IncomingRequest, now: Int64) {
        // The two ranges must overlap; the reply names the highest version both speak.
        guard m.minVersion <= ProtocolVersion.current, m.maxVersion >= ProtocolVersion.minimum else {
            var e = ErrorReply(code: .unsupportedVersion, message: "worker speaks protocol \(m.minVersion)...\(m.maxVersion); this coordinator speaks \(ProtocolVersion.minimum)...\(ProtocolVersion.current)")
            e.minVersion = ProtocolVersion.minimum
            e.maxVersion = ProtocolVersion.current
            return respond(e, to: env, request)
        }
        guard !m.workerID.isEmpty, m.slots > 0 else {
            return respondError(.badRequest, "a worker needs an id and at least one slot", to: env, request)
        }
        let key = WorkerKey(id: m.workerID, incarnation: m.incarnation)
        workerMeta[key] = WorkerMeta(host: m.host, serviceAddress: m.serviceAddress, labels: m.labels, lastHeartbeatMs: now)
        note(results: m.unacked, starts: m.running)
        let finished = m.unacked.map(report)
        feed(.workerJoined(WorkerInfo(key: key, slots: Int(m.slots)), running: m.running.map(\.attempt.attemptID),
                           queued: m.queued.map(\.attemptID), finished: finished), now: now)
        logger.info("worker registered", metadata: [
            "worker.id": "\(key)", "host": "\(m.host)", "slots": "\(m.slots)",
            "running": "\(m.running.count)", "unacked": "\(m.unacked.count)",
        ])
        respond(RegisterReply(version: min(ProtocolVersion.current, m.maxVersion), coordinatorID: coordinatorID, coordinatorEpoch: epoch,
                              heartbeatMs: UInt32(config.scheduler.heartbeatInterval), cancel: takeCancels(key)),
                to: env, request)
    }

    private func heartbeat(_ m: Heartbeat, _ env: Envelope, _ request: IncomingRequest, now: Int64) {
        let key = WorkerKey(id: m.workerID, incarnation: m.incarnation)
        guard scheduler.isMember(key) else {
            return respondError(.unknownWorker, "worker \(key) is not registered with this coordinator (epoch \(epoch)); register again", to: env, request)
        }
        workerMeta[key]?.stats = m.stats
        workerMeta[key]?.lastHeartbeatMs = now
        feed(.heartbeat(key, draining: m.draining), now: now)
        respond(HeartbeatReply(coordinatorEpoch: epoch, cancel: takeCancels(key)), to: env, request)
    }

    private func sync(_ m: Sync, _ env: Envelope, _ request: IncomingRequest, now: Int64) {
        let key = WorkerKey(id: m.workerID, incarnation: m.incarnation)
        guard scheduler.isMember(key) else {
            return respondError(.unknownWorker, "worker \(key) is not registered with this coordinator (epoch \(epoch)); register again", to: env, request)
        }
        note(results: m.results, starts: m.started)
        let token = nextToken
        nextToken += 1
        parked[token] = (request, env)
        let wait = min(Int64(m.waitMs), config.maxPollWaitMs)
        feed(.sync(key, token: token, want: m.draining ? 0 : Int(m.want), deadline: now + wait,
                   started: m.started.map(\.attempt.attemptID), finished: m.results.map(report),
                   released: m.released.map(\.attemptID)), now: now)
        if m.draining { feed(.heartbeat(key, draining: true), now: now) }
    }

    private func note(results: [TaskResult], starts: [TaskStart]) {
        for s in starts where scheduler.attempts[s.attempt.attemptID] != nil {
            attemptInfo[s.attempt.attemptID, default: AttemptInfo()].startedUs = s.startedAtUs
        }
        for r in results where scheduler.attempts[r.attempt.attemptID] != nil {
            var info = attemptInfo[r.attempt.attemptID, default: AttemptInfo()]
            guard info.finishedUs == 0 else { continue }
            if r.startedAtUs != 0 { info.startedUs = r.startedAtUs }
            info.finishedUs = r.finishedAtUs
            info.output = r.output
            attemptInfo[r.attempt.attemptID] = info
        }
    }

    private func report(_ r: TaskResult) -> Report {
        let outcome: Outcome
        switch r.outcome {
        case .succeeded: outcome = .succeeded
        case .cancelled: outcome = .cancelled
        case .timedOut: outcome = .timedOut(reason: r.reason)
        case .failed, .unspecified: outcome = .failed(reason: r.reason.isEmpty ? "failed" : r.reason, exitCode: r.exitCode)
        }
        return Report(attempt: r.attempt.attemptID, outcome: outcome)
    }

    private func takeCancels(_ key: WorkerKey) -> [AttemptRef] {
        guard let ids = pendingCancels.removeValue(forKey: key) else { return [] }
        return ids.compactMap { id in scheduler.attempts[id].map { ref($0) } }
    }

    private func ref(_ a: Scheduler.Attempt) -> AttemptRef {
        AttemptRef(attemptID: a.id, jobID: a.task.job.rawValue, stage: UInt32(a.task.stage), task: UInt32(a.task.task))
    }

    // MARK: jobs

    private func submit(_ m: SubmitJob, _ env: Envelope, _ request: IncomingRequest, now: Int64) {
        guard !m.submissionID.isEmpty else { return respondError(.badRequest, "a submission needs a submission_id", to: env, request) }
        if let existing = submissions[m.submissionID] {
            return respond(SubmitReply(jobID: existing.rawValue, duplicate: true), to: env, request)
        }
        if let problem = m.spec.problem { return respondError(.badRequest, "job refused: \(problem)", to: env, request) }
        let seq = nextJobSeq
        nextJobSeq += 1
        let id = JobID("job-\(seq)")
        specs[id] = m.spec
        submissions[m.submissionID] = id
        jobMeta[id] = JobMeta(name: m.spec.name, seq: seq, submittedMs: now)
        journal.append(.submit(job: id.rawValue, seq: seq, submission: m.submissionID, spec: m.spec.encoded(), atMs: now))
        logger.info("job accepted", metadata: ["job.id": "\(id)", "tasks": "\(m.spec.totalTasks)", "from": "\(env.sender)"])
        feed(.submitted(id, m.spec.plan), now: now)
        respond(SubmitReply(jobID: id.rawValue), to: env, request)
    }

    // MARK: actions

    private func apply(_ actions: [Action], now: Int64) {
        for action in actions {
            switch action {
            case .answerSync(let worker, let token, let assignments):
                let reply = SyncReply(leases: leases(assignments, worker: worker, now: now), cancel: takeCancels(worker))
                if let p = parked.removeValue(forKey: token) { respond(reply, to: p.envelope, p.request) }
            case .cancel(let worker, let ids):
                pendingCancels[worker, default: []].append(contentsOf: ids)
            case .attemptEnded(let id, let state, let reason):
                guard let a = scheduler.attempts[id] else { continue }
                let info = attemptInfo[id] ?? AttemptInfo()
                journal.append(.attemptEnd(attempt: id, state: state.rawValue, reason: reason, exitCode: a.exitCode,
                                           output: info.output, startedUs: info.startedUs, finishedUs: info.finishedUs))
            case .jobEnded(let id, let state, let reason):
                jobMeta[id]?.finishedMs = now
                journal.append(.jobEnd(job: id.rawValue, state: state.rawValue, reason: reason, atMs: now))
                let meta: Logger.Metadata = ["job.id": "\(id)", "state": "\(state.rawValue)", "reason": "\(reason)"]
                if state == .failed { logger.warning("job ended", metadata: meta) } else { logger.info("job ended", metadata: meta) }
            case .workerChanged(let key, let state, let reason):
                let meta: Logger.Metadata = ["worker.id": "\(key)", "state": "\(state.rawValue)", "reason": "\(reason)"]
                if state == .dead || state == .suspect { logger.warning("worker state changed", metadata: meta) } else { logger.info("worker state changed", metadata: meta) }
                if state == .dead || state == .left { pendingCancels.removeValue(forKey: key) }
            }
        }
    }

    private func leases(_ assignments: [Assignment], worker: WorkerKey, now: Int64) -> [Lease] {
        guard !assignments.isEmpty else { return [] }
        var byStage: [TaskStageKey: [TaskAssignment]] = [:]
        var order: [TaskStageKey] = []
        for a in assignments {
            journal.append(.lease(attempt: a.attempt, job: a.task.job.rawValue, stage: a.task.stage, task: a.task.task,
                                  number: a.number, worker: worker, atMs: now))
            attemptInfo[a.attempt] = AttemptInfo()
            let k = TaskStageKey(job: a.task.job, stage: a.task.stage)
            if byStage[k] == nil { order.append(k) }
            byStage[k, default: []].append(TaskAssignment(attemptID: a.attempt, stage: UInt32(a.task.stage), task: UInt32(a.task.task), attempt: UInt32(a.number)))
        }
        return order.map { k in
            Lease(jobID: k.job.rawValue, spec: specs[k.job]!.stages[k.stage].spec, tasks: byStage[k]!)
        }
    }

    private struct TaskStageKey: Hashable {
        let job: JobID
        let stage: Int
    }

    /// Parked polls whose context must be freed before the server shuts down.
    func releaseParked() {
        for (_, p) in parked { p.request.drop() }
        parked.removeAll()
    }

    // MARK: views

    func summary(_ job: Scheduler.Job) -> JobSummary {
        let meta = jobMeta[job.id]
        return JobSummary(
            jobID: job.id.rawValue, name: meta?.name ?? "", state: job.state.rawValue, reason: job.reason,
            tasksTotal: UInt32(job.totalTasks), tasksSucceeded: UInt32(job.succeededTasks), tasksFailed: UInt32(job.failedTasks),
            tasksRunning: UInt32(job.activeTasks), submittedAtMs: meta?.submittedMs ?? 0, finishedAtMs: meta?.finishedMs ?? 0)
    }

    private func jobDetail(_ id: JobID, includeOutput: Bool) -> JobDetail? {
        guard let job = scheduler.jobs[id] else { return nil }
        let spec = specs[id]
        var stages: [StageDetail] = []
        for (s, stage) in job.stages.enumerated() {
            var tasks: [TaskDetail] = []
            tasks.reserveCapacity(stage.tasks.count)
            for (t, task) in stage.tasks.enumerated() {
                let attempts = task.attempts.compactMap { aid -> AttemptDetail? in
                    guard let a = scheduler.attempts[aid] else { return nil }
                    let info = attemptInfo[aid] ?? AttemptInfo()
                    return AttemptDetail(
                        attemptID: aid, attempt: UInt32(a.number), workerID: a.worker.description, state: a.state.rawValue,
                        reason: a.reason, exitCode: a.exitCode, startedAtUs: info.startedUs, finishedAtUs: info.finishedUs,
                        output: includeOutput ? info.output : [], workerAddress: workerMeta[a.worker]?.serviceAddress ?? "")
                }
                tasks.append(TaskDetail(task: UInt32(t), state: task.phase.rawValue, committedAttempt: task.committed ?? 0, attempts: attempts))
            }
            stages.append(StageDetail(id: UInt32(s), name: spec?.stages[s].name ?? "", state: stage.state.rawValue,
                                      dependsOn: job.plan.stages[s].dependsOn.map { UInt32($0) }, tasks: tasks))
        }
        return JobDetail(summary: summary(job), stages: stages)
    }

    private func clusterStatus(now: Int64) -> ClusterStatus {
        let workers = scheduler.workers.values
            .filter { $0.state != .left }
            .sorted { $0.key < $1.key }
            .map { w -> WorkerStatus in
                let meta = workerMeta[w.key]
                return WorkerStatus(
                    workerID: w.key.id, incarnation: w.key.incarnation, host: meta?.host ?? "", state: w.state.rawValue,
                    slots: UInt32(w.slots), slotsUsed: UInt32(w.active.count), stats: meta?.stats ?? ResourceStats(),
                    lastHeartbeatAgeMs: meta.map { now - $0.lastHeartbeatMs } ?? -1, serviceAddress: meta?.serviceAddress ?? "",
                    labels: meta?.labels ?? [])
            }
        let running = scheduler.jobsInOrder.filter { $0.state == .running }.map { summary($0) }
        return ClusterStatus(coordinatorID: coordinatorID, coordinatorEpoch: epoch, workers: workers,
                             queueDepth: UInt32(scheduler.queueDepth), runningTasks: UInt32(scheduler.runningAttempts),
                             runningJobs: running)
    }
}
