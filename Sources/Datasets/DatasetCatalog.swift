import Foundation
import SQLite

/// A named dataset: files that many queries and pipelines share, with the
/// schema they are read with and the partitions they fall into.
public struct Dataset: Sendable, Equatable, Codable {
    public var name: String
    /// The path or glob it was registered from.
    public var location: String
    /// "csv", "json" or "sluice".
    public var format: String
    /// Hive-style `key=value/` directory columns it is declared partitioned by.
    public var partitionColumns: [String]
    public var columns: [Column]
    /// Every file, as listed when it was registered or last written.
    public var files: [File]
    /// Rows, when known (a write counts them; a registration does not read every row).
    public var rowCount: Int64?
    public var createdMs: Int64
    public var updatedMs: Int64
    /// The query that last wrote it; empty for a registration.
    public var lastQuery: String

    public struct Column: Sendable, Equatable, Codable {
        public var name: String
        public var type: String
        public init(name: String, type: String) { self.name = name; self.type = type }
    }

    public struct File: Sendable, Equatable, Codable {
        public var path: String
        public var size: Int64
        /// Its `key=value` directories, outermost first.
        public var partition: [[String]]
        public init(path: String, size: Int64, partition: [[String]]) { self.path = path; self.size = size; self.partition = partition }
    }

    public init(name: String, location: String, format: String, partitionColumns: [String], columns: [Column], files: [File],
                rowCount: Int64?, createdMs: Int64, updatedMs: Int64, lastQuery: String) {
        self.name = name
        self.location = location
        self.format = format
        self.partitionColumns = partitionColumns
        self.columns = columns
        self.files = files
        self.rowCount = rowCount
        self.createdMs = createdMs
        self.updatedMs = updatedMs
        self.lastQuery = lastQuery
    }

    public var sizeBytes: Int64 { files.reduce(0) { $0 + $1.size } }

    /// The partitions (`date=2026-11-01/kind=click`), each with its files and bytes, in order.
    public var partitions: [(values: String, files: Int, bytes: Int64)] {
        var out: [(values: String, files: Int, bytes: Int64)] = []
        var index: [String: Int] = [:]
        for f in files {
            let key = f.partition.filter { partitionColumns.contains($0[0]) }.map { "\($0[0])=\($0[1])" }.joined(separator: "/")
            if let i = index[key] { out[i].files += 1; out[i].bytes += f.size } else { index[key] = out.count; out.append((key, 1, f.size)) }
        }
        return out.sorted { $0.values < $1.values }
    }
}

public struct CatalogError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The coordinator's catalog of datasets, in SQLite: `catalog.db` in its data
/// dir, a file of its own beside the journal so that `sluice query --local
/// --catalog DIR` reads it without touching the journal, and so the journal's
/// retention never competes with it. Schema-versioned like the journal
/// (`PRAGMA user_version`). One connection, used under a lock: catalog calls
/// are few and short.
public final class DatasetCatalog: @unchecked Sendable {
    public let path: String
    private let db: Database
    private let lock = NSLock()
    static let schemaVersion: Int64 = 3

    static let version1 = """
        CREATE TABLE datasets (
            name TEXT PRIMARY KEY COLLATE NOCASE, location TEXT NOT NULL, format TEXT NOT NULL,
            partition_columns TEXT NOT NULL, columns TEXT NOT NULL, row_count INTEGER,
            created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, last_query TEXT NOT NULL DEFAULT '');
        CREATE TABLE dataset_files (
            dataset TEXT NOT NULL COLLATE NOCASE, path TEXT NOT NULL, size INTEGER NOT NULL, partition TEXT NOT NULL,
            PRIMARY KEY (dataset, path)) WITHOUT ROWID;
        """

    /// Version 2: the staging directories of writes in progress.
    static let version2 = """
        CREATE TABLE staging (directory TEXT PRIMARY KEY, started_ms INTEGER NOT NULL) WITHOUT ROWID;
        """

    /// Version 3: files a write replaced, deleted once readers that listed them are done (kept across restarts).
    static let version3 = """
        CREATE TABLE retired (path TEXT PRIMARY KEY, due_ms INTEGER NOT NULL) WITHOUT ROWID;
        """

    /// The catalog in `dir` (its file is `catalog.db`); read-only opens an existing one without changing it.
    public init(dir: String, readOnly: Bool = false) throws {
        path = dir + "/catalog.db"
        if readOnly, !FileManager.default.fileExists(atPath: path) {
            throw CatalogError("no catalog in \(dir) (expected \(path), which a coordinator with --data-dir \(dir) keeps)")
        }
        do {
            db = try Database(path: path, readOnly: readOnly)
            try Self.prepare(db, path: path, readOnly: readOnly)
        } catch let e as CatalogError {
            throw e
        } catch {
            throw CatalogError("cannot open the catalog \(path): \(error)")
        }
    }

    private static func prepare(_ db: Database, path: String, readOnly: Bool) throws {
        let version = try db.userVersion()
        if version > schemaVersion {
            throw CatalogError("the catalog \(path) has schema version \(version), newer than this sluice's \(schemaVersion): run a newer sluice")
        }
        if version < schemaVersion {
            guard !readOnly else { throw CatalogError("the catalog \(path) has an older schema (version \(version)); start its coordinator once to upgrade it") }
            try db.execute("PRAGMA journal_mode=WAL")
            try db.transaction {
                if version < 1 { try db.execute(version1) }
                if version < 2 { try db.execute(version2) }
                if version < 3 { try db.execute(version3) }
                try db.setUserVersion(schemaVersion)
            }
        }
    }

    /// Adds or replaces a dataset, with its file list, in one transaction; in
    /// the same one, `retiring` files (no longer listed) are recorded for
    /// deletion at `dueMs` (`sweepRetired`).
    public func put(_ d: Dataset, retiring: [String] = [], dueMs: Int64 = 0) throws {
        try locked {
            let encoder = JSONEncoder()
            try db.transaction {
                let retire = try db.statement("INSERT OR REPLACE INTO retired(path, due_ms) VALUES(?, ?)")
                for path in retiring { try retire.run(.text(path), .integer(dueMs)) }
                try db.statement("DELETE FROM dataset_files WHERE dataset = ?").run(.text(d.name))
                try db.statement("""
                    INSERT OR REPLACE INTO datasets(name, location, format, partition_columns, columns, row_count, created_ms, updated_ms, last_query)
                    VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).run(.text(d.name), .text(d.location), .text(d.format),
                             .text(String(decoding: try encoder.encode(d.partitionColumns), as: UTF8.self)),
                             .text(String(decoding: try encoder.encode(d.columns), as: UTF8.self)),
                             d.rowCount.map { .integer($0) } ?? .null, .integer(d.createdMs), .integer(d.updatedMs), .text(d.lastQuery))
                let insert = try db.statement("INSERT INTO dataset_files(dataset, path, size, partition) VALUES(?, ?, ?, ?)")
                for f in d.files {
                    try insert.run(.text(d.name), .text(f.path), .integer(f.size), .text(String(decoding: try encoder.encode(f.partition), as: UTF8.self)))
                }
            }
        }
    }

    public func get(_ name: String) throws -> Dataset? {
        try locked { try read(name: name).first }
    }

    /// Every dataset, by name.
    public func list() throws -> [Dataset] {
        try locked { try read(name: nil) }
    }

    public var names: [String] { (try? locked { () throws -> [String] in
        var out: [String] = []
        try db.statement("SELECT name FROM datasets ORDER BY name").query { out.append($0.text(0)) }
        return out
    }) ?? [] }

    /// Removes a dataset from the catalog; what it was, or nil when there was none.
    public func remove(_ name: String) throws -> Dataset? {
        try locked {
            guard let d = try read(name: name).first else { return nil }
            try db.transaction {
                try db.statement("DELETE FROM dataset_files WHERE dataset = ?").run(.text(name))
                try db.statement("DELETE FROM datasets WHERE name = ?").run(.text(name))
            }
            return d
        }
    }

    /// Deletes the retired files due by `nowMs` (and their version directories
    /// once empty); the files deleted, and when the next one is due, if any is.
    public func sweepRetired(nowMs: Int64) throws -> (deleted: [String], next: Int64?) {
        try locked {
            var due: [String] = []
            try db.statement("SELECT path FROM retired WHERE due_ms <= ?").query(.integer(nowMs)) { due.append($0.text(0)) }
            let listed = try db.statement("SELECT 1 FROM dataset_files WHERE path = ? LIMIT 1")
            let forget = try db.statement("DELETE FROM retired WHERE path = ?")
            for path in due {
                // A file listed again (a dataset registered over it) stays.
                var inUse = false
                try listed.query(.text(path)) { _ in inUse = true }
                if !inUse {
                    try? FileManager.default.removeItem(atPath: path)
                    let dir = (path as NSString).deletingLastPathComponent
                    if (try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty == true { try? FileManager.default.removeItem(atPath: dir) }
                }
                try forget.run(.text(path))
            }
            var next: Int64?
            try db.statement("SELECT min(due_ms) FROM retired").query { row in if !row.isNull(0) { next = row.int(0) } }
            return (due, next)
        }
    }

    /// A write's staging directory, recorded before anything is written there.
    public func openStaging(_ directory: String, nowMs: Int64) throws {
        try locked { try db.statement("INSERT OR REPLACE INTO staging(directory, started_ms) VALUES(?, ?)").run(.text(directory), .integer(nowMs)) }
    }

    public func closeStaging(_ directory: String) throws {
        try locked { try db.statement("DELETE FROM staging WHERE directory = ?").run(.text(directory)) }
    }

    /// Removes what writes in progress left behind (their process was killed);
    /// the directories removed. A staging directory always goes; a dataset's
    /// new version directory (recorded before the rename that makes it) goes
    /// unless the catalog took its files before the kill.
    public func sweepStaging() throws -> [String] {
        try locked {
            var dirs: [String] = []
            try db.statement("SELECT directory FROM staging").query { dirs.append($0.text(0)) }
            var removed: [String] = []
            let published = try db.statement("SELECT 1 FROM dataset_files WHERE substr(path, 1, ?) = ? LIMIT 1")
            for d in dirs {
                if !d.contains(".sluice-staging-") {
                    var taken = false
                    try published.query(.integer(Int64(d.utf8.count + 1)), .text(d + "/")) { _ in taken = true }
                    if taken { continue }
                }
                if FileManager.default.fileExists(atPath: d) { try? FileManager.default.removeItem(atPath: d) }
                removed.append(d)
            }
            try db.execute("DELETE FROM staging")
            return removed
        }
    }

    private func read(name: String?) throws -> [Dataset] {
        let decoder = JSONDecoder()
        var out: [Dataset] = []
        let sql = "SELECT name, location, format, partition_columns, columns, row_count, created_ms, updated_ms, last_query FROM datasets"
            + (name == nil ? " ORDER BY name" : " WHERE name = ?")
        try db.statement(sql).query(name.map { [.text($0)] } ?? []) { r in
            out.append(Dataset(
                name: r.text(0), location: r.text(1), format: r.text(2),
                partitionColumns: try decoder.decode([String].self, from: Data(r.text(3).utf8)),
                columns: try decoder.decode([Dataset.Column].self, from: Data(r.text(4).utf8)),
                files: [], rowCount: r.isNull(5) ? nil : r.int(5), createdMs: r.int(6), updatedMs: r.int(7), lastQuery: r.text(8)))
        }
        let files = try db.statement("SELECT path, size, partition FROM dataset_files WHERE dataset = ? ORDER BY path")
        for i in out.indices {
            try files.query(.text(out[i].name)) { r in
                out[i].files.append(Dataset.File(path: r.text(0), size: r.int(1), partition: try decoder.decode([[String]].self, from: Data(r.text(2).utf8))))
            }
        }
        return out
    }

    private func locked<R>(_ body: () throws -> R) throws -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
