import Columnar
import Foundation
import SQL

/// Reads one file's rows as batches of the requested columns (positions in the
/// format's data schema). One reader per file per thread.
protocol BatchReader: AnyObject {
    func next() throws(SQLError) -> RecordBatch?
    var bytesRead: Int { get }
    /// Rows dropped by an on_error policy.
    var rowsRejected: Int { get }
}

/// A file format's reader factory: CSV, JSON Lines, Sluice batches (Parquet
/// will be another). Made from a `FileFormatSpec` when a query runs.
protocol FileFormat: Sendable {
    /// A reader of `file`, or of one range of it when it is split (`FileSplit`
    /// says which rows that is). `scratch` is memory the partition's readers
    /// reuse, one after another.
    func reader(for file: DataFile, schema: Schema, columns: [Int], range: FileRange?, scratch: ReadScratch) throws(SQLError) -> BatchReader
}

/// Buffers one partition's readers pass on to each other (a morsel's reader
/// is made and dropped per range), so each range does not allocate them anew.
final class ReadScratch {
    var fields: FieldTable?
}

extension FileFormatSpec {
    /// The reader factory for this format; rejected rows go to `quarantines`' writer for their path.
    func format(quarantines: QuarantineSet) -> FileFormat {
        switch self {
        case .csv(let d): return CSVFormat(dialect: d, quarantine: quarantines.writer(for: d.onError))
        case .json(let policy): return JSONFormat(onError: policy, quarantine: quarantines.writer(for: policy))
        case .sluice: return SluiceFormat()
        }
    }
}

/// A table made of files: the data columns every file has, then partition
/// columns. The logical planner's view of a file set; `scanSpec` is what runs.
final class FileTable: TableSource, @unchecked Sendable {
    let files: [DataFile]
    let format: FileFormatSpec
    let dataSchema: Schema
    let schema: Schema
    let partitionColumns: [String]
    let estimatedRows: Double
    let displayName: String
    /// The values of a data column in a sample of the first file (as hashes of
    /// their text), computed only when the planner asks for a distinct estimate.
    var sampleColumn: (@Sendable (Int) -> [UInt64])?
    private let distinctCache = Locked<[Int: Double]>([:])

    init(files: [DataFile], format: FileFormatSpec, dataSchema: Schema, bytesPerRow: Double, label: String) {
        self.files = files
        self.format = format
        self.dataSchema = dataSchema
        let keys = files.first?.partitions.map(\.key) ?? []
        partitionColumns = keys
        var fields = dataSchema.fields
        for k in keys where dataSchema.index(of: k) == nil {
            // Partition values are typed by what they all parse as (NULL's directory name does not vote).
            let values = files.compactMap { f in f.partitions.first { $0.key == k }?.value }.filter { $0 != HiveDirectory.nullValue }
            fields.append(Field(k, Inference.commonType(values)))
        }
        schema = Schema(fields)
        let total = files.reduce(0) { $0 + $1.size }
        estimatedRows = max(1, Double(total) / max(1, bytesPerRow))
        displayName = "\(format.name) \(label)" + (files.count == 1 ? "" : " (\(files.count) files)")
    }

    /// The scan of these columns (positions in `schema`) with these filters (over them).
    func scanSpec(fields: [Int], filters: [BoundExpr]) -> ScanSpec {
        ScanSpec(format: format, files: files, dataSchema: dataSchema, partitionFields: Array(schema.fields[dataSchema.count...]),
                 fields: fields, filters: filters, label: displayName)
    }

    /// Chao1's estimate from the sample: d + f1² / (2 f2), with f1 and f2 the
    /// values seen once and twice; a column never repeated scales with the table.
    func estimatedDistinct(field: Int) -> Double? {
        if let d = distinctCache.withLock({ $0[field] }) { return d }
        guard field < dataSchema.count, let values = sampleColumn?(field), !values.isEmpty else { return nil }
        var counts: [UInt64: Int] = [:]
        for v in values { counts[v, default: 0] += 1 }
        let d = Double(counts.count), n = Double(values.count)
        let f1 = Double(counts.values.filter { $0 == 1 }.count), f2 = Double(counts.values.filter { $0 == 2 }.count)
        let estimate = f2 > 0 ? d + f1 * f1 / (2 * f2) : (f1 == d ? estimatedRows * d / n : d)
        let capped = min(estimatedRows, max(1, estimate))
        distinctCache.withLock { $0[field] = capped }
        return capped
    }
}

/// A session table held in memory (CREATE TABLE, INSERT). Its batches are
/// replaced, never changed in place, so a plan holds a consistent snapshot.
final class MemoryTable: TableSource, @unchecked Sendable {
    let schema: Schema
    private let stored: Locked<[RecordBatch]>
    let partitionColumns: [String] = []
    let name: String
    init(name: String, schema: Schema, batches: [RecordBatch] = []) {
        self.name = name
        self.schema = schema
        stored = Locked(batches)
    }
    var batches: [RecordBatch] { stored.withLock { $0 } }
    func append(_ more: [RecordBatch]) { stored.withLock { $0 += more } }
    /// All its rows at once (UPDATE, DELETE).
    func replace(_ rows: [RecordBatch]) { stored.withLock { $0 = rows } }
    var estimatedRows: Double { Double(max(1, batches.reduce(0) { $0 + $1.rowCount })) }
    func estimatedDistinct(field: Int) -> Double? { nil }
    var displayName: String { "table \(name)" }
}

/// A value behind a lock, for the little state threads share.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
