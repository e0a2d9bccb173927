import Columnar
import Foundation
import SQL

/// One field of a row: bytes [start, end) of the buffer.
struct FieldRef {
    var start: Int
    var end: Int
    var quoted: Bool
    var escaped: Bool
}

/// Splits CSV text into rows and fields per RFC 4180 (quotes, doubled quotes,
/// newlines inside quotes, CRLF).
struct CSVScanner {
    let delimiter: UInt8
    let quote: UInt8
    let escape: UInt8

    enum Outcome { case row(end: Int, newlines: Int), incomplete, malformed(String, end: Int, newlines: Int) }

    /// Scans the row starting at `start`; `atEOF` says no more bytes will come.
    @inline(__always)
    func scan(_ p: UnsafeRawBufferPointer, from start: Int, atEOF: Bool, into fields: inout [FieldRef]) -> Outcome {
        fields.removeAll(keepingCapacity: true)
        let n = p.count
        var i = start
        var newlines = 0
        while true {
            let fs = i
            if i < n, p[i] == quote {
                i += 1
                var escaped = false
                while true {
                    if i >= n {
                        if atEOF { return .malformed("unterminated quoted field", end: n, newlines: newlines) }
                        return .incomplete
                    }
                    let c = p[i]
                    if c == escape, escape != quote, i + 1 < n, p[i + 1] == quote || p[i + 1] == escape { escaped = true; i += 2; continue }
                    if c == quote {
                        if escape == quote, i + 1 < n, p[i + 1] == quote { escaped = true; i += 2; continue }
                        if i + 1 >= n, !atEOF { return .incomplete }
                        break
                    }
                    if c == 10 { newlines += 1 }
                    i += 1
                }
                fields.append(FieldRef(start: fs + 1, end: i, quoted: true, escaped: escaped))
                i += 1
                if i < n, p[i] == 13 { i += 1 }
                if i < n, p[i] != delimiter, p[i] != 10 {
                    var e = i
                    while e < n, p[e] != 10 { e += 1 }
                    return .malformed("unexpected character after a closing quote", end: min(n, e + 1), newlines: newlines + 1)
                }
            } else {
                while i < n {
                    let c = p[i]
                    if c == delimiter || c == 10 { break }
                    i += 1
                }
                var e = i
                if i < n || atEOF {
                    if e > fs, p[e - 1] == 13, i >= n || p[i] == 10 { e -= 1 }
                }
                fields.append(FieldRef(start: fs, end: e, quoted: false, escaped: false))
            }
            if i >= n {
                if atEOF { return .row(end: n, newlines: newlines) }
                return .incomplete
            }
            if p[i] == delimiter { i += 1; continue }
            return .row(end: i + 1, newlines: newlines + 1)   // p[i] is '\n'
        }
    }
}

/// Reads one CSV file into batches of the requested columns, applying the error policy.
final class CSVReader: BatchReader {
    let file: DataFile
    let schema: Schema
    let columns: [Int]
    let options: CSVOptions
    let quarantine: Quarantine?
    let scanner: CSVScanner
    private let source: ByteSource
    private var buffer: [UInt8] = []
    private var pos = 0
    private var eof = false
    private var line = 1
    private var headerPending: Bool
    private var fields: [FieldRef] = []
    private var target: [Int]        // field -> output slot, -1 if not read
    private(set) var rowsRejected = 0
    var bytesRead: Int { source.bytesRead }

    init(file: DataFile, schema: Schema, columns: [Int], options: CSVOptions, delimiter: UInt8, header: Bool, quarantine: Quarantine?) throws(SQLError) {
        self.file = file; self.schema = schema; self.columns = columns; self.options = options; self.quarantine = quarantine
        scanner = CSVScanner(delimiter: delimiter, quote: options.quote, escape: options.escape)
        source = try ByteSource(path: file.path)
        headerPending = header
        target = [Int](repeating: -1, count: schema.count)
        for (slot, c) in columns.enumerated() { target[c] = slot }
    }

    func next() throws(SQLError) -> RecordBatch? {
        var builders = columns.map { ColumnBuilder(type: schema.fields[$0].type, capacity: targetBatchRows) }
        var rows = 0
        var staged = [Staged](repeating: .null, count: columns.count)
        let width = schema.count
        let nullBytes = Array(options.nullString.utf8)
        while rows < targetBatchRows {
            if pos >= buffer.count && eof { break }
            var outcome: CSVScanner.Outcome = .incomplete
            if pos < buffer.count {
                outcome = buffer.withUnsafeBytes { scanner.scan($0, from: pos, atEOF: eof, into: &fields) }
            }
            switch outcome {
            case .incomplete:
                if eof { pos = buffer.count; continue }
                // Keep the unfinished row, read more.
                if pos > 0 { buffer.removeFirst(pos); pos = 0 }
                if !(try source.read(into: &buffer)) { eof = true }
                continue
            case .malformed(let why, let end, let newlines):
                let rowLine = line
                line += newlines
                let text = rowText(pos, end)
                pos = end
                try reject(rowLine, why, text)
                continue
            case .row(let end, let newlines):
                let rowLine = line
                let start = pos
                line += newlines
                pos = end
                if headerPending { headerPending = false; continue }
                if fields.count == 1, fields[0].start == fields[0].end, !fields[0].quoted { continue }   // blank line
                var count = fields.count
                if count == width + 1, let last = fields.last, last.start == last.end, !last.quoted { count = width }  // trailing delimiter
                guard count == width else {
                    try reject(rowLine, "expected \(width) fields but found \(fields.count)", rowText(start, end))
                    continue
                }
                var failure: String? = nil
                buffer.withUnsafeBytes { p in
                    for f in 0..<width where target[f] >= 0 {
                        let slot = target[f]
                        let fr = fields[f]
                        let bytes = UnsafeRawBufferPointer(rebasing: p[fr.start..<fr.end])
                        // Empty fields are NULL, quoted or not (DuckDB's allow_quoted_nulls).
                        if bytes.count == 0 || (!fr.quoted && nullBytes.count > 0 && bytes.elementsEqual(nullBytes)) {
                            staged[slot] = .null; continue
                        }
                        let t = schema.fields[f].type
                        if let v = CSVReader.parse(bytes, t, fr) { staged[slot] = v }
                        else {
                            failure = "could not convert '\(String(decoding: bytes, as: UTF8.self))' to \(t) in column \"\(schema.fields[f].name)\""
                            return
                        }
                    }
                }
                if let failure {
                    try reject(rowLine, failure, rowText(start, end))
                    continue
                }
                buffer.withUnsafeBytes { p in
                    for slot in 0..<columns.count {
                        switch staged[slot] {
                        case .null: builders[slot].appendNull()
                        case .int(let v):
                            if builders[slot].type.physical == .int32 { builders[slot].append(int32: Int32(truncatingIfNeeded: v)) }
                            else { builders[slot].append(int64: v) }
                        case .wide(let v): builders[slot].append(int128: v)
                        case .double(let v): builders[slot].append(double: v)
                        case .bool(let v): builders[slot].append(bool: v)
                        case .interval(let v): builders[slot].append(interval: v)
                        case .text(let s, let e, let escaped):
                            if escaped { builders[slot].append(utf8: CSVReader.unescape(UnsafeRawBufferPointer(rebasing: p[s..<e]), scanner.quote, scanner.escape)) }
                            else { builders[slot].append(utf8: UnsafeRawBufferPointer(rebasing: p[s..<e])) }
                        }
                    }
                }
                rows += 1
            }
        }
        if rows == 0 && pos >= buffer.count && eof { return nil }
        let out = Schema(columns.map { schema.fields[$0] })
        return RecordBatch(schema: out, columns: builders.indices.map { builders[$0].finish() }, rowCount: rows)
    }

    private func rowText(_ s: Int, _ e: Int) -> String {
        var t = String(decoding: buffer[s..<min(e, buffer.count)], as: UTF8.self)
        while t.hasSuffix("\n") || t.hasSuffix("\r") { t.removeLast() }
        return t
    }

    private func reject(_ line: Int, _ why: String, _ text: String) throws(SQLError) {
        switch options.onError {
        case .fail:
            throw SQLError.execution("CSV Error in file \"\(file.path)\" on line \(line): \(why). Use on_error='skip' or on_error='quarantine' to load the other rows")
        case .skip: rowsRejected += 1
        case .quarantine:
            rowsRejected += 1
            try quarantine?.write(file: file.path, line: line, reason: why, text: text)
        }
    }

    enum Staged {
        case null, int(Int64), wide(Int128), double(Double), bool(Bool), interval(Interval)
        case text(Int, Int, escaped: Bool)
    }

    @inline(__always)
    static func parse(_ b: UnsafeRawBufferPointer, _ t: DataType, _ f: FieldRef) -> Staged? {
        switch t {
        case .varchar: return .text(f.start, f.end, escaped: f.escaped)
        case .integer:
            guard let v = parseInt(b), v >= Int64(Int32.min), v <= Int64(Int32.max) else { return nil }
            return .int(v)
        case .bigint: return parseInt(b).map { .int($0) }
        case .decimal(let p, let s):
            guard let v = Decimal128.parse(utf8: b, scale: s), v.magnitude <= Decimal128.maxUnscaled(precision: p).magnitude else { return nil }
            return p <= 18 ? .int(Int64(v)) : .wide(v)
        case .date: return Dates.parseDate(utf8: b).map { .int(Int64($0)) }
        case .double: return parseDouble(b).map { .double($0) }
        case .boolean:
            guard case .bool(let v)? = Cast.parse(String(decoding: b, as: UTF8.self), as: .boolean) else { return nil }
            return .bool(v)
        case .timestamp: return Dates.parseTimestamp(String(decoding: b, as: UTF8.self)).map { .int($0) }
        case .interval:
            guard case .interval(let v)? = Cast.parse(String(decoding: b, as: UTF8.self), as: .interval) else { return nil }
            return .interval(v)
        case .null: return .null
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
        var v: Int64 = 0
        while i < n {
            let d = b[i] &- 48
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(d))
            if o1 || o2 { return nil }
            v = a; i += 1
        }
        return neg ? -v : v
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
