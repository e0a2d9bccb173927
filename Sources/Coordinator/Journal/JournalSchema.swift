import SQLite
import Wire

/// The journal's tables, and the migrations that bring an older journal to
/// them. The version lives in the SQLite header (`PRAGMA user_version`):
///
/// - 0 with tables: the layout of release 0.1.0 (jobs, attempts, attempt_ends).
/// - 2: job names and task counts on the job row (so a finished job is
///   listed without reading its attempts), and the indexes that let restart
///   read only unfinished jobs, views page through one job's tasks, and
///   retention find expired jobs, each without scanning history.
enum JournalSchema {
    static let current: Int64 = 2

    static let tables = """
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
        """

    /// What version 2 adds to version 1's tables.
    static let version2 = """
        ALTER TABLE jobs ADD COLUMN name TEXT NOT NULL DEFAULT '';
        ALTER TABLE jobs ADD COLUMN tasks_total INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN tasks_succeeded INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN tasks_failed INTEGER NOT NULL DEFAULT 0;
        CREATE UNIQUE INDEX jobs_by_seq ON jobs(seq);
        CREATE INDEX jobs_unfinished ON jobs(seq) WHERE state = 'running';
        CREATE INDEX jobs_by_finish ON jobs(finished_ms) WHERE state <> 'running';
        CREATE INDEX attempts_by_task ON attempts(job_id, stage, task);
        CREATE INDEX attempt_failures ON attempt_ends(attempt_id) WHERE state IN ('failed', 'timedOut');
        """

    /// Creates the tables of a new journal, or migrates an older one, in one transaction.
    static func prepare(_ db: Database) throws {
        let version = try db.userVersion()
        if version > current {
            throw CoordinatorError("the journal has schema version \(version), newer than this coordinator's \(current): run a newer sluice, or start on another --data-dir")
        }
        guard version < current else { return }
        let existing = try db.hasTable("jobs")
        try db.transaction {
            try db.execute(tables)
            try db.execute(version2)
            if existing { try fillVersion2Columns(db) }
            try db.setUserVersion(current)
        }
    }

    /// Names and task counts for the jobs a version 1 journal holds.
    private static func fillVersion2Columns(_ db: Database) throws {
        var rows: [(String, [UInt8])] = []
        try db.statement("SELECT job_id, spec FROM jobs").query { rows.append(($0.text(0), $0.blob(1))) }
        let update = try db.statement("UPDATE jobs SET name = ?, tasks_total = ? WHERE job_id = ?")
        for (id, blob) in rows {
            guard let spec = try? JobSpec(decoding: blob) else { continue }
            try update.run(.text(spec.name), .integer(Int64(spec.totalTasks)), .text(id))
        }
        try db.execute("""
            UPDATE jobs SET
                tasks_succeeded = (SELECT count(*) FROM (SELECT DISTINCT stage, task FROM attempt_states s
                                                         WHERE s.job_id = jobs.job_id AND s.state = 'succeeded')),
                tasks_failed = CASE WHEN state = 'failed' THEN 1 ELSE 0 END
            """)
    }
}
