import Datasets
import Execution
import Foundation
import Logging
import SQL
import Wire

/// `sluice catalog ...` on the coordinator: the commands run one at a time on
/// a queue of their own (registering reads files, which the loop must never
/// wait on), and each answer goes back through the loop to be sealed and sent.
final class CatalogService: Sendable {
    let catalog: DatasetCatalog
    let tables: CatalogTables
    private let fileRoots: [String]
    private let queue = DispatchQueue(label: "sluice-catalog")
    private let logger: Logger

    init(dataDir: String, warehouse: String, replacedFilesGraceMs: Int64, fileRoots: [String], logger: Logger) throws {
        catalog = try DatasetCatalog(dir: dataDir)
        tables = CatalogTables(catalog, warehouse: warehouse, replacedFilesGraceMs: replacedFilesGraceMs)
        self.fileRoots = fileRoots
        self.logger = logger
        for d in try catalog.sweepStaging() {
            logger.warning("removed the staging of a write a killed coordinator left", metadata: ["directory": "\(d)"])
        }
        // Files replaced before a restart are still due for deletion.
        tables.sweepRetired()
    }

    /// Records a write's staging directory, or forgets it once it is gone.
    func staging(_ directory: String, open: Bool) {
        do {
            if open { try catalog.openStaging(directory, nowMs: Date().unixMilliseconds) } else { try catalog.closeStaging(directory) }
        } catch {
            logger.error("cannot record a write's staging", metadata: ["directory": "\(directory)", "error": "\(error)"])
        }
    }

    typealias Answer = Result<CatalogReply, CatalogFailure>

    struct CatalogFailure: Error {
        let code: ErrorCode
        let message: String
    }

    func handle(_ m: CatalogRequest, from sender: String, answer: @escaping @Sendable (Answer) -> Void) {
        queue.async { answer(self.run(m, from: sender)) }
    }

    private func run(_ m: CatalogRequest, from sender: String) -> Answer {
        do {
            switch m.action {
            case .listDatasets:
                return .success(CatalogReply(datasets: try catalog.list().map { Self.info($0, partitions: false) }))
            case .showDataset:
                guard let d = try catalog.get(m.name) else { return .failure(unknown(m.name)) }
                return .success(CatalogReply(datasets: [Self.info(d, partitions: true)]))
            case .registerDataset:
                let session = Session()
                session.fileRoots = fileRoots
                var d = try DatasetRegistration.inspect(name: m.name, path: m.path, format: m.format, partitionedBy: m.partitionedBy,
                                                        schema: m.schema, session: session, nowMs: Date().unixMilliseconds)
                if let old = try catalog.get(m.name) { d.createdMs = old.createdMs }
                try catalog.put(d)
                logger.info("dataset registered", metadata: ["dataset": "\(d.name)", "files": "\(d.files.count)", "by": "\(sender)"])
                return .success(CatalogReply(datasets: [Self.info(d, partitions: true)]))
            case .dropDataset:
                guard let d = try tables.remove(m.name, purge: m.purge) else { return .failure(unknown(m.name)) }
                logger.info("dataset dropped", metadata: ["dataset": "\(d.name)", "purged": "\(m.purge)", "by": "\(sender)"])
                return .success(CatalogReply(datasets: [Self.info(d, partitions: true)]))
            case .unspecified:
                return .failure(CatalogFailure(code: .badRequest, message: "a catalog request needs an action"))
            }
        } catch let e as SQLError {
            return .failure(CatalogFailure(code: .badRequest, message: e.message))
        } catch {
            return .failure(CatalogFailure(code: .internal, message: "the catalog failed: \(error)"))
        }
    }

    private func unknown(_ name: String) -> CatalogFailure {
        let hint = catalog.names.isEmpty ? " (the catalog is empty)" : ""
        return CatalogFailure(code: .notFound, message: "no dataset \"\(name)\" in the catalog\(hint)")
    }

    static func info(_ d: Dataset, partitions: Bool) -> DatasetInfo {
        DatasetInfo(name: d.name, location: d.location, format: d.format, partitionColumns: d.partitionColumns,
                    columns: d.columns.map { DatasetColumn(name: $0.name, type: $0.type) }, sizeBytes: UInt64(max(0, d.sizeBytes)),
                    rowCount: d.rowCount ?? -1, createdMs: d.createdMs, updatedMs: d.updatedMs, lastQuery: d.lastQuery,
                    partitions: partitions ? d.partitions.map { DatasetPartition(values: $0.values, files: UInt32(clamping: $0.files), bytes: UInt64(max(0, $0.bytes))) } : [],
                    files: UInt32(clamping: d.files.count))
    }
}
