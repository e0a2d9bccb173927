import Crypto
import Foundation
import Pipelines
import SQLite

/// What the coordinator keeps of pipelines, in `pipelines.db` beside the
/// catalog: every version of every pipeline file it was given (by content
/// hash, so a run names exactly the file it ran), and the pipeline machine's
/// events in order. Replaying the events through a fresh machine rebuilds
/// runs, backfills and schedules after a restart.
final class PipelineStore {
    let path: String
    private let db: Database

    static let schema = """
        CREATE TABLE IF NOT EXISTS versions (hash TEXT PRIMARY KEY, name TEXT NOT NULL, file_name TEXT NOT NULL,
                                             text TEXT NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, event TEXT NOT NULL);
        """

    init(dir: String) throws {
        path = dir + "/pipelines.db"
        db = try Database(path: path)
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute(Self.schema)
    }

    /// Stores a file's text under its hash (again is a no-op); the hash.
    func putVersion(name: String, fileName: String, text: String, nowMs: Int64) throws -> String {
        let hash = Self.hash(text)
        try db.statement("INSERT OR IGNORE INTO versions(hash, name, file_name, text, created_ms) VALUES(?, ?, ?, ?, ?)")
            .run(.text(hash), .text(name), .text(fileName), .text(text), .integer(nowMs))
        return hash
    }

    func version(_ hash: String) throws -> (fileName: String, text: String)? {
        var out: (String, String)?
        try db.statement("SELECT file_name, text FROM versions WHERE hash = ?").query(.text(hash)) { out = ($0.text(0), $0.text(1)) }
        return out
    }

    func append(_ event: PipelineEvent) throws {
        let json = String(decoding: try JSONEncoder().encode(event), as: UTF8.self)
        try db.statement("INSERT INTO events(event) VALUES(?)").run(.text(json))
    }

    /// Every event in the order it happened. One that does not decode is a
    /// damaged journal: an error, never a silently different state.
    func events() throws -> [PipelineEvent] {
        var out: [PipelineEvent] = []
        var failure: (Int64, Error)?
        try db.statement("SELECT seq, event FROM events ORDER BY seq").query { row in
            guard failure == nil else { return }
            do { out.append(try JSONDecoder().decode(PipelineEvent.self, from: Data(row.text(1).utf8))) } catch { failure = (row.int(0), error) }
        }
        if let (seq, e) = failure { throw PipelineStoreError("event \(seq) in \(path) is unreadable (\(e)); the pipeline journal is damaged") }
        return out
    }

    /// A short content hash: the first 12 hex digits of SHA-256.
    static func hash(_ text: String) -> String {
        SHA256.hash(data: Array(text.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
    }
}

struct PipelineStoreError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
