import Foundation
import Scheduler
import SQLite
import Wire

/// The coordinator's durable memory: accepted submissions, jobs, and every
/// attempt (leased, then ended), in SQLite (WAL) in the data dir.
///
/// Writes are buffered and committed as one transaction per loop turn
/// (group commit): the coordinator answers a request only after the turn that
/// handled it has committed, so an acknowledged submit or result survives
/// `kill -9`. With `synchronous=NORMAL` (the default) a power loss may drop
/// the last turns; `synchronous=FULL` closes that at the cost of an fsync per turn.
///
/// This connection belongs to the loop thread. Views read through a
/// `JournalReader` of their own on another thread.
final class Journal {
    let path: String
    private let db: Database
    private var pending: [Op] = []

    /// Jobs are named in attempt rows by their sequence number: a small integer key.
    enum Op {
        case submit(job: String, seq: Int64, submission: String, spec: [UInt8], name: String, tasks: Int, atMs: Int64)
        case lease(attempt: AttemptID, jobSeq: Int64, stage: Int, task: Int, number: Int, worker: WorkerKey, atMs: Int64)
        case attemptEnd(attempt: AttemptID, jobSeq: Int64, stage: Int, task: Int, state: String, reason: String, exitCode: Int32,
                        output: [UInt8], startedUs: Int64, finishedUs: Int64)
        case jobEnd(job: String, state: String, reason: String, atMs: Int64, succeeded: Int, failed: Int)
    }

    struct StoredJob {
        var id: String
        var seq: Int64
        var submission: String
        var spec: [UInt8]
        var submittedMs: Int64
    }

    init(path: String, fullSync: Bool) throws {
        self.path = path
        db = try Database(path: path)
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=\(fullSync ? "FULL" : "NORMAL")")
        // Checkpoints (copying the log into the database) run on the reader's
        // thread, off the loop; this is only the backstop should they stall.
        try db.execute("PRAGMA wal_autocheckpoint=\(Self.backstopCheckpointPages)")
        try JournalSchema.prepare(db)
        // Both attempt tables are appended to in attempt-id order, the cheapest write a B-tree has.
        insertLease = try db.statement("INSERT OR REPLACE INTO leases(job_seq, stage, task, attempt_id, number, worker_id, incarnation, leased_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?)")
        insertEnd = try db.statement("INSERT OR REPLACE INTO attempt_ends(attempt_id, state, reason, exit_code, output, started_us, finished_us, job_seq, stage, task) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        updateHighest = try db.statement("INSERT INTO meta(key, value) VALUES('attempt_high', ?) ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)")
        insertJob = try db.statement("INSERT INTO jobs(job_id, seq, submission_id, spec, name, tasks_total, submitted_ms) VALUES(?, ?, ?, ?, ?, ?, ?)")
        updateJob = try db.statement("UPDATE jobs SET state = ?, reason = ?, finished_ms = ?, tasks_succeeded = ?, tasks_failed = ? WHERE job_id = ?")
    }

    /// The write-ahead log may grow to this many pages (80 MiB) before the loop checkpoints it itself.
    static let backstopCheckpointPages = 20_000

    private let insertLease: Statement
    private let insertEnd: Statement
    private let insertJob: Statement
    private let updateJob: Statement
    private let updateHighest: Statement

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
            var highest: AttemptID = 0
            for op in ops {
                switch op {
                case .submit(let job, let seq, let submission, let spec, let name, let tasks, let at):
                    try insertJob.run(.text(job), .integer(seq), .text(submission), .blob(spec), .text(name), .integer(Int64(tasks)), .integer(at))
                case .lease(let attempt, let seq, let stage, let task, let number, let worker, let at):
                    highest = max(highest, attempt)
                    try insertLease.run(.integer(seq), .integer(Int64(stage)), .integer(Int64(task)), .integer(Int64(attempt)), .integer(Int64(number)),
                                        .text(worker.id), .integer(Int64(bitPattern: worker.incarnation)), .integer(at))
                case .attemptEnd(let attempt, let seq, let stage, let task, let state, let reason, let code, let output, let started, let finished):
                    try insertEnd.run(.integer(Int64(attempt)), .text(state), .text(reason), .integer(Int64(code)),
                                      output.isEmpty ? .null : .blob(output), .integer(started), .integer(finished),
                                      .integer(seq), .integer(Int64(stage)), .integer(Int64(task)))
                case .jobEnd(let job, let state, let reason, let at, let succeeded, let failed):
                    try updateJob.run(.text(state), .text(reason), .integer(at), .integer(Int64(succeeded)), .integer(Int64(failed)), .text(job))
                }
            }
            // Attempt ids never repeat: the highest one handed out is kept, whatever is pruned later.
            if highest > 0 { try updateHighest.run(.integer(Int64(highest))) }
        }
    }

    // MARK: restart

    /// Jobs that had not finished, in submission order.
    func unfinishedJobs() throws -> [StoredJob] {
        var out: [StoredJob] = []
        try db.statement("SELECT job_id, seq, submission_id, spec, submitted_ms FROM jobs WHERE state = 'running' ORDER BY seq").query { r in
            out.append(StoredJob(id: r.text(0), seq: r.int(1), submission: r.text(2), spec: r.blob(3), submittedMs: r.int(4)))
        }
        return out
    }

    /// What a restarted scheduler needs of one unfinished job: per stage the
    /// committed tasks and the end of the leased range, and every attempt of
    /// the tasks not committed. Reads the job's attempts in task order,
    /// keeping one task's at a time.
    func restoreState(of job: StoredJob, stages: Int) throws -> (committed: [Int], untouched: [Int], attempts: [Scheduler.RestoredAttempt]) {
        var committed = Array(repeating: 0, count: stages)
        var untouched = Array(repeating: 0, count: stages)
        var open: [Scheduler.RestoredAttempt] = []
        var current: [Scheduler.RestoredAttempt] = []
        var currentKey: (Int, Int) = (-1, -1)
        var currentCommitted = false
        func flush() {
            guard currentKey.0 >= 0 else { return }
            if currentCommitted { committed[currentKey.0] += 1 } else { open += current }
            current.removeAll(keepingCapacity: true)
            currentCommitted = false
        }
        let id = JobID(job.id)
        try db.statement("""
            SELECT l.stage, l.task, l.attempt_id, l.worker_id, l.incarnation, coalesce(e.state, 'leased'), coalesce(e.reason, ''), coalesce(e.exit_code, 0)
            FROM leases l LEFT JOIN attempt_ends e ON e.attempt_id = l.attempt_id WHERE l.job_seq = ? ORDER BY l.stage, l.task, l.attempt_id
            """).query(.integer(job.seq)) { r in
            let stage = Int(r.int(0)), task = Int(r.int(1))
            guard stage >= 0, stage < stages, task >= 0 else { return }
            if (stage, task) != currentKey {
                flush()
                currentKey = (stage, task)
            }
            untouched[stage] = max(untouched[stage], task + 1)
            let state = AttemptState(rawValue: r.text(5)) ?? .lost
            if state == .succeeded { currentCommitted = true }
            current.append(Scheduler.RestoredAttempt(
                id: AttemptID(r.int(2)), task: TaskKey(job: id, stage: stage, task: task),
                worker: WorkerKey(id: r.text(3), incarnation: UInt64(bitPattern: r.int(4))), state: state, reason: r.text(6),
                exitCode: Int32(truncatingIfNeeded: r.int(7))))
        }
        flush()
        return (committed, untouched, open)
    }

    func highestSeq() throws -> Int64 {
        var v: Int64 = 0
        try db.statement("SELECT coalesce(max(seq), 0) FROM jobs").query { v = $0.int(0) }
        return v
    }

    func highestAttemptID() throws -> AttemptID {
        var v: Int64 = 0
        try db.statement("SELECT max((SELECT coalesce(max(value), 0) FROM meta WHERE key = 'attempt_high'), (SELECT coalesce(max(attempt_id), 0) FROM attempt_ends))")
            .query { v = $0.int(0) }
        return AttemptID(max(v, 0))
    }

    /// The job a submission id made, if the journal has it (submissions are unique).
    func job(forSubmission submission: String) throws -> String? {
        var id: String?
        try db.statement("SELECT job_id FROM jobs WHERE submission_id = ?").query(.text(submission)) { id = $0.text(0) }
        return id
    }

    // MARK: retention

    /// A finished job old enough to prune.
    struct Expired: Equatable {
        var id: String
        var seq: Int64
    }

    /// Finished jobs that ended before `cutoffMs`, oldest first.
    func expiredJobs(finishedBefore cutoffMs: Int64, limit: Int) throws -> [Expired] {
        var out: [Expired] = []
        try db.statement("SELECT job_id, seq FROM jobs WHERE state <> 'running' AND finished_ms < ? ORDER BY finished_ms LIMIT ?")
            .query(.integer(cutoffMs), .integer(Int64(limit))) { out.append(Expired(id: $0.text(0), seq: $0.int(1))) }
        return out
    }

    /// Deletes up to `rows` attempts of a pruned job, and the job once none
    /// are left; true when the job is gone. Small steps, so a loop turn that
    /// prunes stays short.
    func prune(_ job: Expired, rows: Int) throws -> Bool {
        try db.transaction {
            var keys: [(Int64, Int64, Int64)] = []
            try db.statement("SELECT stage, task, attempt_id FROM leases WHERE job_seq = ? LIMIT ?").query(.integer(job.seq), .integer(Int64(rows))) {
                keys.append(($0.int(0), $0.int(1), $0.int(2)))
            }
            let deleteEnd = try db.statement("DELETE FROM attempt_ends WHERE attempt_id = ?")
            let deleteLease = try db.statement("DELETE FROM leases WHERE job_seq = ? AND stage = ? AND task = ? AND attempt_id = ?")
            for (stage, task, attempt) in keys {
                try deleteEnd.run(.integer(attempt))
                try deleteLease.run(.integer(job.seq), .integer(stage), .integer(task), .integer(attempt))
            }
            if keys.count < rows {
                try db.statement("DELETE FROM jobs WHERE job_id = ?").run(.text(job.id))
                return true
            }
            return false
        }
    }

    /// The journal's size on disk: the database and its write-ahead log.
    var bytesOnDisk: UInt64 {
        [path, path + "-wal"].reduce(0) { sum, p in
            sum + ((try? FileManager.default.attributesOfItem(atPath: p)[.size] as? UInt64) ?? 0)
        }
    }
}
