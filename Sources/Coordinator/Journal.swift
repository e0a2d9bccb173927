import Scheduler
import SQLite

/// The coordinator's durable memory: accepted submissions, jobs, and every
/// attempt (leased, then ended), in SQLite (WAL) in the data dir.
///
/// Writes are buffered and committed as one transaction per loop turn
/// (group commit): the coordinator answers a request only after the turn that
/// handled it has committed, so an acknowledged submit or result survives
/// `kill -9`. With `synchronous=NORMAL` (the default) a power loss may drop
/// the last turns; `synchronous=FULL` closes that at the cost of an fsync per turn.
final class Journal {
    private let db: Database
    private var pending: [Op] = []

    enum Op {
        case submit(job: String, seq: Int64, submission: String, spec: [UInt8], atMs: Int64)
        case lease(attempt: AttemptID, job: String, stage: Int, task: Int, number: Int, worker: WorkerKey, atMs: Int64)
        case attemptEnd(attempt: AttemptID, state: String, reason: String, exitCode: Int32, output: [UInt8], startedUs: Int64, finishedUs: Int64)
        case jobEnd(job: String, state: String, reason: String, atMs: Int64)
    }

    struct StoredJob {
        var id: String
        var seq: Int64
        var submission: String
        var spec: [UInt8]
        var state: String
        var reason: String
        var submittedMs: Int64
        var finishedMs: Int64
    }

    struct StoredAttempt {
        var id: AttemptID
        var job: String
        var stage: Int
        var task: Int
        var worker: WorkerKey
        var state: String
        var reason: String
        var exitCode: Int32
        var output: [UInt8]
        var startedUs: Int64
        var finishedUs: Int64
    }

    init(path: String, fullSync: Bool) throws {
        db = try Database(path: path)
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=\(fullSync ? "FULL" : "NORMAL")")
        try db.execute("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS jobs (
                job_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, submission_id TEXT NOT NULL UNIQUE,
                spec BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'running', reason TEXT NOT NULL DEFAULT '',
                submitted_ms INTEGER NOT NULL, finished_ms INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS attempts (
                attempt_id INTEGER PRIMARY KEY, job_id TEXT NOT NULL, stage INTEGER NOT NULL, task INTEGER NOT NULL,
                number INTEGER NOT NULL, worker_id TEXT NOT NULL, incarnation INTEGER NOT NULL, leased_ms INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS attempt_ends (
                attempt_id INTEGER PRIMARY KEY, state TEXT NOT NULL, reason TEXT NOT NULL, exit_code INTEGER NOT NULL,
                output BLOB, started_us INTEGER NOT NULL, finished_us INTEGER NOT NULL);
            CREATE VIEW IF NOT EXISTS attempt_states AS
                SELECT a.*, coalesce(e.state, 'leased') AS state, coalesce(e.reason, '') AS reason,
                       coalesce(e.exit_code, 0) AS exit_code, e.output AS output,
                       coalesce(e.started_us, 0) AS started_us, coalesce(e.finished_us, 0) AS finished_us
                FROM attempts a LEFT JOIN attempt_ends e USING (attempt_id);
            """)
        // Both tables are appended to in attempt-id order, the cheapest write a B-tree has.
        insertLease = try db.statement("INSERT OR REPLACE INTO attempts(attempt_id, job_id, stage, task, number, worker_id, incarnation, leased_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?)")
        insertEnd = try db.statement("INSERT OR REPLACE INTO attempt_ends(attempt_id, state, reason, exit_code, output, started_us, finished_us) VALUES(?, ?, ?, ?, ?, ?, ?)")
        insertJob = try db.statement("INSERT INTO jobs(job_id, seq, submission_id, spec, submitted_ms) VALUES(?, ?, ?, ?, ?)")
        updateJob = try db.statement("UPDATE jobs SET state = ?, reason = ?, finished_ms = ? WHERE job_id = ?")
    }

    private let insertLease: Statement
    private let insertEnd: Statement
    private let insertJob: Statement
    private let updateJob: Statement

    /// Increments and returns the coordinator epoch (one per start).
    func nextEpoch() throws -> UInt64 {
        try db.transaction {
            try db.statement("INSERT INTO meta(key, value) VALUES('epoch', 1) ON CONFLICT(key) DO UPDATE SET value = value + 1").run()
            var epoch: Int64 = 0
            try db.statement("SELECT value FROM meta WHERE key = 'epoch'").query { epoch = $0.int(0) }
            return UInt64(epoch)
        }
    }

    func append(_ op: Op) { pending.append(op) }

    /// Writes everything appended since the last commit in one transaction.
    func commit() throws {
        guard !pending.isEmpty else { return }
        let ops = pending
        pending.removeAll(keepingCapacity: true)
        try db.transaction {
            for op in ops {
                switch op {
                case .submit(let job, let seq, let submission, let spec, let at):
                    try insertJob.run(.text(job), .integer(seq), .text(submission), .blob(spec), .integer(at))
                case .lease(let attempt, let job, let stage, let task, let number, let worker, let at):
                    try insertLease.run(.integer(Int64(attempt)), .text(job), .integer(Int64(stage)), .integer(Int64(task)), .integer(Int64(number)),
                                        .text(worker.id), .integer(Int64(bitPattern: worker.incarnation)), .integer(at))
                case .attemptEnd(let attempt, let state, let reason, let code, let output, let started, let finished):
                    try insertEnd.run(.integer(Int64(attempt)), .text(state), .text(reason), .integer(Int64(code)),
                                      output.isEmpty ? .null : .blob(output), .integer(started), .integer(finished))
                case .jobEnd(let job, let state, let reason, let at):
                    try updateJob.run(.text(state), .text(reason), .integer(at), .text(job))
                }
            }
        }
    }

    func loadJobs() throws -> [StoredJob] {
        var out: [StoredJob] = []
        try db.statement("SELECT job_id, seq, submission_id, spec, state, reason, submitted_ms, finished_ms FROM jobs ORDER BY seq").query { r in
            out.append(StoredJob(id: r.text(0), seq: r.int(1), submission: r.text(2), spec: r.blob(3), state: r.text(4),
                                 reason: r.text(5), submittedMs: r.int(6), finishedMs: r.int(7)))
        }
        return out
    }

    func loadAttempts() throws -> [StoredAttempt] {
        var out: [StoredAttempt] = []
        try db.statement("SELECT attempt_id, job_id, stage, task, worker_id, incarnation, state, reason, exit_code, output, started_us, finished_us FROM attempt_states ORDER BY attempt_id").query { r in
            out.append(StoredAttempt(
                id: AttemptID(r.int(0)), job: r.text(1), stage: Int(r.int(2)), task: Int(r.int(3)),
                worker: WorkerKey(id: r.text(4), incarnation: UInt64(bitPattern: r.int(5))), state: r.text(6), reason: r.text(7),
                exitCode: Int32(truncatingIfNeeded: r.int(8)), output: r.blob(9), startedUs: r.int(10), finishedUs: r.int(11)))
        }
        return out
    }
}
