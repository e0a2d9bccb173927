import Foundation
import Platform
import Scheduler
import SQLite
import Wire

/// What the loop thread knows of a job in memory, handed to the reader with
/// a query so the answer shows live state the journal does not hold yet
/// (which attempts have started, which tasks wait out a backoff).
struct LiveJob: Sendable {
    var summary: JobSummary
    var retries: Int
    /// Per stage, the end of the leased range (tasks at or after it never ran).
    var untouched: [Int]
    /// Live tasks' phases (pending, backoff, active).
    var tasks: [StageTask: TaskPhase]
    var attempts: [AttemptID: LiveAttempt]
}

struct LiveAttempt: Sendable {
    var state: AttemptState
    var startedUs: Int64
}

struct StageTask: Hashable, Comparable, Sendable {
    var stage: Int
    var task: Int
    static func < (a: StageTask, b: StageTask) -> Bool { (a.stage, a.task) < (b.stage, b.task) }
}

/// A question for the journal, asked by the loop thread on behalf of a client.
enum JournalQuery: Sendable {
    case detail(GetJob, live: LiveJob?, workerAddresses: [String: String])
    case list(limit: Int, live: [String: JobSummary])
    /// Cancelling a job that is no longer in memory: it finished, or never existed.
    case cancelFinished(jobID: String)
}

enum JournalAnswer: Sendable {
    case detail(JobDetail)
    case list(JobList)
    case cancel(CancelReply)
    case error(ErrorCode, String)
}

/// Answers views from the journal on a thread of its own, with its own
/// connection (WAL lets it read while the loop writes), so that a query over
/// a huge job never stalls the loop that answers heartbeats. It sees what
/// the loop has committed, which is everything it has acknowledged. It also
/// checkpoints the write-ahead log every half second (a passive checkpoint
/// runs beside the writer), work that would otherwise land on the loop.
final class JournalReader: Sendable {
    /// Replies carry at most this much task output; the rest is marked omitted.
    static let outputBudget = 8 << 20
    static let defaultPageSize = 1000
    static let defaultOutputPageSize = 100
    static let maxPageSize = 10_000
    /// How often this thread copies the write-ahead log into the database, so the loop never has to.
    static let checkpointInterval: TimeInterval = 0.5

    private let queue = Mailbox<Item>()
    private let threads = ThreadGroup()

    struct Item: @unchecked Sendable {
        var query: JournalQuery
        var done: @Sendable (JournalAnswer) -> Void
    }

    init(path: String) {
        let queue = self.queue
        threads.spawn("journal-reader") {
            var reader: Queries?
            var lastCheckpoint = Date()
            while true {
                let items = queue.takeAll(timeout: Self.checkpointInterval)
                if queue.isClosed && items.isEmpty { return }
                do {
                    if reader == nil { reader = try Queries(path: path) }
                    for item in items { item.done(try reader!.answer(item.query)) }
                    if Date().timeIntervalSince(lastCheckpoint) >= Self.checkpointInterval {
                        lastCheckpoint = Date()
                        try reader!.checkpoint()
                    }
                } catch {
                    reader = nil
                    for item in items { item.done(.error(.internal, "cannot read the journal: \(error)")) }
                }
            }
        }
    }

    func ask(_ query: JournalQuery, done: @escaping @Sendable (JournalAnswer) -> Void) {
        queue.put(Item(query: query, done: done))
    }

    /// Stops the thread after the queued queries; returns when it has ended.
    func stop() {
        queue.close()
        threads.join(timeout: 30)
    }
}

/// The queries themselves; lives on the reader thread only.
private final class Queries {
    let db: Database

    init(path: String) throws {
        // Read-write only so it may checkpoint; it never changes a row.
        db = try Database(path: path)
        try db.execute("PRAGMA wal_autocheckpoint=0")
    }

    /// Copies what the log holds into the database without waiting for anyone.
    func checkpoint() throws {
        try db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    }

    func answer(_ query: JournalQuery) throws -> JournalAnswer {
        switch query {
        case .detail(let m, let live, let addresses):
            return try detail(m, live: live, addresses: addresses)
        case .list(let limit, let live):
            return .list(JobList(jobs: try list(limit: limit, live: live)))
        case .cancelFinished(let id):
            guard let row = try jobRow(id) else { return .error(.notFound, "no job '\(id)'") }
            return .cancel(CancelReply(state: row.state))
        }
    }

    // MARK: jobs

    struct JobRow {
        var summary: JobSummary
        var spec: [UInt8]
        var seq: Int64
        var state: String { summary.state }
    }

    private static let summaryColumns = "job_id, name, state, reason, tasks_total, tasks_succeeded, tasks_failed, submitted_ms, finished_ms"

    private func summary(_ r: Row) -> JobSummary {
        JobSummary(jobID: r.text(0), name: r.text(1), state: r.text(2), reason: r.text(3),
                   tasksTotal: UInt32(clamping: r.int(4)), tasksSucceeded: UInt32(clamping: r.int(5)), tasksFailed: UInt32(clamping: r.int(6)),
                   submittedAtMs: r.int(7), finishedAtMs: r.int(8))
    }

    func jobRow(_ id: String) throws -> JobRow? {
        var row: JobRow?
        try db.statement("SELECT \(Self.summaryColumns), spec, seq FROM jobs WHERE job_id = ?").query(.text(id)) { r in
            row = JobRow(summary: summary(r), spec: r.blob(9), seq: r.int(10))
        }
        return row
    }

    func list(limit: Int, live: [String: JobSummary]) throws -> [JobSummary] {
        var out: [JobSummary] = []
        try db.statement("SELECT \(Self.summaryColumns) FROM jobs ORDER BY seq DESC LIMIT ?").query(.integer(Int64(limit))) { r in
            let s = summary(r)
            out.append(live[s.jobID] ?? s)
        }
        return out
    }

    // MARK: one job's tasks

    private func detail(_ m: GetJob, live: LiveJob?, addresses: [String: String]) throws -> JournalAnswer {
        guard let row = try jobRow(m.jobID) else { return .error(.notFound, "no job '\(m.jobID)'") }
        let summary = live?.summary ?? row.summary
        if m.summaryOnly { return .detail(JobDetail(summary: summary)) }
        let known = ["pending", "backoff", "leased", "running", "succeeded", "failed", "cancelled"]
        if !m.state.isEmpty && !known.contains(m.state) {
            return .error(.badRequest, "unknown task state '\(m.state)' (expected one of \(known.joined(separator: ", ")))")
        }
        let spec = (try? JobSpec(decoding: row.spec)) ?? JobSpec()
        let retries = live?.retries ?? (spec.retriesSet ? Int(spec.retries) : 3)
        let defaultSize = m.includeOutput ? JournalReader.defaultOutputPageSize : JournalReader.defaultPageSize
        let pageSize = min(max(m.pageSize == 0 ? defaultSize : Int(m.pageSize), 1), JournalReader.maxPageSize)
        var context = DetailContext(live: live, jobState: summary.state, retries: retries, includeOutput: m.includeOutput,
                                    addresses: addresses, filter: m.state)

        var tasks: [TaskRows] = []
        var more = false
        if !m.task.isEmpty {
            let parts = m.task.split(separator: ".").map { Int($0) }
            guard parts.count == 2, let stage = parts[0], let task = parts[1], stage >= 0, task >= 0 else {
                return .error(.badRequest, "a task is named STAGE.INDEX, not '\(m.task)'")
            }
            tasks = try load(row.seq, stage: stage, from: task, to: task + 1, context: &context)
        } else if m.page == 0 && m.state.isEmpty {
            (tasks, more) = try attention(row.seq, context: &context, pageSize: pageSize)
        } else if m.state.isEmpty {
            (tasks, more) = try range(row.seq, spec: spec, page: Int(m.page), pageSize: pageSize, context: &context)
        } else {
            (tasks, more) = try filtered(row.seq, page: max(Int(m.page), 1), pageSize: pageSize, context: &context)
        }

        var stages = spec.stages.enumerated().map { i, s in
            StageDetail(id: UInt32(i), name: s.name, state: stageState(i, total: Int(s.tasks), summary: summary, live: live),
                        dependsOn: s.dependsOn)
        }
        for t in tasks where t.key.stage < stages.count {
            stages[t.key.stage].tasks.append(TaskDetail(
                task: UInt32(t.key.task), state: context.state(of: t),
                committedAttempt: t.attempts.first { $0.state == AttemptState.succeeded.rawValue }?.attemptID ?? 0,
                attempts: t.attempts))
        }
        return .detail(JobDetail(summary: summary, stages: stages, page: m.page, more: more, pageSize: UInt32(pageSize)))
    }

    private func stageState(_ s: Int, total: Int, summary: JobSummary, live: LiveJob?) -> String {
        if summary.state == JobState.succeeded.rawValue { return StageState.succeeded.rawValue }
        if let live, s < live.untouched.count {
            return live.untouched[s] > 0 || live.tasks.keys.contains { $0.stage == s } ? StageState.running.rawValue : StageState.waiting.rawValue
        }
        return summary.state == JobState.running.rawValue ? StageState.running.rawValue : summary.state
    }

    /// Page 0: running tasks and tasks with a failed attempt, the ones a person looks at first.
    private func attention(_ job: Int64, context: inout DetailContext, pageSize: Int) throws -> ([TaskRows], Bool) {
        var keys = Set<StageTask>()
        if let live = context.live {
            for (k, phase) in live.tasks where phase == .active { keys.insert(k) }
        }
        try db.statement("""
            SELECT stage, task FROM attempt_ends INDEXED BY attempt_failures WHERE job_seq = ? AND state IN ('failed', 'timedOut')
            """).query(.integer(job)) { r in
            keys.insert(StageTask(stage: Int(r.int(0)), task: Int(r.int(1))))
        }
        let sorted = keys.sorted()
        var out: [TaskRows] = []
        for k in sorted.prefix(pageSize) {
            out += try load(job, stage: k.stage, from: k.task, to: k.task + 1, context: &context)
        }
        return (out, sorted.count > pageSize)
    }

    /// Page N of every task that has run, in stage and task order. Every task
    /// below the end of a stage's leased range has run, so a page is a range.
    private func range(_ job: Int64, spec: JobSpec, page: Int, pageSize: Int, context: inout DetailContext) throws -> ([TaskRows], Bool) {
        var counts: [Int] = []
        for s in spec.stages.indices {
            if let live = context.live, s < live.untouched.count {
                counts.append(live.untouched[s])
                continue
            }
            var n: Int64 = 0
            try db.statement("SELECT coalesce(max(task) + 1, 0) FROM leases WHERE job_seq = ? AND stage = ?").query(.integer(job), .integer(Int64(s))) { n = $0.int(0) }
            counts.append(Int(n))
        }
        var skip = (page - 1) * pageSize
        var left = pageSize
        var out: [TaskRows] = []
        for (s, n) in counts.enumerated() where left > 0 {
            if skip >= n {
                skip -= n
                continue
            }
            let from = skip, to = min(n, skip + left)
            skip = 0
            left -= to - from
            out += try load(job, stage: s, from: from, to: to, context: &context)
        }
        let shown = (page - 1) * pageSize + pageSize
        return (out, counts.reduce(0, +) > shown)
    }

    /// Page N of the tasks in one state: a scan of the job's attempts in task order.
    private func filtered(_ job: Int64, page: Int, pageSize: Int, context: inout DetailContext) throws -> ([TaskRows], Bool) {
        var skip = (page - 1) * pageSize
        var out: [TaskRows] = []
        var more = false
        try scan(job, where: "", [], context: &context) { task, context in
            guard context.state(of: task) == context.filter else { return true }
            if skip > 0 {
                skip -= 1
                return true
            }
            if out.count == pageSize {
                more = true
                return false
            }
            out.append(context.withOutput(task))
            return true
        }
        return (out, more)
    }

    private func load(_ job: Int64, stage: Int, from: Int, to: Int, context: inout DetailContext) throws -> [TaskRows] {
        var out: [TaskRows] = []
        try scan(job, where: "AND l.stage = ? AND l.task >= ? AND l.task < ?", [.integer(Int64(stage)), .integer(Int64(from)), .integer(Int64(to))],
                 context: &context) { task, context in
            out.append(context.withOutput(task))
            return true
        }
        return out
    }

    /// Streams a job's attempts grouped by task, in task order, until `visit` returns false.
    private func scan(_ job: Int64, where extra: String, _ values: [SQLValue], context: inout DetailContext,
                      _ visit: (TaskRows, inout DetailContext) throws -> Bool) throws {
        let output = context.includeOutput ? "e.output" : "NULL"
        let sql = """
            SELECT l.stage, l.task, l.attempt_id, l.number, l.worker_id, l.incarnation, coalesce(e.state, 'leased'), coalesce(e.reason, ''),
                   coalesce(e.exit_code, 0), coalesce(e.started_us, 0), coalesce(e.finished_us, 0), \(output)
            FROM leases l LEFT JOIN attempt_ends e ON e.attempt_id = l.attempt_id
            WHERE l.job_seq = ? \(extra) ORDER BY l.stage, l.task, l.attempt_id
            """
        var current: TaskRows?
        var stopped = false
        try db.statement(sql).scan([.integer(job)] + values) { r in
            let key = StageTask(stage: Int(r.int(0)), task: Int(r.int(1)))
            if let c = current, c.key != key {
                current = nil
                if try !visit(c, &context) {
                    stopped = true
                    return false
                }
            }
            let worker = "\(r.text(4))#\(UInt64(bitPattern: r.int(5)))"
            let id = AttemptID(r.int(2))
            var a = AttemptDetail(attemptID: id, attempt: UInt32(clamping: r.int(3)), workerID: worker, state: r.text(6),
                                  reason: r.text(7), exitCode: Int32(truncatingIfNeeded: r.int(8)), startedAtUs: r.int(9),
                                  finishedAtUs: r.int(10), output: r.blob(11), workerAddress: context.addresses[worker] ?? "")
            if let l = context.live?.attempts[id] {
                a.state = l.state.rawValue
                if a.startedAtUs == 0 { a.startedAtUs = l.startedUs }
            }
            if current == nil { current = TaskRows(key: key, attempts: []) }
            current!.attempts.append(a)
            return true
        }
        if !stopped, let c = current { _ = try visit(c, &context) }
    }
}

/// One task's attempts, as a page shows them.
private struct TaskRows {
    var key: StageTask
    var attempts: [AttemptDetail]
}

/// How a task's state is told from its attempts and the live overlay, and
/// how much output a reply may still carry.
private struct DetailContext {
    var live: LiveJob?
    var jobState: String
    var retries: Int
    var includeOutput: Bool
    var addresses: [String: String]
    var filter: String
    var outputLeft = JournalReader.outputBudget

    func state(of task: TaskRows) -> String {
        let states = task.attempts.map { AttemptState(rawValue: $0.state) ?? .lost }
        if states.contains(.succeeded) { return "succeeded" }
        if let phase = live?.tasks[task.key] {
            switch phase {
            case .active: return states.contains(.running) ? "running" : "leased"
            case .backoff: return "backoff"
            default: return "pending"
            }
        }
        if jobState == JobState.running.rawValue { return states.contains { $0.isActive } ? "leased" : "pending" }
        let failures = states.filter { $0 == .failed || $0 == .timedOut }.count
        let lost = states.filter { $0 == .lost }.count
        return failures > retries || lost >= SchedulerConfig().poisonAfterLost ? "failed" : "cancelled"
    }

    /// Drops output beyond the reply's budget (the caller reads the rest with `sluice logs`).
    mutating func withOutput(_ task: TaskRows) -> TaskRows {
        guard includeOutput else { return task }
        var t = task
        for i in t.attempts.indices where !t.attempts[i].output.isEmpty {
            if t.attempts[i].output.count <= outputLeft {
                outputLeft -= t.attempts[i].output.count
            } else {
                t.attempts[i].output = []
                t.attempts[i].outputOmitted = true
            }
        }
        return t
    }
}
