import Columnar
import Execution
import Foundation
import PlanCodec
import Platform
import Scheduler
import SQL
import Wire

/// One `SubmitQuery`: a SQL script run on a thread of its own. Statements
/// that are not queries run in the query's own session (views, settings,
/// temporary tables, which hold for the rest of the script); each query is
/// planned here, off the loop thread, cut into stages and submitted as a job
/// of `sql` tasks. Its result stage's output is read from the worker holding
/// it and passed to the client in chunks it pulls (`FetchResult`), at most
/// `bufferBytes` ahead of what it acknowledged, so no whole result is held.
final class ClusterQuery: @unchecked Sendable {
    let id: String
    let request: SubmitQuery
    let partitions: Int
    let startedAt = Date()
    private let services: QueryServices

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var chunks: [ResultChunk] = []   // not yet acknowledged, in sequence order
    private var firstSequence: UInt64 = 0    // sequence of chunks[0]
    private var bufferedBytes = 0
    private var finished = false
    private var waiters: [(sequence: UInt64, deadline: Date, answer: @Sendable (ResultChunk) -> Void)] = []
    private(set) var lastHeard = Date()
    private var job: JobID?
    private var resultAt: ResultLocation?
    private var jobEnd: (state: JobState, reason: String, figures: [StageFigures])?
    private var stopReason: String?
    private var statement = 0
    private var doneServedAt: Date?

    /// Chunks the client may be behind by.
    static let bufferBytes = 8 << 20
    /// Bytes of result per chunk.
    static let chunkBytes = 1 << 20

    struct ResultLocation: Sendable {
        var attempt: AttemptID
        var workerID: String
        var address: String
    }

    /// Tasks a scan is split into at most: one per slot, so every worker reads at once
    /// and no file is cut finer than the slots can use.
    let scanTasks: Int

    /// Work that runs in a cluster session for the coordinator itself (a
    /// pipeline's model), not for a client: its jobs go in `lowPriority`'s lane,
    /// nothing is sent anywhere, and `done` hears what `body` answered.
    struct Detached: Sendable {
        var lowPriority: Bool
        var body: @Sendable (Session) throws(SQLError) -> String
        var done: @Sendable (Result<String, SQLError>) -> Void
    }
    let detached: Detached?

    init(id: String, request: SubmitQuery, partitions: Int, scanTasks: Int, services: QueryServices, detached: Detached? = nil) {
        self.id = id
        self.request = request
        self.partitions = partitions
        self.scanTasks = scanTasks
        self.services = services
        self.detached = detached
    }

    // MARK: the script

    func run() {
        let session = makeSession()
        if let detached {
            let outcome: Result<String, SQLError>
            do { outcome = .success(try detached.body(session)) } catch { outcome = .failure(error) }
            finish(ResultChunk(done: true))   // nobody reads it: `done` hears the outcome
            cancelRunningJob()
            detached.done(outcome)
            return
        }
        do {
            for t in request.tables {
                try session.registerFiles(name: t.name, pattern: t.pattern)
            }
            for (i, statement) in try Parser.parse(request.sql).enumerated() {
                try checkStopped()
                condition.withLock { self.statement = i }
                if case .query(let q) = statement {
                    let (schema, plan) = try session.stagePlan(q)
                    try emit(ResultChunk(statement: UInt32(i), schema: BatchCodec.encode(RecordBatch.empty(schema))))
                    _ = try runJob(plan, sink: .client(statement: i))
                    try emit(ResultChunk(statement: UInt32(i), statementDone: true))
                } else {
                    switch try session.run(statement) {
                    case .message(let m):
                        try emit(ResultChunk(statement: UInt32(i), statementDone: true, message: m))
                    case .rows(let schema, let batches):
                        try emit(ResultChunk(statement: UInt32(i), schema: BatchCodec.encode(RecordBatch.empty(schema)), batches: BatchCodec.encodeAll(batches),
                                             statementDone: true))
                    }
                }
            }
            finish(ResultChunk(done: true))
        } catch {
            let message = error.render(in: request.sql)
            finish(ResultChunk(done: true, error: message))
        }
        cancelRunningJob()
    }

    /// A job still running (a cancel or an error mid-query) is cancelled with the query.
    private func cancelRunningJob() {
        if let job = condition.withLock({ self.job }), condition.withLock({ self.jobEnd == nil }) {
            services.cancelJob(job, "query \(id) ended: \(condition.withLock { stopReason ?? "failed" })")
        }
    }

    /// A session whose queries run on the cluster as jobs of this query.
    private func makeSession() -> Session {
        let session = Session()
        session.stages = StageCutter(partitions: partitions, scanTasks: scanTasks)
        session.broadcastLimit = Session.clusterBroadcastLimit
        session.adaptive.parallelism = scanTasks
        session.fileRoots = services.fileRoots
        session.datasets = services.datasets
        session.datasetWriter = services.datasets
        session.label = id
        session.stagingJournal = services.staging
        // Fault tests stop here (`hold-commit`) to kill the coordinator with a complete write not yet published.
        session.beforePublish = { _ in FaultHold.pause(marker: "commit-started", holds: ["hold-commit"]) }
        // And here (`hold-catalog`), with a dataset's new files in place and the catalog not yet told.
        session.beforeCatalog = { _ in FaultHold.pause(marker: "catalog-started", holds: ["hold-catalog"]) }
        session.stageExecutor = { (plan, discard) throws(SQLError) in try self.runJob(plan, sink: discard ? .discard : .collect) }
        return session
    }

    private func checkStopped() throws(SQLError) {
        if let why = condition.withLock({ stopReason }) { throw SQLError.execution(why) }
    }

    /// Where a job's result rows go.
    enum Sink {
        /// To the client as they are read.
        case client(statement: Int)
        /// Returned (CREATE TABLE AS, a subquery of a statement).
        case collect
        /// Nowhere (EXPLAIN ANALYZE).
        case discard
    }

    /// Runs one query's stages as a job; its rows go to `sink`.
    private func runJob(_ plan: StagePlan, sink: Sink) throws(SQLError) -> StagedRun {
        var stages: [StageSpec] = []
        for s in plan.stages {
            let payload = SqlTask(stage: try PlanCodec.encode(s)).encoded()
            stages.append(StageSpec(id: UInt32(s.id), name: "stage \(s.id)", tasks: UInt32(s.tasks), dependsOn: s.dependsOn.map { UInt32($0) },
                                    spec: TaskSpec(kind: .sql, payload: payload, timeoutMs: 0)))
        }
        var spec = JobSpec(name: "query \(id)", stages: stages)
        spec.lowPriority = detached?.lowPriority ?? false
        // The loop makes it this query's job (`begin`) before the job can make progress.
        let job = services.submit(spec, query: id, adapter: Self.adapter(plan))
        var delivered = 0   // rows passed on, so a rerun of the result stage resumes after them
        var collected: [RecordBatch] = []
        while true {
            let (location, end, stop): (ResultLocation?, (state: JobState, reason: String, figures: [StageFigures])?, String?) = condition.withLock {
                while resultAt == nil && jobEnd == nil && stopReason == nil { condition.wait() }
                return (resultAt, jobEnd, stopReason)
            }
            if let stop {
                services.cancelJob(job, stop)
                throw SQLError.execution(stop)
            }
            if let end {
                guard end.state == .succeeded else { throw SQLError.execution("query failed: \(end.reason)") }
                return StagedRun(rows: collected, figures: end.figures)
            }
            guard let location else { continue }
            do {
                try read(location, job: job, skipping: delivered) { block, rows in
                    delivered += rows
                    switch sink {
                    case .client(let statement):
                        try self.emit(ResultChunk(statement: UInt32(statement), batches: block))
                    case .collect:
                        do { collected += try BatchCodec.decodeAll(block) } catch {
                            throw SQLError.execution("the result from worker \(location.workerID) is corrupt: \(error)")
                        }
                    case .discard:
                        break
                    }
                }
                services.delivered(job)
                // Wait for the job's end, which the delivery brings.
                condition.withLock { resultAt = nil }
            } catch let e as FetchFailure {
                // The worker holding the result went away: the scheduler runs the result stage again.
                if delivered > 0, services.ranOnThreads(job) {
                    throw SQLError.execution("the worker holding the result went away after \(delivered) rows were sent (\(e.message)), and the rest "
                        + "cannot be resumed exactly: its tasks ran on several threads each (--threads-per-task above 1), so a rerun may order "
                        + "rows differently; run the query again")
                }
                services.log("reading a query result failed; waiting for it to be made again", ["query": id, "error": e.message])
                condition.withLock { if resultAt?.attempt == location.attempt { resultAt = nil } }
                Thread.sleep(forTimeInterval: 0.2)
            } catch let e as SQLError {
                throw e
            } catch {
                throw SQLError.execution("\(error)")
            }
        }
    }

    /// Re-plans the stages that read a hash shuffle from the sizes their inputs wrote; nil when adaptation is off.
    static func adapter(_ plan: StagePlan) -> StageAdapter? {
        guard plan.adaptive.enabled else { return nil }
        let readers = plan.stages.filter(AdaptivePlanner.adapts)
        guard !readers.isEmpty else { return nil }
        return StageAdapter(stages: Set(readers.map(\.id))) { s, sizes in
            guard s >= 0, s < plan.stages.count, let d = AdaptivePlanner.adapt(plan.stages[s], sizes: sizes, policy: plan.adaptive),
                  let stage = try? PlanCodec.encode(d.stage) else { return nil }
            return (SqlTask(stage: stage).encoded(), d.stage.tasks, d.changes)
        }
    }

    struct FetchFailure: Error { let message: String }

    /// Reads the result's blocks, whole blocks at a time, passing each (with
    /// its row count) to `body`; the first `skipping` rows are left out.
    private func read(_ at: ResultLocation, job: JobID, skipping: Int, _ body: ([UInt8], Int) throws -> Void) throws {
        var pending: [UInt8] = []
        var offset = 0
        var total = Int.max
        var skip = skipping
        while offset < total {
            try checkStopped()
            let block: (data: ArraySlice<UInt8>, total: Int)
            do {
                block = try services.fetch(at, job: job, offset: offset, max: Self.chunkBytes)
            } catch {
                throw FetchFailure(message: "worker \(at.workerID): \(error)")
            }
            total = block.total
            offset += block.data.count
            pending += block.data
            // Pass on every whole block in hand.
            var start = 0
            var out: [UInt8] = []
            var rows = 0
            while pending.count - start >= BatchCodec.headerSize {
                let header = Array(pending[start..<(start + BatchCodec.headerSize)])
                guard let size = try? BatchCodec.blockSize(header: header), size <= pending.count - start else { break }
                let whole = Array(pending[start..<(start + size)])
                start += size
                let n = try BatchCodec.rowCount(ofBlock: whole)
                if skip >= n { skip -= n; continue }
                if skip > 0 {
                    var o = 0
                    let b = try BatchCodec.decode(whole, offset: &o)
                    let kept = b.slice(skip..<b.rowCount)
                    skip = 0
                    BatchCodec.encode(kept, into: &out)
                    rows += kept.rowCount
                } else {
                    out += whole
                    rows += n
                }
                if out.count >= Self.chunkBytes {
                    try body(out, rows)
                    out = []
                    rows = 0
                }
            }
            if !out.isEmpty { try body(out, rows) }
            pending.removeFirst(start)
        }
        guard pending.isEmpty else { throw SQLError.execution("the result from worker \(at.workerID) ends inside a batch") }
    }

    // MARK: chunks

    /// Queues a chunk for the client, waiting while it is too far behind.
    private func emit(_ chunk: ResultChunk) throws(SQLError) {
        let size = chunk.batches.count + chunk.schema.count + 64
        let stopped: String? = condition.withLock {
            while bufferedBytes > 0, bufferedBytes + size > Self.bufferBytes, stopReason == nil { condition.wait() }
            if let stopReason { return stopReason }
            var c = chunk
            c.sequence = firstSequence + UInt64(chunks.count)
            chunks.append(c)
            bufferedBytes += size
            serveWaiters()
            return nil
        }
        if let stopped { throw SQLError.execution(stopped) }
    }

    private func finish(_ last: ResultChunk) {
        condition.withLock {
            var c = last
            c.sequence = firstSequence + UInt64(chunks.count)
            chunks.append(c)
            finished = true
            serveWaiters()
        }
    }

    /// Answers the waiters whose chunk is here (lock held).
    private func serveWaiters() {
        waiters.removeAll { w in
            guard let c = chunkLocked(w.sequence) else { return false }
            if c.done { doneServedAt = Date() }
            w.answer(withProgress(c))
            return true
        }
        condition.broadcast()
    }

    /// Chunk `sequence`, dropping the ones before it (acknowledged); lock held.
    private func chunkLocked(_ sequence: UInt64) -> ResultChunk? {
        while let first = chunks.first, first.sequence < sequence {
            bufferedBytes -= first.batches.count + first.schema.count + 64
            chunks.removeFirst()
            firstSequence += 1
        }
        guard let first = chunks.first, first.sequence == sequence else { return nil }
        return first
    }

    private func withProgress(_ c: ResultChunk) -> ResultChunk {
        var c = c
        var p = services.progress(job) ?? QueryProgress()
        p.elapsedMs = UInt64(max(0, Date().timeIntervalSince(startedAt) * 1000))
        p.statement = UInt32(statement)
        c.progress = p
        return c
    }

    /// The client asks for chunk `sequence`: answered now, or when it is
    /// ready, or empty (`pending`) after `wait`.
    func fetch(_ sequence: UInt64, wait: TimeInterval, answer: @escaping @Sendable (ResultChunk) -> Void) {
        condition.withLock {
            lastHeard = Date()
            if sequence < firstSequence {
                answer(ResultChunk(sequence: sequence, done: true, error: "chunk \(sequence) was already acknowledged"))
                return
            }
            if let c = chunkLocked(sequence) {
                if c.done { doneServedAt = doneServedAt ?? Date() }
                answer(withProgress(c))
                condition.broadcast()
                return
            }
            condition.broadcast()   // room freed for the producer
            waiters.append((sequence, Date(timeIntervalSinceNow: wait), answer))
        }
    }

    /// Answers waiters whose wait is over with `pending`; true when the query is done and fully read.
    func expire(now: Date) -> Bool {
        condition.withLock {
            waiters.removeAll { w in
                guard w.deadline <= now else { return false }
                w.answer(withProgress(ResultChunk(sequence: w.sequence, pending: true)))
                return true
            }
            if detached != nil { return finished }
            // Kept a little after the last chunk left, for a client that resends its request.
            return finished && waiters.isEmpty && doneServedAt.map { now.timeIntervalSince($0) > 10 } ?? false
        }
    }

    // MARK: events from the loop

    /// `job` is this query's job from now on (on the loop thread, before the scheduler sees it).
    func begin(_ job: JobID) {
        condition.withLock {
            self.job = job
            resultAt = nil
            jobEnd = nil
        }
    }

    func resultReady(_ at: ResultLocation, job: JobID) {
        condition.withLock {
            guard self.job == job else { return }
            resultAt = at
            condition.broadcast()
        }
    }

    func jobEnded(_ job: JobID, state: JobState, reason: String, figures: [StageFigures]) {
        condition.withLock {
            guard self.job == job else { return }
            jobEnd = (state, reason, figures)
            condition.broadcast()
        }
    }

    /// Stops the query: its job is cancelled and the client hears `reason`.
    func stop(_ reason: String) {
        condition.withLock {
            if stopReason == nil { stopReason = reason }
            condition.broadcast()
        }
    }

    var currentJob: JobID? { condition.withLock { job } }

    /// The script ended (its last chunk may not have been read yet).
    var isFinished: Bool { condition.withLock { finished } }
}
