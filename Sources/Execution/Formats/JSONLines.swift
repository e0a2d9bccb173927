import Columnar
import Foundation
import SQL

/// A scalar or the raw text of a nested value, as the scanner found it.
enum JSONField {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case nested(String)   // an object or array, kept as its JSON text
}

/// A small JSON scanner for JSON Lines: one flat object per line; nested values
/// are kept as text (they become VARCHAR columns).
struct JSONLineParser {
    let b: [UInt8]
    var i = 0

    init(_ line: ArraySlice<UInt8>) { b = Array(line) }

    static func parse(_ line: ArraySlice<UInt8>) throws(SQLError) -> [(String, JSONField)] {
        var p = JSONLineParser(line)
        p.ws()
        guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: "{") else { throw p.error("expected a JSON object") }
        p.i += 1
        var out: [(String, JSONField)] = []
        p.ws()
        if p.peek == UInt8(ascii: "}") { p.i += 1; return try p.end(out) }
        while true {
            p.ws()
            guard p.peek == UInt8(ascii: "\"") else { throw p.error("expected a key in quotes") }
            let key = try p.string()
            p.ws()
            guard p.peek == UInt8(ascii: ":") else { throw p.error("expected ':'") }
            p.i += 1
            p.ws()
            out.append((key, try p.value()))
            p.ws()
            if p.peek == UInt8(ascii: ",") { p.i += 1; continue }
            if p.peek == UInt8(ascii: "}") { p.i += 1; break }
            throw p.error("expected ',' or '}'")
        }
        return try p.end(out)
    }

    mutating func end(_ out: [(String, JSONField)]) throws(SQLError) -> [(String, JSONField)] {
        ws()
        guard i == b.count else { throw error("unexpected text after the object") }
        return out
    }

    var peek: UInt8 { i < b.count ? b[i] : 0 }
    mutating func ws() { while i < b.count, b[i] == 32 || b[i] == 9 || b[i] == 13 || b[i] == 10 { i += 1 } }
    func error(_ m: String) -> SQLError { .execution("\(m) at character \(i + 1)") }

    mutating func value() throws(SQLError) -> JSONField {
        switch peek {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let start = i
            try skipNested()
            return .nested(String(decoding: b[start..<i], as: UTF8.self))
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            let start = i
            while i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") || (b[i] >= 48 && b[i] <= 57) { i += 1 }
            guard i > start else { throw error("unexpected character") }
            let text = String(decoding: b[start..<i], as: UTF8.self)
            guard Double(text) != nil else { throw error("bad number \(text)") }
            return .number(text)
        }
    }

    mutating func literal(_ word: String) throws(SQLError) {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { throw error("unexpected character") }
        i += w.count
    }

    mutating func string() throws(SQLError) -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw error("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < b.count else { throw error("unterminated string") }
                switch b[i] {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "u"):
                    guard i + 4 < b.count, let code = UInt32(String(decoding: b[(i + 1)...(i + 4)], as: UTF8.self), radix: 16) else { throw error("bad \\u escape") }
                    i += 4
                    var scalar = code
                    if (0xD800..<0xDC00).contains(code), i + 6 < b.count, b[i + 1] == 92, b[i + 2] == UInt8(ascii: "u"),
                       let low = UInt32(String(decoding: b[(i + 3)...(i + 6)], as: UTF8.self), radix: 16) {
                        scalar = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00); i += 6
                    }
                    out.append(contentsOf: String(UnicodeScalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8)
                default: out.append(b[i])
                }
                i += 1
                continue
            }
            out.append(c); i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func skipNested() throws(SQLError) {
        var depth = 0
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") { _ = try string(); continue }
            if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1 }
            if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") { depth -= 1; if depth == 0 { i += 1; return } }
            i += 1
        }
        throw error("unterminated nested value")
    }
}

struct JSONFormat: FileFormat {
    let onError: ErrorPolicy
    let quarantine: Quarantine?

    func reader(for file: DataFile, schema: Schema, columns: [Int], range: FileRange?, scratch: ReadScratch) throws(SQLError) -> BatchReader {
        try JSONReader(file: file, schema: schema, columns: columns, format: self, range: range)
    }

    static func open(_ files: [DataFile], options: [String: OptionValue], label: String) throws(SQLError) -> FileTable {
        var csvLike = options.filter { ["on_error", "quarantine"].contains($0.key) }
        if let c = options["columns"] { csvLike["columns"] = c }
        if let t = options["types"] { csvLike["types"] = t }
        for k in options.keys where !["on_error", "quarantine", "columns", "types", "format", "auto_detect", "sample_size"].contains(k) {
            throw SQLError.binder("unknown read_json option \(k)", .unknown)
        }
        let o = try CSVOptions.parse(csvLike)
        let format = FileFormatSpec.json(onError: o.onError)
        if let cols = o.columns {
            return FileTable(files: files, format: format, dataSchema: Schema(cols.map { Field($0.0, $0.1) }), bytesPerRow: 100, label: label)
        }
        let sample = try ByteSource.readAll(files[0].path, limit: 1 << 20)
        var order: [String] = []
        var values: [String: [JSONField]] = [:]
        var lines = 0, bytes = 0
        for line in sample.split(separator: 10, omittingEmptySubsequences: true).prefix(10_000) {
            if line.allSatisfy({ $0 == 32 || $0 == 13 }) { continue }
            guard let obj = try? JSONLineParser.parse(line) else { continue }
            lines += 1; bytes += line.count + 1
            for (k, v) in obj {
                if values[k] == nil { order.append(k) }
                values[k, default: []].append(v)
            }
        }
        guard !order.isEmpty else {
            throw SQLError.execution("JSON Error: no JSON objects in the first lines of \"\(files[0].path)\"")
        }
        var fields = order.map { Field($0, infer(values[$0]!)) }
        for (name, t) in o.types {
            guard let i = fields.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
                throw SQLError.binder("types={...} names column \"\(name)\", which the JSON does not have", .unknown)
            }
            fields[i].type = t
        }
        return FileTable(files: files, format: format, dataSchema: Schema(fields), bytesPerRow: Double(max(1, bytes)) / Double(max(1, lines)), label: label)
    }

    static func infer(_ vs: [JSONField]) -> DataType {
        var sawInt = false, sawDouble = false, sawBool = false, sawString = false, sawNested = false
        var strings: [String] = []
        for v in vs {
            switch v {
            case .null: break
            case .bool: sawBool = true
            case .number(let n): if Int64(n) != nil { sawInt = true } else { sawDouble = true }
            case .string(let s): sawString = true; strings.append(s)
            case .nested: sawNested = true
            }
        }
        if sawNested || (sawString && (sawInt || sawDouble || sawBool)) { return .varchar }
        if sawString {
            let t = Inference.commonType(strings)
            return t == .date || t == .timestamp ? t : .varchar
        }
        if sawBool { return sawInt || sawDouble ? .varchar : .boolean }
        if sawDouble { return .double }
        if sawInt { return .bigint }
        return .varchar
    }
}

/// Reads one JSON Lines file, or one byte range of it (the lines that start
/// in it; a JSON string cannot hold a raw newline, so every newline ends a line).
final class JSONReader: BatchReader {
    let file: DataFile, schema: Schema, columns: [Int], format: JSONFormat
    private let source: ByteSource
    private var buffer: [UInt8] = []
    /// The file offset of `buffer[0]`.
    private var base = 0
    private var pos = 0
    /// Lines consumed, counted from the reader's first line; see `lineNumber`.
    private var line = 0
    private var eof = false
    private(set) var rowsRejected = 0
    private var bytesBefore = 0
    var bytesRead: Int { bytesBefore + source.bytesRead }
    private let lookup: [String: Int]
    private let range: FileRange?
    private let recheck: Bool
    private var started = false
    private var rangeDone = false
    private var hasRows = true
    private var reported = false
    private var firstRow = 0
    private var lineOffset: Int?

    init(file: DataFile, schema: Schema, columns: [Int], format: JSONFormat, range: FileRange? = nil, recheck: Bool = false) throws(SQLError) {
        self.file = file; self.schema = schema; self.columns = columns; self.format = format
        self.range = range
        self.recheck = recheck
        source = try ByteSource(path: file.path, offset: range?.bytes.upperBound ?? 0, chunkSize: range == nil ? 1 << 20 : 64 << 10)
        var l: [String: Int] = [:]
        for (slot, c) in columns.enumerated() { l[schema.fields[c].name] = slot }
        lookup = l
        if range == nil { started = true; lineOffset = 0 }
    }

    func next() throws(SQLError) -> RecordBatch? {
        do {
            if !started { try startRange() }
            if let b = try nextBatch() { return b }
            if let range, !recheck, hasRows, !reported {
                reported = true
                try range.split.finished(range.part, end: base + pos)
            }
            return nil
        } catch {
            // As for CSV: failing, report the first bad line of the file.
            if let range, !recheck, case .fail = format.onError,
               let earlier = range.split.firstFailure(before: range.part, read: { (r) throws(SQLError) in
                   let again = try JSONReader(file: file, schema: schema, columns: columns, format: format, range: r, recheck: true)
                   while try again.next() != nil {}
               }) {
                throw earlier
            }
            throw error
        }
    }

    /// Reads the range and finds its first line: the one after its first newline.
    private func startRange() throws(SQLError) {
        guard let range else { return }
        started = true
        let b = range.bytes.lowerBound, e = range.bytes.upperBound
        let from = max(0, b - 1)
        buffer = try ByteSource.read(file.path, range: from..<e)
        bytesBefore = buffer.count
        base = from
        let row: Int? = b == 0 ? 0 : buffer[(b - from)...].firstIndex(of: 10).map { from + $0 + 1 }
        if !recheck { range.split.handOn(range.part, state: 0, firstRow: row) }
        if e >= file.size { eof = true }
        guard let row else {
            hasRows = false
            rangeDone = true
            pos = buffer.count
            return
        }
        firstRow = row
        pos = row - from
    }

    private func lineNumber() throws(SQLError) -> Int {
        if lineOffset == nil, let range { lineOffset = try range.split.line(at: firstRow, in: range.part) - 1 }
        return line + (lineOffset ?? 0)
    }

    private func nextBatch() throws(SQLError) -> RecordBatch? {
        var builders = columns.map { ColumnBuilder(type: schema.fields[$0].type) }
        var rows = 0
        while rows < targetBatchRows, !rangeDone {
            if let range, base + pos > range.bytes.upperBound { rangeDone = true; break }
            guard let nl = buffer[pos...].firstIndex(of: 10) else {
                if eof {
                    if pos < buffer.count { try row(buffer[pos...], &builders, &rows); pos = buffer.count }
                    rangeDone = true
                    break
                }
                buffer.removeFirst(pos)
                base += pos
                pos = 0
                if !(try source.read(into: &buffer)) { eof = true }
                continue
            }
            let slice = buffer[pos..<nl]
            pos = nl + 1
            try row(slice, &builders, &rows)
        }
        if rows == 0 && rangeDone { return nil }
        return RecordBatch(schema: Schema(columns.map { schema.fields[$0] }), columns: builders.indices.map { builders[$0].finish() }, rowCount: rows)
    }

    private func row(_ slice: ArraySlice<UInt8>, _ builders: inout [ColumnBuilder], _ rows: inout Int) throws(SQLError) {
        line += 1
        if slice.allSatisfy({ $0 == 32 || $0 == 13 || $0 == 9 }) { return }
        var staged = [Value](repeating: .null, count: columns.count)
        do {
            for (k, v) in try JSONLineParser.parse(slice) {
                guard let slot = lookup[k] else { continue }
                let t = schema.fields[columns[slot]].type
                let text: String?
                switch v {
                case .null: text = nil
                case .bool(let b): text = b ? "true" : "false"
                case .number(let n): text = n
                case .string(let s): text = s
                case .nested(let raw): text = raw
                }
                guard let text else { continue }
                // Cast.parse takes 3.0 (and rounds 2.5) for an integer column.
                guard let value = Cast.parse(text, as: t) else {
                    throw SQLError.execution("could not convert '\(text)' to \(t) in column \"\(k)\"")
                }
                staged[slot] = value
            }
        } catch {
            let why = (error as? SQLError)?.message ?? "\(error)"
            switch format.onError {
            case .fail: throw SQLError.execution("JSON Error in file \"\(file.path)\" on line \(try lineNumber()): \(why)")
            case .skip: rowsRejected += 1; return
            case .quarantine:
                rowsRejected += 1
                try format.quarantine?.write(file: file.path, line: try lineNumber(), reason: why, text: String(decoding: slice, as: UTF8.self))
                return
            }
        }
        for slot in staged.indices { builders[slot].append(staged[slot]) }
        rows += 1
    }
}
