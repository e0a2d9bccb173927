import Foundation
import SQLite

/// Every autoscaling decision with its reason, in `autoscale.db` beside the
/// journal: what `sluice autoscaler history` shows, and where a restarted
/// coordinator finds the time of the last change (so cooldowns hold).
final class AutoscaleJournal {
    private let db: Database

    struct Record: Sendable, Equatable {
        var atMs: Int64
        /// "up" or "down".
        var direction: String
        var count: Int
        var workers: [String]
        var desired: Int
        var actual: Int
        var reason: String
        /// False under --dry-run, or when the provider failed (`error`).
        var acted: Bool
        var error: String
    }

    init(dir: String) throws {
        db = try Database(path: dir + "/autoscale.db")
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("""
            CREATE TABLE IF NOT EXISTS decisions (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, direction TEXT NOT NULL, count INTEGER NOT NULL,
                workers TEXT NOT NULL, desired INTEGER NOT NULL, actual INTEGER NOT NULL, reason TEXT NOT NULL, acted INTEGER NOT NULL, error TEXT NOT NULL)
            """)
    }

    func append(_ r: Record) throws {
        try db.statement("INSERT INTO decisions(at_ms, direction, count, workers, desired, actual, reason, acted, error) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .run(.integer(r.atMs), .text(r.direction), .integer(Int64(r.count)), .text(r.workers.joined(separator: ",")), .integer(Int64(r.desired)),
                 .integer(Int64(r.actual)), .text(r.reason), .integer(r.acted ? 1 : 0), .text(r.error))
    }

    /// The newest `limit` decisions, newest first.
    func history(limit: Int) throws -> [Record] {
        var out: [Record] = []
        try db.statement("SELECT at_ms, direction, count, workers, desired, actual, reason, acted, error FROM decisions ORDER BY seq DESC LIMIT ?")
            .query(.integer(Int64(limit))) { row in
                out.append(Record(atMs: row.int(0), direction: row.text(1), count: Int(row.int(2)), workers: row.text(3).split(separator: ",").map(String.init),
                                  desired: Int(row.int(4)), actual: Int(row.int(5)), reason: row.text(6), acted: row.int(7) != 0, error: row.text(8)))
            }
        return out
    }

    /// When the pool last changed (an acted decision), for the cooldowns after a restart.
    func lastChangeMs() throws -> Int64? {
        var out: Int64?
        try db.statement("SELECT max(at_ms) FROM decisions WHERE acted = 1").query { row in out = row.isNull(0) ? nil : row.int(0) }
        return out
    }
}
