import Columnar
import Foundation
import SQL

/// Reads one CSV file, or one byte range of it, into batches of the
/// requested columns, applying the error policy.
final class CSVReader: BatchReader {
    let file: DataFile
    let schema: Schema
    let columns: [Int]
    let dialect: CSVDialect
    let quarantine: Quarantine?
    let scanner: CSVScanner
    private var source: ByteSource
    private var buffer: [UInt8] = []
    /// The file offset of `buffer[0]`.
    private var base = 0
    private var pos = 0
    private var eof = false
    /// Line of the next row, counted from the reader's first row (1); see `lineNumber`.
    private var line = 1
    private var headerPending: Bool
    private let table: FieldTable
    private var lines: [Int] = []      // line number of each row of the batch
    private var bounds: [Int] = []     // start, end of each row of the batch
    private let maxBatchRows = 16_384
    private(set) var rowsRejected = 0
    private var bytesBefore = 0
    var bytesRead: Int { bytesBefore + source.bytesRead }

    /// Set when reading one range of a split file.
    private let range: FileRange?
    /// A second read of an earlier range, looking for its first error: it hands nothing on.
    private let recheck: Bool
    private var started = false
    /// No row starts in the range, or a row starting after its end was reached.
    private var rangeDone = false
    private var firstRow = 0
    private var hasRows = true
    private var reported = false
    private var lineOffset: Int?

    init(file: DataFile, schema: Schema, columns: [Int], dialect: CSVDialect, quarantine: Quarantine?,
         range: FileRange? = nil, recheck: Bool = false, scratch: ReadScratch = ReadScratch()) throws(SQLError) {
        self.file = file; self.schema = schema; self.columns = columns; self.dialect = dialect; self.quarantine = quarantine
        self.range = range
        self.recheck = recheck
        scanner = CSVScanner(delimiter: dialect.delimiter, quote: dialect.quote, escape: dialect.escape)
        // A range is read whole up front; what follows it is only the rest of its last row.
        source = try ByteSource(path: file.path, offset: range?.bytes.upperBound ?? 0, chunkSize: range == nil ? 1 << 20 : 64 << 10)
        table = scratch.fields ?? FieldTable()
        table.removeAll()
        scratch.fields = table
        headerPending = dialect.header && (range?.bytes.lowerBound ?? 0) == 0
        if range == nil { started = true; lineOffset = 0 }
    }

    /// Reads the rows that are whole in the buffer in two passes: find every
    /// field's bounds, then parse one column at a time in a tight loop per type.
    func next() throws(SQLError) -> RecordBatch? {
        do {
            if !started { try startRange() }
            while true {
                if let b = try parseBatch() { return b }
                if rangeDone || (pos >= dataCount && eof) {
                    if let range, !recheck, hasRows, !reported {
                        reported = true
                        try range.split.finished(range.part, end: base + pos)
                    }
                    return nil
                }
            }
        } catch {
            // Failing on a bad row, the error must be the first in the file, as
            // one reader would find it: earlier ranges still being read are read here too.
            if let range, !recheck, case .fail = dialect.onError, let earlier = try earlierFailure(range) { throw earlier }
            throw error
        }
    }

    /// Finds where the range's first row starts, from the quoting state the
    /// range before handed on, and hands on the state at the range's end.
    private func startRange() throws(SQLError) {
        guard let range else { return }
        started = true
        let b = range.bytes.lowerBound, e = range.bytes.upperBound
        let state = try range.split.state(before: range.part)
        let from = max(0, b - 1)
        buffer = try ByteSource.read(file.path, range: from..<e)
        bytesBefore = buffer.count
        base = from
        let (end, first) = buffer.withUnsafeBytes { p in
            scanner.follow(p, from: b - from, to: p.count, state: state, previous: b == 0 ? 10 : p[0])
        }
        let row = b == 0 ? 0 : first.map { $0 + from }
        if !recheck { range.split.handOn(range.part, state: end, firstRow: row) }
        guard let row else {
            hasRows = false
            rangeDone = true
            eof = true
            pos = buffer.count
            return
        }
        firstRow = row
        pos = row - from
        if e >= file.size { eof = true }
    }

    /// The file line of a row `relative` lines after the reader's first row.
    private func lineNumber(_ relative: Int) throws(SQLError) -> Int {
        if lineOffset == nil, let range { lineOffset = try range.split.line(at: firstRow, in: range.part) - 1 }
        return relative + (lineOffset ?? 0)
    }

    /// The first error of an unfinished range before this one, if any.
    private func earlierFailure(_ range: FileRange) throws(SQLError) -> SQLError? {
        range.split.firstFailure(before: range.part) { (r) throws(SQLError) in
            let again = try CSVReader(file: file, schema: schema, columns: columns, dialect: dialect, quarantine: nil, range: r, recheck: true)
            while try again.next() != nil {}
        }
    }

    private func parseBatch() throws(SQLError) -> RecordBatch? {
        let width = schema.count
        // Fields past the last column read are counted, not recorded.
        let keep = min(width, (columns.max() ?? 0) + 1)
        table.removeAll()
        lines.removeAll(keepingCapacity: true)
        bounds.removeAll(keepingCapacity: true)
        var rows = 0
        var stop: (line: Int, reason: String, text: String)? = nil
        // Pass 1: field bounds of whole rows in the buffer.
        scanning: while rows < maxBatchRows {
            if let range, base + pos > range.bytes.upperBound { rangeDone = true; break }
            if pos >= dataCount {
                if eof { break }
                if rows > 0 { break }
                compact()
                if !(try source.read(into: &buffer)) { eof = true }
                continue
            }
            let before = table.count
            let outcome = withData { scanner.scan($0, from: pos, atEOF: eof, into: table, keep: keep) }
            switch outcome {
            case .incomplete:
                table.removeLast(table.count - before)
                if rows > 0 { break scanning }   // parse what we have; the row continues in the next read
                compact()
                if !(try source.read(into: &buffer)) { eof = true }
            case .malformed(let why, let end, let newlines):
                table.removeLast(table.count - before)
                let rowLine = line
                line += newlines
                let text = rowText(pos, end)
                pos = end
                if case .fail = dialect.onError { stop = (rowLine, why, text); break scanning }
                try reject(rowLine, why, text)
            case .row(let end, let newlines, let fields, let lastEmpty):
                let rowLine = line
                let start = pos
                line += newlines
                pos = end
                let stored = table.count - before
                if headerPending { headerPending = false; table.removeLast(stored); continue }
                if fields == 1, lastEmpty { table.removeLast(stored); continue }   // a blank line
                // A trailing delimiter (TPC-H .tbl files) does not make a field.
                let count = fields == width + 1 && lastEmpty ? width : fields
                guard count == width else {
                    table.removeLast(stored)
                    let why = "expected \(width) fields but found \(count)"
                    if case .fail = dialect.onError { stop = (rowLine, why, rowText(start, end)); break scanning }
                    try reject(rowLine, why, rowText(start, end))
                    continue
                }
                if stored > keep { table.removeLast(stored - keep) }   // the byte-at-a-time scanner records them all
                lines.append(rowLine)
                bounds.append(start); bounds.append(end)
                rows += 1
            }
        }
        // Pass 2: one column at a time.
        var columns: [Column] = []
        var bad: [Int: String] = [:]
        withData { p in
            for (slot, f) in self.columns.enumerated() {
                columns.append(parseColumn(field: f, slot: slot, rows: rows, width: keep, p, &bad))
            }
        }
        var good: [Int32]? = nil
        if !bad.isEmpty {
            let order = bad.keys.sorted()
            if case .fail = dialect.onError {
                let r = order[0]
                throw try failure(lines[r], bad[r]!)
            }
            for r in order { try reject(lines[r], bad[r]!, rowText(bounds[2 * r], bounds[2 * r + 1])) }
            good = (0..<rows).filter { bad[$0] == nil }.map { Int32($0) }
        }
        if let stop { throw try failure(stop.line, stop.reason) }
        if rows == 0 { return nil }
        let out = Schema(self.columns.map { schema.fields[$0] })
        let batch = RecordBatch(schema: out, columns: columns, rowCount: rows)
        return good.map { batch.gather($0) } ?? batch
    }

    /// Column `f` of the batch's rows; `width` fields of each row are in the table.
    private func parseColumn(field f: Int, slot: Int, rows: Int, width: Int, _ p: UnsafeRawBufferPointer, _ bad: inout [Int: String]) -> Column {
        let type = schema.fields[f].type
        var validity: Bitmap? = nil
        @inline(__always) func null(_ r: Int) {
            if validity == nil { validity = Bitmap(count: rows, allSet: true) }
            validity![r] = false
        }
        let nullBytes = Array(dialect.nullString.utf8)
        let starts = table.starts, ends = table.ends, flags = table.flags
        @inline(__always) func field(_ r: Int) -> (UnsafeRawBufferPointer, UInt8)? {
            let k = r * width + f
            let s = Int(starts[k]), e = Int(ends[k]), fl = flags[k]
            // Empty fields are NULL, quoted or not (DuckDB's allow_quoted_nulls).
            if s == e { return nil }
            let b = UnsafeRawBufferPointer(rebasing: p[s..<e])
            if fl == 0, !nullBytes.isEmpty, b.elementsEqual(nullBytes) { return nil }
            return (b, fl)
        }
        func fail(_ r: Int, _ b: UnsafeRawBufferPointer) {
            if bad[r] == nil { bad[r] = "could not convert '\(String(decoding: b, as: UTF8.self))' to \(type) in column \"\(schema.fields[f].name)\"" }
        }
        func fixed<T>(_ zero: T, _ parse: (UnsafeRawBufferPointer) -> T?) -> [T] {
            [T](uninitializedCount: rows) { out, n in
                for r in 0..<rows {
                    guard let (b, _) = field(r) else { out[r] = zero; null(r); continue }
                    if let v = parse(b) { out[r] = v } else { out[r] = zero; null(r); fail(r, b) }
                }
                n = rows
            }
        }
        let data: ColumnData
        switch type {
        case .varchar:
            var strings = StringArrayBuilder()
            strings.offsets.reserveCapacity(rows + 1)
            for r in 0..<rows {
                guard let (b, fl) = field(r) else { strings.appendEmpty(); null(r); continue }
                if fl & 2 != 0 { strings.append(utf8: CSVReader.unescape(b, scanner.quote, scanner.escape)) } else { strings.append(raw: b) }
            }
            data = .string(strings.finish())
        case .integer:
            data = .int32(fixed(0) { b in CSVReader.parseInt(b).flatMap { Int32(exactly: $0) } })
        case .bigint:
            data = .int64(fixed(0) { CSVReader.parseInt($0) })
        case .tinyint, .smallint, .utinyint, .usmallint, .uinteger, .hugeint, .ubigint:
            // The narrow and unsigned types, checked against their range (rare in files: no fast path).
            let range = type.integerRange ?? 0...0
            func parse(_ b: UnsafeRawBufferPointer) -> Int128? {
                Int128(String(decoding: b, as: UTF8.self).trimmingCharacters(in: .whitespaces)).flatMap { range.contains($0) ? $0 : nil }
            }
            switch type.physical {
            case .int32: data = .int32(fixed(0) { parse($0).map { Int32($0) } })
            case .int64: data = .int64(fixed(0) { parse($0).map { Int64($0) } })
            default: data = .int128(fixed(0) { parse($0) })
            }
        case .decimal(let precision, let scale) where precision <= 18:
            let limit = Int64(Decimal128.maxUnscaled(precision: precision))
            data = .int64(fixed(0) { b in Decimal128.parse64(utf8: b, scale: scale).flatMap { abs($0) <= limit ? $0 : nil } })
        case .decimal(let precision, let scale):
            let limit = Decimal128.maxUnscaled(precision: precision)
            data = .int128(fixed(0) { b in Decimal128.parse(utf8: b, scale: scale).flatMap { $0.magnitude <= limit.magnitude ? $0 : nil } })
        case .date:
            data = .int32(fixed(0) { Dates.parseDate(utf8: $0) })
        case .double:
            data = .double(fixed(0) { CSVReader.parseDouble($0) })
        case .timestamp:
            data = .int64(fixed(0) { Dates.parseTimestamp(String(decoding: $0, as: UTF8.self)) })
        case .boolean:
            data = .bool(fixed(false) { b in
                if case .bool(let v)? = Cast.parse(String(decoding: b, as: UTF8.self), as: .boolean) { return v }
                return nil
            })
        case .interval:
            data = .interval(fixed(Interval()) { b in
                if case .interval(let v)? = Cast.parse(String(decoding: b, as: UTF8.self), as: .interval) { return v }
                return nil
            })
        case .null:
            data = .bool([Bool](repeating: false, count: rows))
            validity = Bitmap(count: rows, allSet: false)
        }
        return Column(type: type, data: data, validity: validity)
    }

    private func failure(_ line: Int, _ why: String) throws(SQLError) -> SQLError {
        .execution("CSV Error in file \"\(file.path)\" on line \(try lineNumber(line)): \(why). Use on_error='skip' or on_error='quarantine' to load the other rows")
    }

    /// Drops the bytes already parsed from the buffer.
    private func compact() {
        guard pos > 0 else { return }
        buffer.removeFirst(pos)
        base += pos
        pos = 0
    }

    /// The bytes being parsed: the buffer of read chunks.
    @inline(__always) private func withData<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        buffer.withUnsafeBytes(body)
    }
    private var dataCount: Int { buffer.count }

    private func rowText(_ s: Int, _ e: Int) -> String {
        var t = withData { String(decoding: $0[s..<min(e, $0.count)], as: UTF8.self) }
        while t.hasSuffix("\n") || t.hasSuffix("\r") { t.removeLast() }
        return t
    }

    private func reject(_ line: Int, _ why: String, _ text: String) throws(SQLError) {
        switch dialect.onError {
        case .fail:
            throw try failure(line, why)
        case .skip: rowsRejected += 1
        case .quarantine:
            rowsRejected += 1
            try quarantine?.write(file: file.path, line: try lineNumber(line), reason: why, text: text)
        }
    }

    @inline(__always) static func parseInt(_ b: UnsafeRawBufferPointer) -> Int64? {
        var i = 0, n = b.count
        while i < n, b[i] == 32 { i += 1 }
        while n > i, b[n - 1] == 32 { n -= 1 }
        guard i < n else { return nil }
        var neg = false
        if b[i] == 45 { neg = true; i += 1 } else if b[i] == 43 { i += 1 }
        guard i < n else { return nil }
        // Accumulated as a negative number, whose range reaches Int64.min.
        var v: Int64 = 0
        while i < n {
            let d = b[i] &- 48
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.subtractingReportingOverflow(Int64(d))
            if o1 || o2 { return nil }
            v = a; i += 1
        }
        if neg { return v }
        return v == .min ? nil : -v
    }

    static func parseDouble(_ b: UnsafeRawBufferPointer) -> Double? {
        guard b.count > 0, b.count < 64 else { return b.count == 0 ? nil : Double(String(decoding: b, as: UTF8.self)) }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 65) { tmp -> Double? in
            for i in 0..<b.count { tmp[i] = CChar(bitPattern: b[i]) }
            tmp[b.count] = 0
            var end: UnsafeMutablePointer<CChar>? = nil
            let v = strtod(tmp.baseAddress!, &end)
            guard let end else { return nil }
            var consumed = end - tmp.baseAddress!
            while consumed < b.count, b[consumed] == 32 { consumed += 1 }
            return consumed == b.count && b.contains(where: { $0 >= 48 && $0 <= 57 }) ? v : nil
        }
    }

    static func unescape(_ b: UnsafeRawBufferPointer, _ quote: UInt8, _ escape: UInt8) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if b[i] == escape, i + 1 < b.count, b[i + 1] == quote || b[i + 1] == escape { out.append(b[i + 1]); i += 2; continue }
            out.append(b[i]); i += 1
        }
        return out
    }
}
