import Execution
import Foundation
import Logging
import Scheduler
import Transport
import Wire

/// What the loop thread takes from its mailbox: requests from the network,
/// and answers the journal reader computed for requests it was handed.
enum CoordinatorInput: Sendable {
    case request(IncomingRequest)
    case answer(JournalAnswer, IncomingRequest, Envelope)
    /// A query thread submits one query's stages; `accepted` gets the job's id.
    case submitQueryJob(JobSpec, query: String, StageAdapter?, @Sendable (JobID) -> Void)
    case cancelQueryJob(JobID, String)
    /// A query thread read its job's result.
    case resultDelivered(JobID)
    /// A result chunk for a client's FETCH_RESULT, to seal and send.
    case queryAnswer(ResultChunk, IncomingRequest, Envelope)
    /// The answer to a catalog command, to seal and send.
    case catalogAnswer(CatalogService.Answer, IncomingRequest, Envelope)
    /// The answer to a pipeline or backfill command, to seal and send.
    case pipelineAnswer(Result<PipelineReply, PipelineService.Failure>, IncomingRequest, Envelope)
    /// A pipeline run failed or missed its SLA: the alert rules hear of it (subject, what happened).
    case pipelineAlert(AlertRule.Trigger, String, String)
    /// An HTTP request that needs the loop's state (`/metrics`, `/api/status`, `/readyz`).
    case http(HTTPServer.Request, @Sendable (HTTPServer.Response) -> Void)
}

/// The coordinator's state and request handlers. Owned by the loop thread
/// alone: nothing here is shared, so nothing here locks.
///
/// One loop turn: admit and handle every queued request (feeding the
/// scheduler), commit the journal once, then send the replies. A reply never
/// leaves before the journal holds what it acknowledges.
///
/// Memory holds what is in flight: specs of running jobs, metadata of jobs
/// in memory (running, or finished less than `keepFinished` ago), attempts
/// that have not ended, workers not yet forgotten. Views of anything older
/// are answered from the journal by the `JournalReader`, off this thread.
final class CoordinatorCore {
    let config: CoordinatorConfig
    let logger: Logger
    let epoch: UInt64
    let coordinatorID: String
    let startedAt = Date()
    private(set) var scheduler: Scheduler
    let journal: Journal
    let reader: JournalReader
    private var gate: RequestGate
    let server: ReplyServer
    private let post: @Sendable (CoordinatorInput) -> Void

    private var specs: [JobID: JobSpec] = [:]
    var jobMeta: [JobID: JobMeta] = [:]
    private var submissions: [String: JobID] = [:]
    var attemptInfo: [AttemptID: AttemptInfo] = [:]
    var workerMeta: [WorkerKey: WorkerMeta] = [:]
    private var pendingCancels: [WorkerKey: [Assignment]] = [:]
    private var parked: [UInt64: (request: IncomingRequest, envelope: Envelope)] = [:]
    private var duplicates: [[UInt8]: [IncomingRequest]] = [:]
    private var outbox: [(IncomingRequest, [UInt8])] = []
    private var nextToken: UInt64 = 1
    private var nextJobSeq: Int64 = 1
    var pruning = Pruning()
    let queries: QueryManager
    let catalog: CatalogService
    let pipelines: PipelineService
    /// Adds and releases workers by queue depth (`--autoscale`); nil: a fixed pool.
    let autoscale: AutoscaleService?
    let metrics: ClusterMetrics
    /// The status page's history and failures; alerts by the `--alerts` rules, and who hears of them.
    var recent = Recent()
    var alerts: AlertBook
    let notifier: AlertNotifier
    /// Per worker, jobs whose shuffle outputs it may drop (sent with its next heartbeat reply).
    private var dropOutputs: [WorkerKey: [String]] = [:]

    /// Output kept per attempt; a worker sends no more than its own cap, this guards against one that does.
    static let maxStoredOutput = 64 << 10
    /// The largest reply sent; a larger one becomes an error that says so.
    static let maxReplyBytes = 32 << 20
    static let maxSlotsPerWorker = 10_000

    struct JobMeta {
        var name: String
        var seq: Int64
        var submission: String
        var submittedMs: Int64
        var finishedMs: Int64 = 0
        /// Bytes and rows its `sql` tasks wrote (shuffle outputs and the result).
        var outputBytes: UInt64 = 0
        var outputRows: UInt64 = 0
        /// Whether a task of it was handed out yet (submit-to-first-task latency).
        var started = false
    }

    /// A `sql` task's last succeeded attempt, per query job, for EXPLAIN ANALYZE's figures at the job's end.
    struct TaskFigure {
        var rows: UInt64
        var bytes: UInt64
        var startedUs: Int64
        var finishedUs: Int64
        var worker: String
        /// Bytes it wrote into each bucket: what adaptive execution plans the stages after it from.
        var buckets: [UInt64]
        var spilled: UInt64
    }
    var taskFigures: [JobID: [TaskKey: TaskFigure]] = [:]
    /// Query jobs whose shuffle readers are laid out when their inputs are done, and what that changed per stage.
    private var adapters: [JobID: StageAdapter] = [:]
    private var adaptiveChanges: [JobID: [Int: [String]]] = [:]
    /// Events an action asks for (a layout), fed after the actions of the event that caused them.
    private var followUps: [Event] = []
    /// Fault hook `stall-loop`.
    private var stallAfterTurn = false

    struct AttemptInfo {
        var startedUs: Int64 = 0
        var finishedUs: Int64 = 0
        var output: [UInt8] = []
    }

    struct WorkerMeta {
        var host: String
        var serviceAddress: String
        var dataAddress = ""
        var labels: [Label]
        var softwareVersion: String
        var stats = ResourceStats()
        var lastHeartbeatMs: Int64
    }

    init(config: CoordinatorConfig, server: ReplyServer, logger: Logger, metrics: ClusterMetrics = ClusterMetrics(),
         post: @escaping @Sendable (CoordinatorInput) -> Void) throws {
        self.config = config
        self.metrics = metrics
        alerts = AlertBook(rules: config.alertRules)
        notifier = AlertNotifier(rules: config.alertRules, cluster: config.clusterID, logger: logger)
        self.server = server
        self.logger = logger
        self.post = post
        journal = try Journal(path: config.dataDir + "/journal.db", fullSync: config.fullSync)
        reader = JournalReader(path: journal.path)
        epoch = try journal.nextEpoch()
        coordinatorID = "coordinator@\(ProcessInfo.processInfo.hostName)"
        gate = RequestGate(sealer: Sealer(clusterID: config.clusterID, sender: "coordinator:\(coordinatorID)", secret: config.secret),
                           windowMs: config.freshnessWindowMs)
        scheduler = Scheduler(config: config.scheduler)
        let sealer = Sealer(clusterID: config.clusterID, sender: "coordinator:\(coordinatorID)", secret: config.secret)
        let warehouse = URL(fileURLWithPath: config.warehouseDir).standardizedFileURL.path
        // Queries may read and write the warehouse too: the datasets CREATE TABLE AS makes live there.
        let roots = (config.sqlRoots.isEmpty ? [config.dataDir] : config.sqlRoots) + [warehouse]
        catalog = try CatalogService(dataDir: config.dataDir, warehouse: warehouse, replacedFilesGraceMs: config.replacedFilesGraceMs,
                                     fileRoots: roots, logger: logger)
        let catalog = self.catalog
        queries = QueryManager(services: QueryServices(fileRoots: roots, datasets: catalog.tables, staging: { catalog.staging($0, open: $1) },
                                                       sealer: sealer, logger: logger, post: post),
                               epoch: epoch)
        pipelines = try PipelineService(dataDir: config.dataDir, warehouse: warehouse, fileRoots: roots, queries: queries, tables: catalog.tables, logger: logger,
                                        alert: { post(.pipelineAlert($0, $1, $2)) })
        autoscale = try config.autoscale.map {
            try AutoscaleService(config: $0, dataDir: config.dataDir, coordinator: config.workerAddress, clusterID: config.clusterID,
                                 secretFile: config.secretFile, logger: logger)
        }
        let metrics = self.metrics
        autoscale?.onDecision = { metrics.autoscaleDecision($0) }
        try restore()
        notifier.send(alerts.restarted(epoch: epoch, now: Date().unixMilliseconds))
    }

    // MARK: restart

    /// Replays the journal's unfinished jobs into a fresh scheduler. Finished
    /// jobs stay in the journal only: restart costs what was in flight.
    private func restore() throws {
        let now = Date().unixMilliseconds
        var restoredJobs: [Scheduler.RestoredJob] = []
        var attemptCount = 0
        for j in try journal.unfinishedJobs() {
            let id = JobID(j.id)
            if let spec = try? JobSpec(decoding: j.spec), spec.stages.contains(where: { $0.spec.kind == .sql }) {
                // Its client, its result and its shuffle data went with the old process.
                journal.append(.jobEnd(job: j.id, state: JobState.failed.rawValue, reason: "query interrupted by a coordinator restart; nothing was written",
                                       atMs: now, succeeded: 0, failed: 0))
                continue
            }
            guard let spec = try? JobSpec(decoding: j.spec), spec.problem == nil else {
                logger.error("journal holds an unreadable job spec; marking the job failed", metadata: ["job.id": "\(j.id)"])
                journal.append(.jobEnd(job: j.id, state: JobState.failed.rawValue, reason: "its spec in the journal is unreadable",
                                       atMs: now, succeeded: 0, failed: 0))
                continue
            }
            let state = try journal.restoreState(of: j, stages: spec.stages.count)
            attemptCount += state.attempts.count
            specs[id] = spec
            submissions[j.submission] = id
            jobMeta[id] = JobMeta(name: spec.name, seq: j.seq, submission: j.submission, submittedMs: j.submittedMs)
            restoredJobs.append(.init(id: id, plan: spec.plan, committed: state.committed, untouched: state.untouched, attempts: state.attempts))
        }
        nextJobSeq = try journal.highestSeq() + 1
        let (s, actions) = Scheduler.restored(config: config.scheduler, jobs: restoredJobs,
                                              nextAttemptID: try journal.highestAttemptID() + 1, at: now)
        scheduler = s
        for (_, a) in scheduler.attempts where a.state.isActive { attemptInfo[a.id] = AttemptInfo() }
        apply(actions, now: now)
        try journal.commit()
        logger.info("journal replayed", metadata: [
            "epoch": "\(epoch)", "unfinished.jobs": "\(restoredJobs.count)", "open.attempts": "\(attemptCount)",
            "awaiting.workers": "\(scheduler.workers.count)", "journal.bytes": "\(journal.bytesOnDisk)",
        ])
    }

    // MARK: the loop turn

    func turn(_ batch: [CoordinatorInput]) {
        let now = Date().unixMilliseconds
        for input in batch {
            switch input {
            case .request(let request): admit(request, now: now)
            case .answer(let answer, let request, let envelope): deliver(answer, to: envelope, request)
            case .submitQueryJob(let spec, let query, let adapter, let accepted): accepted(submitQueryJob(spec, query: query, adapter: adapter, now: now))
            case .cancelQueryJob(let job, let reason):
                if scheduler.jobs[job]?.state == .running { feed(.cancel(job, reason: reason), now: now) }
            case .resultDelivered(let job): feed(.resultDelivered(job), now: now)
            case .queryAnswer(let chunk, let request, let envelope): respond(chunk, to: envelope, request)
            case .catalogAnswer(.success(let reply), let request, let envelope): respond(reply, to: envelope, request)
            case .catalogAnswer(.failure(let f), let request, let envelope): respondError(f.code, f.message, to: envelope, request)
            case .pipelineAnswer(.success(let reply), let request, let envelope): respond(reply, to: envelope, request)
            case .pipelineAnswer(.failure(let f), let request, let envelope): respondError(f.code, f.message, to: envelope, request)
            case .pipelineAlert(let trigger, let subject, let value): notifier.send(alerts.pipelineEvent(trigger, run: subject, value: value, now: now))
            case .http(let request, let reply): reply(answer(request, now: now))
            }
        }
        queries.sqlSlots.store(sqlSlots, ordering: .relaxed)
        if let autoscale {
            autoscale.tick(scheduler, now: now)
            // New workers get the backlog at once: nobody leases ahead while they are awaited.
            if autoscale.awaitingWorkers != scheduler.scaleUpPending { feed(.scaleUpPending(autoscale.awaitingWorkers), now: now) }
        }
        feed(.tick, now: now)
        noteQueryProgress()
        if recent.due(now) {
            var running = 0, leased = 0
            for a in scheduler.attempts.values { if a.state == .running { running += 1 } else if a.state == .leased { leased += 1 } }
            recent.sample(now: now, queueDepth: scheduler.queueDepth, running: running, leased: leased)
        }
        notifier.send(alerts.evaluate(now: now, queueDepth: scheduler.queueDepth))
        do {
            let start = DispatchTime.now().uptimeNanoseconds
            try journal.commit()
            metrics.journalCommit(nanos: Int64(DispatchTime.now().uptimeNanoseconds - start))
        } catch {
            // Without a durable journal nothing may be acknowledged: stop, and let a restart replay.
            logger.critical("journal commit failed; stopping so that nothing unrecorded is acknowledged", metadata: ["error": "\(error)"])
            fatalError("journal commit failed: \(error)")
        }
        let replies = outbox
        outbox.removeAll(keepingCapacity: true)
        for (request, bytes) in replies { request.reply(bytes) }
        prune(now: now)
        if stallAfterTurn {
            stallAfterTurn = false
            Thread.sleep(forTimeInterval: 3)
        }
    }

    private func admit(_ request: IncomingRequest, now: Int64) {
        switch gate.admit(request.body, nowMs: now) {
        case .reply(let bytes, let refusal):
            if let refusal {
                logger.warning("refused a request", metadata: ["reason": "\(refusal)"])
                metrics.authRefused(via: "wire")
                metrics.request(kind: "unknown", outcome: "refused")
            }
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
        metrics.request(kind: "\(envelope.kind)", outcome: (message as? ErrorReply).map { "\($0.code)" } ?? "ok")
        var bytes = gate.answer(message, to: envelope)
        if bytes.count > Self.maxReplyBytes {
            bytes = gate.answer(ErrorReply(code: .refused, message: "the answer is \(bytes.count) bytes, more than the \(Self.maxReplyBytes) a reply may carry; ask for less (a smaller --page-size, or no output)"), to: envelope)
        }
        outbox.append((request, bytes))
        if let waiting = duplicates.removeValue(forKey: envelope.nonce) {
            for d in waiting { outbox.append((d, bytes)) }
        }
    }

    private func respondError(_ code: ErrorCode, _ message: String, to envelope: Envelope, _ request: IncomingRequest) {
        respond(ErrorReply(code: code, message: message), to: envelope, request)
    }

    /// Hands a view to the journal reader; its answer comes back through the mailbox.
    private func ask(_ query: JournalQuery, _ envelope: Envelope, _ request: IncomingRequest) {
        let post = self.post
        reader.ask(query) { answer in post(.answer(answer, request, envelope)) }
    }

    private func deliver(_ answer: JournalAnswer, to envelope: Envelope, _ request: IncomingRequest) {
        switch answer {
        case .detail(let d): respond(d, to: envelope, request)
        case .list(let l): respond(l, to: envelope, request)
        case .cancel(let c): respond(c, to: envelope, request)
        case .error(let code, let message): respondError(code, message, to: envelope, request)
        }
    }

    private func feed(_ event: Event, now: Int64) {
        var events = [event]
        while !events.isEmpty {
            apply(scheduler.handle(events.removeFirst(), at: now), now: now)
            events += followUps
            followUps = []
        }
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
        case .submitJob: try submit(try SubmitJob(decoding: env.body), env, request, now: now)
        case .getJob:
            let m = try GetJob(decoding: env.body)
            let id = JobID(m.jobID)
            if m.summaryOnly, let job = scheduler.jobs[id] {
                respond(JobDetail(summary: summary(job)), to: env, request)
            } else {
                ask(.detail(m, live: liveJob(id), workerAddresses: workerAddresses()), env, request)
            }
        case .cancelJob:
            let m = try CancelJob(decoding: env.body)
            if m.jobID.hasPrefix("query-") {
                guard queries.cancel(m.jobID, reason: "query \(m.jobID) cancelled by \(env.sender)") else {
                    return respondError(.notFound, queries.unknown(m.jobID), to: env, request)
                }
                return respond(CancelReply(state: "cancelled"), to: env, request)
            }
            let id = JobID(m.jobID)
            guard scheduler.jobs[id] != nil else { return ask(.cancelFinished(jobID: m.jobID), env, request) }
            feed(.cancel(id, reason: "cancelled by \(env.sender)"), now: now)
            respond(CancelReply(state: scheduler.jobs[id]!.state.rawValue), to: env, request)
        case .listJobs:
            let m = try ListJobs(decoding: env.body)
            let limit = m.limit == 0 ? 50 : min(Int(m.limit), 1000)
            var live: [String: JobSummary] = [:]
            for job in scheduler.jobs.values where job.state == .running { live[job.id.rawValue] = summary(job) }
            ask(.list(limit: limit, live: live), env, request)
        case .submitQuery:
            let m = try SubmitQuery(decoding: env.body)
            guard !m.sql.isEmpty else { return respondError(.badRequest, "a query needs SQL", to: env, request) }
            guard m.partitions <= UInt32(QueryStage.maxBuckets) else {
                return respondError(.badRequest, "partitions must be at most \(QueryStage.maxBuckets)", to: env, request)
            }
            let partitions = m.partitions > 0 ? Int(m.partitions) : defaultPartitions
            switch queries.start(m, partitions: partitions, scanTasks: max(1, sqlSlots)) {
            case .success(let id):
                logger.info("query accepted", metadata: ["query": "\(id)", "from": "\(env.sender)", "partitions": "\(partitions)"])
                respond(QueryAccepted(queryID: id), to: env, request)
            case .failure(let why):
                respondError(.refused, why.description, to: env, request)
            }
        case .fetchResult:
            let m = try FetchResult(decoding: env.body)
            guard let q = queries.query(m.queryID) else { return respondError(.notFound, queries.unknown(m.queryID), to: env, request) }
            let post = self.post
            q.fetch(m.sequence, wait: Double(min(m.waitMs, 5000)) / 1000) { chunk in post(.queryAnswer(chunk, request, env)) }
        case .getClusterStatus:
            respond(clusterStatus(now: now), to: env, request)
        case .catalogRequest:
            let m = try CatalogRequest(decoding: env.body)
            let post = self.post
            catalog.handle(m, from: env.sender) { answer in post(.catalogAnswer(answer, request, env)) }
        case .autoscalerHistory:
            let m = try AutoscalerHistory(decoding: env.body)
            guard let autoscale else { return respondError(.notFound, "this coordinator does not autoscale (start it with --autoscale FILE)", to: env, request) }
            do {
                respond(AutoscalerDecisions(decisions: try autoscale.history(limit: m.limit == 0 ? 50 : min(Int(m.limit), 1000))), to: env, request)
            } catch {
                respondError(.internal, "cannot read the autoscale journal: \(error)", to: env, request)
            }
        case .pipelineRequest:
            let m = try PipelineRequest(decoding: env.body)
            let post = self.post
            pipelines.handle(m, from: env.sender) { answer in post(.pipelineAnswer(answer, request, env)) }
        case .injectFault:
            let m = try InjectFault(decoding: env.body)
            guard config.faultHooks else { return respondError(.refused, "fault hooks are off (start the coordinator with --enable-fault-hooks)", to: env, request) }
            if m.fault.hasPrefix("advance-clock "), let ms = Int64(m.fault.dropFirst("advance-clock ".count)) {
                // The pipeline machine's clock moves on: a test makes a schedule come due.
                pipelines.clockOffsetMs.add(ms, ordering: .relaxed)
                logger.warning("fault hook: pipeline clock advanced", metadata: ["ms": "\(ms)"])
                return respond(FaultReply(), to: env, request)
            }
            if m.fault == "stall-loop" {
                // The loop sleeps after this turn's replies: a stuck coordinator, for /readyz.
                logger.warning("fault hook: stalling the loop for 3 s")
                stallAfterTurn = true
                return respond(FaultReply(), to: env, request)
            }
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
        guard !m.workerID.isEmpty, m.slots > 0, m.slots <= Self.maxSlotsPerWorker else {
            return respondError(.badRequest, "a worker needs an id and 1...\(Self.maxSlotsPerWorker) slots", to: env, request)
        }
        let key = WorkerKey(id: m.workerID, incarnation: m.incarnation)
        workerMeta[key] = WorkerMeta(host: m.host, serviceAddress: m.serviceAddress, dataAddress: m.dataAddress, labels: m.labels,
                                     softwareVersion: m.softwareVersion, lastHeartbeatMs: now)
        note(results: m.unacked, starts: m.running)
        let finished = m.unacked.map(report)
        feed(.workerJoined(WorkerInfo(key: key, slots: Int(m.slots), capabilities: Set(m.capabilities)),
                           running: m.running.map(\.attempt.attemptID), queued: m.queued.map(\.attemptID), finished: finished), now: now)
        logger.info("worker registered", metadata: [
            "worker.id": "\(key)", "host": "\(m.host)", "slots": "\(m.slots)", "capabilities": "\(m.capabilities.sorted().joined(separator: ","))",
            "running": "\(m.running.count)", "unacked": "\(m.unacked.count)",
        ])
        respond(RegisterReply(version: min(ProtocolVersion.current, m.maxVersion), coordinatorID: coordinatorID, coordinatorEpoch: epoch,
                              heartbeatMs: UInt32(clamping: config.scheduler.heartbeatInterval), cancel: takeCancels(key),
                              logRetentionMs: UInt64(max(0, config.retainMs))),
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
        respond(HeartbeatReply(coordinatorEpoch: epoch, cancel: takeCancels(key), dropOutputs: dropOutputs.removeValue(forKey: key) ?? []),
                to: env, request)
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
                   released: m.released.map(\.attemptID), draining: m.draining), now: now)
    }

    private func note(results: [TaskResult], starts: [TaskStart]) {
        for s in starts where scheduler.attempts[s.attempt.attemptID] != nil {
            attemptInfo[s.attempt.attemptID, default: AttemptInfo()].startedUs = s.startedAtUs
        }
        for r in results where r.outcome == .succeeded && !r.bucketBytes.isEmpty {
            let job = JobID(r.attempt.jobID)
            let bytes = r.bucketBytes.reduce(0, &+)
            metrics.shuffled(bytes: bytes)
            jobMeta[job]?.outputBytes &+= bytes
            jobMeta[job]?.outputRows &+= r.rowsOut
            if r.threads > 1 { queries.services.noteThreaded(job) }
            if let a = scheduler.attempts[r.attempt.attemptID], queries.isQueryJob(job) {
                taskFigures[job, default: [:]][a.task] = TaskFigure(rows: r.rowsOut, bytes: bytes, startedUs: r.startedAtUs,
                                                                    finishedUs: r.finishedAtUs, worker: a.worker.id, buckets: r.bucketBytes,
                                                                    spilled: r.spilledBytes)
            }
        }
        for r in results where scheduler.attempts[r.attempt.attemptID] != nil {
            var info = attemptInfo[r.attempt.attemptID, default: AttemptInfo()]
            guard info.finishedUs == 0 else { continue }
            if r.startedAtUs != 0 { info.startedUs = r.startedAtUs }
            info.finishedUs = r.finishedAtUs
            info.output = r.output.count > Self.maxStoredOutput ? Array(r.output.prefix(Self.maxStoredOutput)) : r.output
            attemptInfo[r.attempt.attemptID] = info
        }
    }

    private func report(_ r: TaskResult) -> Report {
        let outcome: Outcome
        let reason = String(r.reason.prefix(2000))
        switch r.outcome {
        case .succeeded: outcome = .succeeded
        case .cancelled: outcome = .cancelled
        case .timedOut: outcome = .timedOut(reason: reason, exitCode: r.exitCode)
        case .failed where r.inputLost.lost:
            let job = JobID(r.attempt.jobID)
            outcome = .inputLost(producer: TaskKey(job: job, stage: Int(r.inputLost.stage), task: Int(r.inputLost.task)),
                                 epoch: Int(clamping: r.inputLost.epoch), reason: reason)
        case .failed, .unspecified: outcome = .failed(reason: reason.isEmpty ? "failed" : reason, exitCode: r.exitCode)
        }
        return Report(attempt: r.attempt.attemptID, outcome: outcome)
    }

    private func takeCancels(_ key: WorkerKey) -> [AttemptRef] {
        guard let list = pendingCancels.removeValue(forKey: key) else { return [] }
        return list.map { AttemptRef(attemptID: $0.attempt, jobID: $0.task.job.rawValue, stage: UInt32($0.task.stage), task: UInt32($0.task.task)) }
    }

    // MARK: jobs

    private func submit(_ m: SubmitJob, _ env: Envelope, _ request: IncomingRequest, now: Int64) throws {
        guard !m.submissionID.isEmpty else { return respondError(.badRequest, "a submission needs a submission_id", to: env, request) }
        if let existing = submissions[m.submissionID] {
            return respond(SubmitReply(jobID: existing.rawValue, duplicate: true), to: env, request)
        }
        if let existing = try journal.job(forSubmission: m.submissionID) {
            return respond(SubmitReply(jobID: existing, duplicate: true), to: env, request)
        }
        if let problem = m.spec.problem { return respondError(.badRequest, "job refused: \(problem)", to: env, request) }
        let seq = nextJobSeq
        nextJobSeq += 1
        let id = JobID("job-\(seq)")
        specs[id] = m.spec
        submissions[m.submissionID] = id
        jobMeta[id] = JobMeta(name: m.spec.name, seq: seq, submission: m.submissionID, submittedMs: now)
        journal.append(.submit(job: id.rawValue, seq: seq, submission: m.submissionID, spec: m.spec.encoded(), name: m.spec.name,
                               tasks: m.spec.totalTasks, atMs: now))
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
            case .cancel(let worker, let list):
                pendingCancels[worker, default: []].append(contentsOf: list)
            case .attemptEnded(let e):
                let info = attemptInfo[e.attempt] ?? AttemptInfo()
                journal.append(.attemptEnd(attempt: e.attempt, jobSeq: jobMeta[e.task.job]?.seq ?? 0, stage: e.task.stage, task: e.task.task,
                                           state: e.state.rawValue, reason: e.reason, exitCode: e.exitCode,
                                           output: info.output, startedUs: info.startedUs, finishedUs: info.finishedUs))
                if !e.state.isActive { attemptInfo[e.attempt] = nil }
                if e.state == .failed || e.state == .timedOut || e.state == .lost {
                    recent.failed("task \(e.task.job)/s\(e.task.stage)/t\(e.task.task)", "\(e.state.rawValue): \(e.reason)", now: now)
                }
                metrics.ended(kind: kind(of: e.task), state: e.state,
                              runNanos: info.startedUs > 0 && info.finishedUs > info.startedUs ? (info.finishedUs - info.startedUs) * 1000 : nil)
            case .jobEnded(let id, let state, let reason):
                let job = scheduler.jobs[id]
                if queries.isQueryJob(id) {
                    var figures = Self.stageFigures(stages: job?.stages.count ?? 0, taskFigures.removeValue(forKey: id) ?? [:])
                    for (s, changes) in adaptiveChanges.removeValue(forKey: id) ?? [:] where s < figures.count { figures[s].changes = changes }
                    adapters[id] = nil
                    queries.jobEnded(id, state: state, reason: reason, figures: figures)
                    // Its shuffle outputs are of no more use: every worker that may hold some drops them.
                    for (key, w) in scheduler.workers where w.state != .dead && w.state != .left {
                        if dropOutputs[key, default: []].count < 10_000 { dropOutputs[key, default: []].append(id.rawValue) }
                    }
                }
                jobMeta[id]?.finishedMs = now
                if state == .failed {
                    let name = jobMeta[id]?.name ?? ""
                    recent.failed("job \(id)" + (name.isEmpty ? "" : " (\(name))"), reason, now: now)
                    notifier.send(alerts.jobFailed(id.rawValue, reason: reason, now: now))
                }
                specs[id] = nil
                journal.append(.jobEnd(job: id.rawValue, state: state.rawValue, reason: reason, atMs: now,
                                       succeeded: job?.succeededTasks ?? 0, failed: job?.failedTasks ?? 0))
                var meta: Logger.Metadata = ["job.id": "\(id)", "state": "\(state.rawValue)", "reason": "\(reason)"]
                if let bytes = jobMeta[id]?.outputBytes, bytes > 0 { meta["output.bytes"] = "\(bytes)" }
                if state == .failed { logger.warning("job ended", metadata: meta) } else { logger.info("job ended", metadata: meta) }
            case .jobForgotten(let id):
                taskFigures[id] = nil
                if let meta = jobMeta.removeValue(forKey: id) { submissions[meta.submission] = nil }
            case .workerChanged(let key, let state, let reason):
                let meta: Logger.Metadata = ["worker.id": "\(key)", "state": "\(state.rawValue)", "reason": "\(reason)"]
                if state == .dead || state == .suspect { logger.warning("worker state changed", metadata: meta) } else { logger.info("worker state changed", metadata: meta) }
                if state == .dead || state == .left { pendingCancels.removeValue(forKey: key) }
                if state == .dead {
                    recent.failed("worker \(key)", reason, now: now)
                    notifier.send(alerts.workerDied(key.id, now: now))
                }
                if state == .alive { notifier.send(alerts.workerAlive(key.id, now: now)) }
            case .workerForgotten(let key):
                workerMeta[key] = nil
                pendingCancels[key] = nil
            case .resultReady(let id):
                if let out = scheduler.jobs[id]?.stages.last?.outputs[0] {
                    queries.resultReady(id, at: ClusterQuery.ResultLocation(attempt: out.attempt, workerID: out.worker.id,
                                                                            address: workerMeta[out.worker]?.dataAddress ?? ""))
                }
            case .layoutNeeded(let id, let stage):
                followUps.append(.stageLaidOut(id, stage: stage, tasks: layOut(id, stage: stage)))
            case .outputLost(let t, let epoch, let reason):
                // Jobs with stages that keep outputs are not resumed after a restart, so the
                // journal's commit of the lost output is never read back as a live one.
                logger.warning("task output lost; running it again",
                               metadata: ["task": "\(t)", "epoch": "\(epoch)", "reason": "\(reason)"])
            }
        }
    }

    private func leases(_ assignments: [Assignment], worker: WorkerKey, now: Int64) -> [Lease] {
        guard !assignments.isEmpty else { return [] }
        var byStage: [TaskStageKey: [TaskAssignment]] = [:]
        var order: [TaskStageKey] = []
        for a in assignments {
            journal.append(.lease(attempt: a.attempt, jobSeq: jobMeta[a.task.job]?.seq ?? 0, stage: a.task.stage, task: a.task.task,
                                  number: a.number, worker: worker, atMs: now))
            attemptInfo[a.attempt] = AttemptInfo()
            noteLeased(a, now: now)
            let k = TaskStageKey(job: a.task.job, stage: a.task.stage)
            if byStage[k] == nil { order.append(k) }
            byStage[k, default: []].append(TaskAssignment(attemptID: a.attempt, stage: UInt32(a.task.stage), task: UInt32(a.task.task), attempt: UInt32(a.number)))
        }
        return order.map { k in
            Lease(jobID: k.job.rawValue, spec: specs[k.job]!.stages[k.stage].spec, tasks: byStage[k]!, inputs: inputs(of: k.job, stage: k.stage))
        }
    }

    /// Counts a lease; times the first of a job, and the wait of first attempts of stages that wait on no other.
    private func noteLeased(_ a: Assignment, now: Int64) {
        var wait: Int64?
        if let meta = jobMeta[a.task.job] {
            if !meta.started {
                jobMeta[a.task.job]?.started = true
                metrics.firstTask(afterNanos: (now - meta.submittedMs) * 1_000_000)
            }
            if a.number == 1, let job = scheduler.jobs[a.task.job], a.task.stage < job.plan.stages.count,
               job.plan.stages[a.task.stage].dependsOn.isEmpty {
                wait = (now - meta.submittedMs) * 1_000_000
            }
        }
        metrics.leased(kind: kind(of: a.task), retry: a.number > 1, queueWaitNanos: wait)
        alerts.leased(retry: a.number > 1, now: now)
    }

    /// The kind of a task's stage (`sql`, `command`, a builtin), for metric labels.
    private func kind(of task: TaskKey) -> String {
        guard let stages = specs[task.job]?.stages, task.stage < stages.count else { return "unknown" }
        return "\(stages[task.stage].spec.kind)"
    }

    /// Where the outputs of the stages a `sql` stage reads are (empty for other kinds).
    private func inputs(of job: JobID, stage: Int) -> [StageOutputs] {
        guard let j = scheduler.jobs[job], stage < j.plan.stages.count, specs[job]?.stages[stage].spec.kind == .sql else { return [] }
        return j.plan.stages[stage].dependsOn.map { d in
            StageOutputs(stage: UInt32(d), outputs: j.stages[d].outputs.sorted { $0.key < $1.key }.map { t, o in
                OutputLocation(task: UInt32(t), epoch: UInt64(o.epoch), attemptID: o.attempt, workerID: o.worker.id,
                               dataAddress: workerMeta[o.worker]?.dataAddress ?? "")
            })
        }
    }

    // MARK: queries

    /// Buckets of a query's shuffles when the client names none: two per slot of the workers running `sql`.
    var defaultPartitions: Int { max(1, min(2 * sqlSlots, 256)) }

    /// Slots of the live workers that run `sql` tasks.
    var sqlSlots: Int {
        scheduler.workers.values.filter { $0.state == .alive && $0.capabilities.contains(Capability.sql) }.reduce(0) { $0 + $1.slots }
    }

    /// The task count of a query stage whose inputs are done: what its adapter
    /// decides from the bytes they wrote per bucket (its payload then carries
    /// the layout), or the planned count.
    private func layOut(_ id: JobID, stage s: Int) -> Int {
        guard let job = scheduler.jobs[id], s < job.stages.count else { return 1 }
        let planned = job.stages[s].total
        guard let adapter = adapters[id] else { return planned }
        var sizes: [Int: [[UInt64]]] = [:]
        for d in job.plan.stages[s].dependsOn {
            var perProducer: [[UInt64]] = []
            for t in job.stages[d].outputs.keys.sorted() {
                guard let f = taskFigures[id]?[TaskKey(job: id, stage: d, task: Int(t))] else { return planned }
                perProducer.append(f.buckets)
            }
            sizes[d] = perProducer
        }
        guard let decision = adapter.adapt(s, sizes), decision.tasks >= 1 else { return planned }
        specs[id]?.stages[s].spec.payload = decision.payload
        specs[id]?.stages[s].tasks = UInt32(clamping: decision.tasks)
        adaptiveChanges[id, default: [:]][s] = decision.changes
        logger.info("stage re-planned from its inputs' sizes",
                    metadata: ["job.id": "\(id)", "stage": "\(s)", "tasks": "\(decision.tasks)", "changes": "\(decision.changes.joined(separator: "; "))"])
        return decision.tasks
    }

    /// Accepts a query's job from its thread (already checked by the planner).
    private func submitQueryJob(_ spec: JobSpec, query: String, adapter: StageAdapter?, now: Int64) -> JobID {
        let seq = nextJobSeq
        nextJobSeq += 1
        let id = JobID("job-\(seq)")
        let submission = "query-job-\(epoch)-\(seq)"
        specs[id] = spec
        jobMeta[id] = JobMeta(name: spec.name, seq: seq, submission: submission, submittedMs: now)
        journal.append(.submit(job: id.rawValue, seq: seq, submission: submission, spec: spec.encoded(), name: spec.name,
                               tasks: spec.totalTasks, atMs: now))
        queries.jobStarted(id, query: query)
        var plan = spec.plan
        if let adapter {
            adapters[id] = adapter
            for s in adapter.stages where s < plan.stages.count { plan.stages[s].laidOutWhenReady = true }
        }
        feed(.submitted(id, plan), now: now)
        return id
    }

    /// Per stage, what its tasks' used attempts did (time spans use the workers' clocks).
    static func stageFigures(stages: Int, _ tasks: [TaskKey: TaskFigure]) -> [StageFigures] {
        var out = Array(repeating: StageFigures(), count: stages)
        var span = Array(repeating: (first: Int64.max, last: Int64.min), count: stages)
        var workers = Array(repeating: Set<String>(), count: stages)
        for (key, f) in tasks where key.stage >= 0 && key.stage < stages {
            out[key.stage].tasks += 1
            out[key.stage].rows &+= f.rows
            out[key.stage].bytes &+= f.bytes
            out[key.stage].spilled &+= f.spilled
            out[key.stage].taskSeconds += Double(max(0, f.finishedUs &- f.startedUs)) / 1e6
            span[key.stage] = (min(span[key.stage].first, f.startedUs), max(span[key.stage].last, f.finishedUs))
            workers[key.stage].insert(f.worker)
        }
        for s in 0..<stages {
            if span[s].last >= span[s].first { out[s].seconds = Double(span[s].last &- span[s].first) / 1e6 }
            out[s].workers = workers[s].sorted()
        }
        return out
    }

    /// Each running query job's stages done, for its client's progress line.
    private func noteQueryProgress() {
        for id in queries.jobs {
            guard let job = scheduler.jobs[id] else { continue }
            let p = QueryProgress(stagesDone: UInt32(job.stages.filter { $0.state == .succeeded }.count), stages: UInt32(job.stages.count),
                                  rows: jobMeta[id]?.outputRows ?? 0, bytes: jobMeta[id]?.outputBytes ?? 0)
            queries.services.progressByJob.withLock { $0[id] = p }
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
        for (_, list) in duplicates { for d in list { d.drop() } }
        duplicates.removeAll()
    }
}
