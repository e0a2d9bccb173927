import Columnar
import Foundation
import SQL

/// Sluice's own file format: a sequence of encoded batch blocks (see BatchCodec).
struct SluiceFormat: FileFormat {

    func reader(for file: DataFile, schema: Schema, columns: [Int], range: FileRange?, scratch: ReadScratch) throws(SQLError) -> BatchReader {
        try SluiceReader(file: file, schema: schema, columns: columns, range: range?.bytes)
    }

    /// Where each block of a file starts (and, last, where the file ends),
    /// read from the block headers alone.
    static func blockStarts(_ file: DataFile) throws(SQLError) -> [Int] {
        var starts: [Int] = []
        var at = 0
        while at < file.size {
            starts.append(at)
            let header = try ByteSource.read(file.path, range: at..<min(file.size, at + BatchCodec.headerSize))
            do { at += try BatchCodec.blockSize(header: header) }
            catch { throw SQLError.execution("Sluice file \"\(file.path)\" at byte \(at): \(error)") }
        }
        starts.append(max(at, file.size))
        return starts
    }

    static func open(_ files: [DataFile], label: String) throws(SQLError) -> FileTable {
        let bytes = try ByteSource.readAll(files[0].path)
        var offset = 0
        let first: RecordBatch
        do { first = try BatchCodec.decode(bytes, offset: &offset) }
        catch { throw SQLError.execution("Sluice file \"\(files[0].path)\": \(error)") }
        let perRow = Double(offset) / Double(max(1, first.rowCount))
        return FileTable(files: files, format: .sluice, dataSchema: first.schema, bytesPerRow: perRow, label: label)
    }
}

/// Reads the blocks of a Sluice file, or of a range of it that starts and ends at blocks.
final class SluiceReader: BatchReader {
    let file: DataFile, schema: Schema, columns: [Int]
    private let bytes: [UInt8]
    private var offset = 0
    let rowsRejected = 0
    var bytesRead: Int { offset }

    init(file: DataFile, schema: Schema, columns: [Int], range: Range<Int>? = nil) throws(SQLError) {
        self.file = file; self.schema = schema; self.columns = columns
        if let range { bytes = try ByteSource.read(file.path, range: range) } else { bytes = try ByteSource.readAll(file.path) }
    }

    func next() throws(SQLError) -> RecordBatch? {
        guard offset < bytes.count else { return nil }
        let b: RecordBatch
        do { b = try BatchCodec.decode(bytes, offset: &offset) }
        catch { throw SQLError.execution("Sluice file \"\(file.path)\": \(error)") }
        guard b.schema.fields.map(\.type) == schema.fields.map(\.type) else {
            throw SQLError.execution("Sluice file \"\(file.path)\" has columns \(b.schema.fields.map { "\($0.name) \($0.type)" }) but the table has \(schema.fields.map { "\($0.name) \($0.type)" })")
        }
        return RecordBatch(schema: Schema(columns.map { schema.fields[$0] }), columns: columns.map { b.columns[$0] }, rowCount: b.rowCount)
    }
}
