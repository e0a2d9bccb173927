import Columnar
import Foundation
import SQL

/// CSV with a resolved dialect (delimiter, header) and schema.
struct CSVFormat: FileFormat {
    let dialect: CSVDialect
    let quarantine: Quarantine?

    func reader(for file: DataFile, schema: Schema, columns: [Int], range: FileRange?, scratch: ReadScratch) throws(SQLError) -> BatchReader {
        try CSVReader(file: file, schema: schema, columns: columns, dialect: dialect, quarantine: quarantine, range: range, scratch: scratch)
    }

    /// Opens a CSV file set: detects the dialect and infers the schema from a sample of the first file.
    static func open(_ files: [DataFile], options: CSVOptions, label: String) throws(SQLError) -> FileTable {
        let first = files[0]
        // With the whole schema given, the sample only finds the dialect and the row size.
        let given = options.columns
        let sampleBytes = 1 << 20
        let sample = try ByteSource.readAll(first.path, limit: sampleBytes)
        let complete = sample.count < sampleBytes
        guard !sample.isEmpty else {
            if let cols = options.columns {
                let d = options.dialect(delimiter: options.delimiter ?? 44, header: options.header ?? false)
                return FileTable(files: files, format: .csv(d), dataSchema: Schema(cols.map { Field($0.0, $0.1) }), bytesPerRow: 100, label: label)
            }
            throw SQLError.execution("CSV Error: file \"\(first.path)\" is empty, so its columns cannot be detected; give them with columns={...}")
        }
        let delimiter = options.delimiter ?? detectDelimiter(sample, options, complete)
        let scanner = CSVScanner(delimiter: delimiter, quote: options.quote, escape: options.escape)
        var rows: [[String]] = []
        var pos = 0
        var fields: [FieldRef] = []
        var sampledBytes = 0
        // With the schema given, only the first rows are looked at here (header,
        // width); the rest of the sample is read lazily for distinct estimates.
        let rowLimit = given == nil ? options.sampleRows + 1 : 2
        sample.withUnsafeBytes { p in
            while rows.count < rowLimit, pos < p.count {
                switch scanner.scan(p, from: pos, atEOF: complete, into: &fields) {
                case .row(let end, _, _, _):
                    if !(fields.count == 1 && fields[0].start == fields[0].end) {
                        rows.append(fields.map { f in
                            let b = UnsafeRawBufferPointer(rebasing: p[f.start..<f.end])
                            return f.escaped ? String(decoding: CSVReader.unescape(b, options.quote, options.escape), as: UTF8.self) : String(decoding: b, as: UTF8.self)
                        })
                    }
                    sampledBytes = end
                    pos = end
                case .malformed(_, let end, _): pos = end
                case .incomplete: pos = p.count
                }
            }
        }
        guard let firstRow = rows.first else { throw SQLError.execution("CSV Error: no rows in \"\(first.path)\"") }
        var width = firstRow.count
        // A trailing delimiter on every line (TPC-H's .tbl files) is not a column.
        if width > 1, rows.allSatisfy({ $0.last == "" && $0.count == width }) { width -= 1; rows = rows.map { Array($0.dropLast()) } }
        let body = rows.dropFirst().filter { $0.count == width }
        var types: [DataType] = given?.map(\.1) ?? (0..<width).map { c in Inference.commonType(body.lazy.map { $0[c] }) }
        let header: Bool
        if let h = options.header { header = h }
        else if let given { header = given.count == width && zip(given, firstRow).allSatisfy { $0.0.0.lowercased() == $0.1.lowercased() } }
        else if body.isEmpty { header = firstRow.allSatisfy { !$0.isEmpty && Double($0) == nil } }
        else {
            let clash = (0..<width).contains { c in types[c] != .varchar && !firstRow[c].isEmpty && !Inference.fits(firstRow[c], types[c]) }
            header = clash || (types.allSatisfy { $0 == .varchar } && Set(firstRow).count == width && firstRow.allSatisfy { !$0.isEmpty && Double($0) == nil }
                               && !body.contains { $0 == firstRow })
        }
        if !header, given == nil {
            types = (0..<width).map { c in Inference.commonType(rows.lazy.filter { $0.count == width }.map { $0[c] }) }
        }
        var names: [String] = header ? Array(firstRow.prefix(width)) : (0..<width).map { "column\($0)" }
        var seen: [String: Int] = [:]
        for i in names.indices {
            if names[i].isEmpty { names[i] = "column\(i)" }
            let key = names[i].lowercased()
            if let k = seen[key] { names[i] += "_\(k)"; seen[key] = k + 1 } else { seen[key] = 1 }
        }
        if let cols = options.columns {
            guard cols.count == width else {
                throw SQLError.execution("CSV Error: columns={...} names \(cols.count) columns but \"\(first.path)\" has \(width)")
            }
            names = cols.map(\.0); types = cols.map(\.1)
        }
        for (name, t) in options.types {
            guard let i = names.firstIndex(where: { $0.lowercased() == name.lowercased() }) else {
                let hint = nearestName(to: name, among: names).map { "; did you mean \"\($0)\"?" } ?? ""
                throw SQLError.binder("types={...} names column \"\(name)\", which \"\(first.path)\" does not have\(hint)", .unknown)
            }
            types[i] = t
        }
        let schema = Schema(zip(names, types).map { Field($0, $1) })
        let sampledRows = given == nil ? rows.count : max(1, sample.reduce(0) { $1 == 10 ? $0 + 1 : $0 })
        if given != nil { sampledBytes = sample.count }
        let bytesPerRow = Double(max(1, sampledBytes)) / Double(max(1, sampledRows))
        let table = FileTable(files: files, format: .csv(options.dialect(delimiter: delimiter, header: header)), dataSchema: schema,
                              bytesPerRow: bytesPerRow, label: label)
        let skipHeader = header
        let rowWidth = width
        table.sampleColumn = { field in
            var out: [UInt64] = []
            let t = FieldTable()
            var pos = 0, first = true
            sample.withUnsafeBytes { p in
                while pos < p.count, out.count < options.sampleRows {
                    t.removeAll()
                    guard case .row(let end, _, _, _) = scanner.scan(p, from: pos, atEOF: complete, into: t) else { break }
                    pos = end
                    if first && skipHeader { first = false; continue }
                    first = false
                    guard t.count == rowWidth || t.count == rowWidth + 1 else { continue }
                    out.append(Hashing.hash(bytes: UnsafeRawBufferPointer(rebasing: p[t.starts[field]..<t.ends[field]])))
                }
            }
            return out
        }
        return table
    }

    /// The candidate that splits the first lines into the same number (> 1) of fields most often.
    static func detectDelimiter(_ sample: [UInt8], _ o: CSVOptions, _ complete: Bool) -> UInt8 {
        var best: (UInt8, Int, Int) = (44, 0, 0)   // delimiter, consistent lines, fields
        for d in [UInt8(ascii: ","), UInt8(ascii: "|"), UInt8(ascii: ";"), 9] {
            let s = CSVScanner(delimiter: d, quote: o.quote, escape: o.escape)
            var counts: [Int: Int] = [:]
            var pos = 0, lines = 0
            var fields: [FieldRef] = []
            sample.withUnsafeBytes { p in
                while lines < 50, pos < p.count {
                    guard case .row(let end, _, _, _) = s.scan(p, from: pos, atEOF: complete, into: &fields) else { break }
                    counts[fields.count, default: 0] += 1
                    pos = end; lines += 1
                }
            }
            guard let (width, n) = counts.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }), width > 1 else { continue }
            if n > best.1 || (n == best.1 && width > best.2) { best = (d, n, width) }
        }
        return best.0
    }
}
