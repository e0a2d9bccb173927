import Columnar
import Execution
import Foundation
import SQL

/// The catalog as the engine sees it: a dataset's name reads its listed files
/// (no directory walk; partition filters prune that list) with its stored
/// schema (no inference).
public final class CatalogTables: DatasetLookup {
    public let catalog: DatasetCatalog
    /// Where new datasets go (CREATE TABLE AS); empty where nothing is written.
    public let warehouse: String
    /// How long files a write replaced stay on disk: queries that listed them before the switch may still be reading.
    public let replacedFilesGraceMs: Int64
    /// Publishing reads a dataset's file list and writes it back: two writes
    /// of one dataset at once (a backfill's partitions) must not interleave,
    /// or one's files would be lost.
    let publishing = NSLock()
    public init(_ catalog: DatasetCatalog, warehouse: String = "", replacedFilesGraceMs: Int64 = 60_000) {
        self.catalog = catalog
        self.warehouse = warehouse
        self.replacedFilesGraceMs = replacedFilesGraceMs
    }

    public var names: [String] { catalog.names }

    public func table(_ name: String, for session: Session) throws(SQLError) -> TableSource? {
        guard let d = try dataset(name) else { return nil }
        return try Self.table(d, session: session)
    }

    /// A dataset read as a table. A file gone or changed in size since the
    /// catalog listed it is an error that says to register the dataset again:
    /// reading what is there instead could silently answer from other data.
    public static func table(_ d: Dataset, session: Session) throws(SQLError) -> TableSource {
        var files: [DataFile] = []
        for f in d.files {
            let size = (try? FileManager.default.attributesOfItem(atPath: f.path)[.size] as? Int) ?? nil
            guard let size else {
                throw SQLError.execution("dataset \"\(d.name)\" lists \(f.path), which is gone; register it again (sluice catalog register \(d.name) ...) if its files changed")
            }
            guard size == f.size else {
                throw SQLError.execution("dataset \"\(d.name)\": \(f.path) is \(size) bytes, not the \(f.size) the catalog lists; register it again (sluice catalog register \(d.name) ...) if its files changed")
            }
            files.append(DataFile(path: f.path, size: size, partitions: f.partition.map { DataFile.Partition($0[0], $0[1]) }))
        }
        return try session.open(files, format: d.format, options: options(d), label: d.name)
    }

    /// The stored schema, as the reader's options (partition columns come from the directories).
    static func options(_ d: Dataset) -> [String: OptionValue] {
        guard d.format != "sluice" else { return [:] }
        let data = d.columns.filter { !d.partitionColumns.contains($0.name) && !isDirectoryColumn($0.name, d) }
        return ["columns": .map(data.map { ($0.name, $0.type) })]
    }

    static func isDirectoryColumn(_ name: String, _ d: Dataset) -> Bool {
        d.files.first?.partition.contains { $0[0] == name } ?? false
    }
}

/// CREATE TABLE AS, INSERT INTO and INSERT OVERWRITE on the cluster: each
/// write a version directory of its own (new datasets under the warehouse),
/// taken into the catalog in one transaction.
extension CatalogTables: DatasetWriter {
    public func versionDirectory(for name: String, partition: [[String]]) throws(SQLError) -> String {
        guard partition.isEmpty else {
            guard let d = try dataset(name) else { throw SQLError.binder("there is no dataset \"\(name)\"", .unknown) }
            guard !d.location.contains("*"), !d.location.contains("?"), !d.location.contains("[") else {
                throw SQLError.unsupported("INSERT OVERWRITE of a dataset registered from a glob (\(d.location)); register it from its directory", .unknown)
            }
            return d.location + "/" + HiveDirectory.path(partition) + "/" + WriteNames.version()
        }
        guard DatasetRegistration.isName(name) else {
            throw SQLError.binder("a dataset name is letters, digits and underscores, starting with a letter or underscore; \"\(name)\" is not", .unknown)
        }
        guard !warehouse.isEmpty else { throw SQLError.execution("this session writes no datasets (no warehouse)") }
        return warehouseLocation(name) + "/" + WriteNames.version()
    }

    public func shape(of name: String) throws(SQLError) -> DatasetShape? {
        guard let d = try dataset(name) else { return nil }
        return DatasetShape(columns: d.columns.map { Field($0.name, DataType.parse($0.type) ?? .varchar) }, partitionColumns: d.partitionColumns,
                            location: d.location, format: d.format)
    }

    /// DROP TABLE: a dataset the warehouse holds goes with its files; a registered one leaves them.
    public func drop(_ name: String) throws(SQLError) -> Bool {
        do { return try remove(name, purge: false) != nil } catch { throw SQLError.execution("the catalog cannot drop \(name): \(error)") }
    }

    /// Removes a dataset from the catalog: what it was, or nil when there was
    /// none. Its files are deleted with `purge`, and always when the warehouse
    /// holds them (its version directories too).
    public func remove(_ name: String, purge: Bool) throws -> Dataset? {
        guard let gone = try catalog.remove(name) else { return nil }
        if inWarehouse(gone.location) {
            try? FileManager.default.removeItem(atPath: gone.location)
        } else if purge {
            for f in gone.files { try? FileManager.default.removeItem(atPath: f.path) }
        }
        return gone
    }

    /// A new, empty dataset in the warehouse, partitioned by `partitionColumns`
    /// (the last of `columns`), for `INSERT OVERWRITE ... PARTITION` to fill: a
    /// pipeline's first run of an output creates it. False when one by that name exists.
    public func createPartitioned(_ name: String, columns: [Field], partitionColumns: [String], format: String, by query: String) throws(SQLError) -> Bool {
        guard DatasetRegistration.isName(name) else {
            throw SQLError.binder("a dataset name is letters, digits and underscores, starting with a letter or underscore; \"\(name)\" is not", .unknown)
        }
        guard !warehouse.isEmpty else { throw SQLError.execution("this session writes no datasets (no warehouse)") }
        publishing.lock()
        defer { publishing.unlock() }
        do {
            guard try catalog.get(name) == nil else { return false }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            try catalog.put(Dataset(name: name, location: warehouseLocation(name), format: format, partitionColumns: partitionColumns,
                                    columns: columns.map { Dataset.Column(name: $0.name, type: $0.type.description) }, files: [],
                                    rowCount: 0, createdMs: now, updatedMs: now, lastQuery: query))
            return true
        } catch let e as SQLError {
            throw e
        } catch {
            throw SQLError.execution("the catalog cannot create \(name): \(error)")
        }
    }

    public func publish(_ name: String, columns: [Field], files: [(path: String, rows: Int, bytes: Int)], mode: DatasetWriteMode, by query: String) throws(SQLError) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let rows = Int64(files.reduce(0) { $0 + $1.rows })
        var written = files.map { Dataset.File(path: $0.path, size: Int64($0.bytes), partition: []) }
        publishing.lock()
        defer { publishing.unlock() }
        do {
            let old = try catalog.get(name)
            var d: Dataset
            var replaced: [Dataset.File] = []
            switch mode {
            case .create, .replace:
                if mode == .create, old != nil { throw SQLError.binder("dataset \"\(name)\" already exists", .unknown) }
                d = Dataset(name: old?.name ?? name, location: warehouseLocation(name), format: "sluice", partitionColumns: [],
                            columns: columns.map { Dataset.Column(name: $0.name, type: $0.type.description) }, files: written,
                            rowCount: rows, createdMs: old?.createdMs ?? now, updatedMs: now, lastQuery: query)
                replaced = (old?.files ?? []).filter { inWarehouse($0.path) }
            case .append, .overwritePartition:
                guard let old else { throw SQLError.binder("dataset \"\(name)\" does not exist", .unknown) }
                d = old
                if case .overwritePartition(let pairs) = mode {
                    func inPartition(_ f: Dataset.File) -> Bool {
                        pairs.allSatisfy { p in f.partition.contains { $0[0].lowercased() == p[0].lowercased() && $0[1] == p[1] } }
                    }
                    replaced = old.files.filter(inPartition)
                    d.files.removeAll(where: inPartition)
                    for i in written.indices { written[i].partition = pairs }
                    d.rowCount = nil   // the replaced files' rows are not known
                } else {
                    d.rowCount = old.rowCount.map { $0 + rows }
                }
                d.files += written
                d.updatedMs = now
                d.lastQuery = query
            }
            // The replaced files are recorded for deletion in the same transaction, so a restart does not forget them.
            let doomed = replaced.map(\.path).filter { $0.hasPrefix(d.location + "/") }
            try catalog.put(d, retiring: doomed, dueMs: now + replacedFilesGraceMs)
            if !doomed.isEmpty { sweepRetired(after: replacedFilesGraceMs) }
        } catch let e as SQLError {
            throw e
        } catch {
            throw SQLError.execution("the catalog cannot take the write: \(error)")
        }
    }

    /// Deletes the files writes replaced once their grace has passed
    /// (`DatasetCatalog.sweepRetired`), checking again `afterMs` from now and
    /// then as long as some are waiting. The coordinator calls it at start too.
    public func sweepRetired(after afterMs: Int64 = 0) {
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(clamping: max(0, afterMs)))) { [catalog] in
            guard let (_, next) = try? catalog.sweepRetired(nowMs: Int64(Date().timeIntervalSince1970 * 1000)), let next else { return }
            self.sweepRetired(after: max(100, next - Int64(Date().timeIntervalSince1970 * 1000)))
        }
    }

    private func dataset(_ name: String) throws(SQLError) -> Dataset? {
        do { return try catalog.get(name) } catch { throw SQLError.execution("the catalog cannot be read: \(error)") }
    }

    private func warehouseLocation(_ name: String) -> String { warehouse + "/" + name.lowercased() }
    private func inWarehouse(_ path: String) -> Bool { !warehouse.isEmpty && path.hasPrefix(warehouse + "/") }
}
