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
    public init(_ catalog: DatasetCatalog, warehouse: String = "") {
        self.catalog = catalog
        self.warehouse = warehouse
    }

    public var names: [String] { catalog.names }

    public func table(_ name: String, for session: Session) throws(SQLError) -> TableSource? {
        let found: Dataset?
        do { found = try catalog.get(name) } catch { throw SQLError.execution("the catalog cannot be read: \(error)") }
        guard let d = found else { return nil }
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

/// CREATE TABLE AS and INSERT INTO on the cluster: new datasets under the
/// warehouse, each write a version directory of its own, taken into the
/// catalog in one transaction.
extension CatalogTables: DatasetWriter {
    public func versionDirectory(for name: String) throws(SQLError) -> String {
        guard DatasetRegistration.isName(name) else {
            throw SQLError.binder("a dataset name is letters, digits and underscores, starting with a letter or underscore; \"\(name)\" is not", .unknown)
        }
        guard !warehouse.isEmpty else { throw SQLError.execution("this session writes no datasets (no warehouse)") }
        let existing = (try? catalog.get(name)) ?? nil
        let base = existing.map { $0.location.hasPrefix(warehouse + "/") ? $0.location : warehouse + "/" + name.lowercased() } ?? warehouse + "/" + name.lowercased()
        var token = ""
        for _ in 0..<4 { token += String(format: "%02x", UInt8.random(in: 0...255)) }
        return base + "/v\(Int64(Date().timeIntervalSince1970 * 1000))-\(token)"
    }

    public func shape(of name: String) throws(SQLError) -> DatasetShape? {
        let found: Dataset?
        do { found = try catalog.get(name) } catch { throw SQLError.execution("the catalog cannot be read: \(error)") }
        guard let d = found else { return nil }
        return DatasetShape(columns: d.columns.map { Field($0.name, DataType.parse($0.type) ?? .varchar) }, partitionColumns: d.partitionColumns,
                            location: d.location, format: d.format)
    }

    /// How long files a write replaced stay on disk for the queries that listed them before the switch.
    public static let replacedFilesGrace: DispatchTimeInterval = .seconds(60)

    public func drop(_ name: String) throws(SQLError) -> Bool {
        let gone: Dataset?
        do { gone = try catalog.remove(name) } catch { throw SQLError.execution("the catalog cannot drop \(name): \(error)") }
        guard let gone else { return false }
        if !warehouse.isEmpty, gone.location.hasPrefix(warehouse + "/") { try? FileManager.default.removeItem(atPath: gone.location) }
        return true
    }

    public func publish(_ name: String, columns: [Field], files: [(path: String, rows: Int, bytes: Int)], mode: DatasetWriteMode, by query: String) throws(SQLError) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let rows = Int64(files.reduce(0) { $0 + $1.rows })
        let written = files.map { Dataset.File(path: $0.path, size: Int64($0.bytes), partition: []) }
        do {
            let old = try catalog.get(name)
            var d = Dataset(name: old?.name ?? name, location: warehouse + "/" + name.lowercased(), format: "sluice", partitionColumns: [],
                            columns: columns.map { Dataset.Column(name: $0.name, type: $0.type.description) }, files: written,
                            rowCount: rows, createdMs: old?.createdMs ?? now, updatedMs: now, lastQuery: query)
            switch mode {
            case .create:
                guard old == nil else { throw SQLError.binder("dataset \"\(name)\" already exists", .unknown) }
            case .replace:
                break
            case .append:
                guard let old else { throw SQLError.binder("dataset \"\(name)\" does not exist", .unknown) }
                d = old
                d.files += written
                d.rowCount = old.rowCount.map { $0 + rows }
                d.updatedMs = now
                d.lastQuery = query
            case .overwritePartition(let pairs):
                guard let old else { throw SQLError.binder("dataset \"\(name)\" does not exist", .unknown) }
                func inPartition(_ f: Dataset.File) -> Bool {
                    pairs.allSatisfy { p in f.partition.contains { $0[0].lowercased() == p[0].lowercased() && $0[1] == p[1] } }
                }
                let replaced = old.files.filter(inPartition)
                d = old
                d.files = old.files.filter { !inPartition($0) } + written.map { var f = $0; f.partition = pairs; return f }
                d.rowCount = nil   // the replaced files' rows are not known
                d.updatedMs = now
                d.lastQuery = query
                try catalog.put(d)
                // Queries that listed the old files before the switch may still be reading them.
                let location = old.location
                DispatchQueue.global().asyncAfter(deadline: .now() + Self.replacedFilesGrace) {
                    for f in replaced where f.path.hasPrefix(location + "/") { try? FileManager.default.removeItem(atPath: f.path) }
                }
                return
            }
            try catalog.put(d)
            if mode == .replace, let old {
                // The old version's files, now unlisted (a query still reading them fails, asking to run again).
                let kept = Set(written.map(\.path))
                for f in old.files where !kept.contains(f.path) && !warehouse.isEmpty && f.path.hasPrefix(warehouse + "/") { try? FileManager.default.removeItem(atPath: f.path) }
            }
        } catch let e as SQLError {
            throw e
        } catch {
            throw SQLError.execution("the catalog cannot take the write: \(error)")
        }
    }
}
