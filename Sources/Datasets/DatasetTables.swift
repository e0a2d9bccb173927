import Execution
import Foundation
import SQL

/// The catalog as the engine sees it: a dataset's name reads its listed files
/// (no directory walk; partition filters prune that list) with its stored
/// schema (no inference).
public final class CatalogTables: DatasetLookup {
    public let catalog: DatasetCatalog
    public init(_ catalog: DatasetCatalog) { self.catalog = catalog }

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
