import SQLite
import Wire

/// The journal's tables, and the migration that brings an older journal to
/// them. The version lives in the SQLite header (`PRAGMA user_version`):
///
/// - 0 with tables: the layout of release 0.1.0 (jobs, attempts, attempt_ends).
/// - 2: job names and task counts on the job row (so a finished job is
///   listed without reading its attempts); leases clustered by job, stage
///   and task (a `WITHOUT ROWID` table: one B-tree written per lease, and a
///   job's tasks read as one range); each attempt end naming its task (so
///   the failed attempts of a job are found through a small partial index);
///   and the indexes that let restart read only unfinished jobs and
///   retention find expired ones, each without scanning history.
enum JournalSchema {
    static let current: Int64 = 2

    /// Release 0.1.0's tables, created first on a new journal so that one migration path serves both.
    static let version1 = """
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
        """

    /// From version 1 to 2, in one transaction.
    static let version2 = """
        ALTER TABLE jobs ADD COLUMN name TEXT NOT NULL DEFAULT '';
        ALTER TABLE jobs ADD COLUMN tasks_total INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN tasks_succeeded INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE jobs ADD COLUMN tasks_failed INTEGER NOT NULL DEFAULT 0;
        CREATE UNIQUE INDEX jobs_by_seq ON jobs(seq);
        CREATE INDEX jobs_unfinished ON jobs(seq) WHERE state = 'running';
        CREATE INDEX jobs_by_finish ON jobs(finished_ms) WHERE state <> 'running';

        ALTER TABLE attempt_ends ADD COLUMN job_seq INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE attempt_ends ADD COLUMN stage INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE attempt_ends ADD COLUMN task INTEGER NOT NULL DEFAULT 0;
        UPDATE attempt_ends SET (job_seq, stage, task) =
            (SELECT j.seq, a.stage, a.task FROM attempts a JOIN jobs j USING (job_id) WHERE a.attempt_id = attempt_ends.attempt_id);
        CREATE INDEX attempt_failures ON attempt_ends(job_seq, stage, task) WHERE state IN ('failed', 'timedOut');

        CREATE TABLE leases (
            job_seq INTEGER NOT NULL, stage INTEGER NOT NULL, task INTEGER NOT NULL, attempt_id INTEGER NOT NULL,
            number INTEGER NOT NULL, worker_id TEXT NOT NULL, incarnation INTEGER NOT NULL, leased_ms INTEGER NOT NULL,
            PRIMARY KEY (job_seq, stage, task, attempt_id)) WITHOUT ROWID;
        INSERT INTO leases SELECT j.seq, a.stage, a.task, a.attempt_id, a.number, a.worker_id, a.incarnation, a.leased_ms
            FROM attempts a JOIN jobs j USING (job_id);
        INSERT OR REPLACE INTO meta(key, value) SELECT 'attempt_high', coalesce(max(attempt_id), 0) FROM attempts;
        DROP VIEW IF EXISTS attempt_states;
        DROP TABLE attempts;

        CREATE VIEW attempt_states AS
            SELECT j.job_id, l.job_seq, l.stage, l.task, l.attempt_id, l.number, l.worker_id, l.incarnation, l.leased_ms,
                   coalesce(e.state, 'leased') AS state, coalesce(e.reason, '') AS reason,
                   coalesce(e.exit_code, 0) AS exit_code, e.output AS output,
                   coalesce(e.started_us, 0) AS started_us, coalesce(e.finished_us, 0) AS finished_us
            FROM leases l JOIN jobs j ON j.seq = l.job_seq LEFT JOIN attempt_ends e ON e.attempt_id = l.attempt_id;
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
            try db.execute(version1)
            try db.execute(version2)
            if existing { try fillJobColumns(db) }
            try db.setUserVersion(current)
        }
    }

    /// Names and task counts for the jobs a version 1 journal holds.
    private static func fillJobColumns(_ db: Database) throws {
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
                                                         WHERE s.job_seq = jobs.seq AND s.state = 'succeeded')),
                tasks_failed = CASE WHEN state = 'failed' THEN 1 ELSE 0 END
            """)
    }
}
