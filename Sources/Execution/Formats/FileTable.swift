import Columnar
import SQL

/// Reads one file's rows as batches of the requested columns (positions in the
/// format's data schema). One reader per file per thread.
protocol BatchReader: AnyObject {
    func next() throws(SQLError) -> RecordBatch?
    var bytesRead: Int { get }
    /// Rows dropped by an on_error policy.
    var rowsRejected: Int { get }
}

/// A file format: CSV, JSON Lines, Sluice batches (Parquet will be another).
protocol FileFormat: Sendable {
    var name: String { get }
    func reader(for file: DataFile, schema: Schema, columns: [Int]) throws(SQLError) -> BatchReader
}

/// A table made of files: the data columns every file has, then partition columns.
final class FileTable: TableSource, @unchecked Sendable {
    let files: [DataFile]
    let format: FileFormat
    let dataSchema: Schema
    let schema: Schema
    let partitionColumns: [String]
    let estimatedRows: Double
    let displayName: String
    /// The values of a data column in a sample of the first file (as hashes of
    /// their text), computed only when the planner asks for a distinct estimate.
    var sampleColumn: ((Int) -> [UInt64])?
    private var distinctCache: [Int: Double] = [:]

    init(files: [DataFile], format: FileFormat, dataSchema: Schema, bytesPerRow: Double, label: String) {
        self.files = files
        self.format = format
        self.dataSchema = dataSchema
        let keys = files.first?.partitions.map(\.0) ?? []
        partitionColumns = keys
        var fields = dataSchema.fields
        for k in keys where dataSchema.index(of: k) == nil {
            // Partition values are typed by what they all parse as.
            let values = files.compactMap { f in f.partitions.first { $0.0 == k }?.1 }
            fields.append(Field(k, Inference.commonType(values)))
        }
        schema = Schema(fields)
        let total = files.reduce(0) { $0 + $1.size }
        estimatedRows = max(1, Double(total) / max(1, bytesPerRow))
        displayName = "\(format.name) \(label)" + (files.count == 1 ? "" : " (\(files.count) files)")
    }

    /// Chao1's estimate from the sample: d + f1² / (2 f2), with f1 and f2 the
    /// values seen once and twice; a column never repeated scales with the table.
    func estimatedDistinct(field: Int) -> Double? {
        if let d = distinctCache[field] { return d }
        guard field < dataSchema.count, let values = sampleColumn?(field), !values.isEmpty else { return nil }
        var counts: [UInt64: Int] = [:]
        for v in values { counts[v, default: 0] += 1 }
        let d = Double(counts.count), n = Double(values.count)
        let f1 = Double(counts.values.filter { $0 == 1 }.count), f2 = Double(counts.values.filter { $0 == 2 }.count)
        let estimate = f2 > 0 ? d + f1 * f1 / (2 * f2) : (f1 == d ? estimatedRows * d / n : d)
        let capped = min(estimatedRows, max(1, estimate))
        distinctCache[field] = capped
        return capped
    }
}

/// A session table held in memory (CREATE TABLE, INSERT).
final class MemoryTable: TableSource, @unchecked Sendable {
    let schema: Schema
    var batches: [RecordBatch]
    let partitionColumns: [String] = []
    let name: String
    init(name: String, schema: Schema, batches: [RecordBatch] = []) { self.name = name; self.schema = schema; self.batches = batches }
    var estimatedRows: Double { Double(max(1, batches.reduce(0) { $0 + $1.rowCount })) }
    func estimatedDistinct(field: Int) -> Double? { nil }
    var displayName: String { "table \(name)" }
}
