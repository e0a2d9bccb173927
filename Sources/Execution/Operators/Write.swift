import Columnar
import Foundation
import SQL

/// A `write` node: takes its whole input (one partition's rows), writes it
/// into files under the write's directory, and returns a row per file
/// written (path relative to the directory, rows, bytes). Files are named
/// with `tag` (the task, attempt and partition that wrote them), so two
/// attempts of one task never write the same file: the coordinator keeps the
/// committed attempt's and deletes the rest. The directory itself must exist:
/// a late attempt whose query already published (or gave up) writes nothing.
final class WriteOperator: Operator {
    let schema = WriteSpec.summarySchema
    let stats = OperatorStats()
    let morsel = -1
    private let input: Operator
    private let spec: WriteSpec
    private let tag: String
    private let context: RunContext
    private var done = false

    init(_ input: Operator, spec: WriteSpec, tag: String, context: RunContext) {
        self.input = input
        self.spec = spec
        self.tag = tag
        self.context = context
    }

    func close() { input.close() }

    func next() throws(SQLError) -> RecordBatch? {
        try stats.measure { () throws(SQLError) -> RecordBatch? in
            guard !done else { return nil }
            done = true
            var batches: [RecordBatch] = []
            while let b = try input.next() {
                try context.check()
                if b.rowCount > 0 { batches.append(b) }
            }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: spec.directory, isDirectory: &isDir), isDir.boolValue else {
                throw SQLError.execution("the write's directory \(spec.directory) is gone (its query ended)")
            }
            guard let delimiter = spec.delimiter.first else { throw SQLError.execution("Invalid plan: a write without a delimiter") }
            let ext = spec.format == "jsonl" ? "jsonl" : spec.format
            let written: [ResultWriter.Written]
            if !spec.fileName.isEmpty {
                written = try ResultWriter.write(batches, schema: input.schema, to: spec.directory + "/" + spec.fileName, format: spec.format,
                                                 partitionBy: [], header: spec.header, delimiter: delimiter)
                    .map { ResultWriter.Written(path: spec.fileName, rows: $0.rows, bytes: $0.bytes) }
            } else if spec.partitionBy.isEmpty {
                let name = "data_\(tag).\(ext)"
                written = batches.isEmpty ? [] : try ResultWriter.write(batches, schema: input.schema, to: spec.directory + "/" + name, format: spec.format,
                                                                        partitionBy: [], header: spec.header, delimiter: delimiter)
                    .map { ResultWriter.Written(path: name, rows: $0.rows, bytes: $0.bytes) }
            } else {
                written = try ResultWriter.write(batches, schema: input.schema, to: spec.directory, format: spec.format,
                                                 partitionBy: spec.partitionBy, header: spec.header, delimiter: delimiter, leaf: "data_\(tag)")
            }
            var files = ColumnBuilder(type: .varchar), rows = ColumnBuilder(type: .bigint), bytes = ColumnBuilder(type: .bigint)
            for w in written {
                files.append(string: w.path)
                rows.append(int64: Int64(w.rows))
                bytes.append(int64: Int64(w.bytes))
            }
            return RecordBatch(schema: schema, columns: [files.finish(), rows.finish(), bytes.finish()], rowCount: written.count)
        }
    }
}
