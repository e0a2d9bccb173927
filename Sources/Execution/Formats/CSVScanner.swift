import Foundation

/// One field of a row: bytes [start, end) of the buffer.
struct FieldRef {
    var start: Int
    var end: Int
    var quoted: Bool
    var escaped: Bool
}

/// The fields of many rows, flat: row r's field f is at r * width + f. Plain
/// memory reused from batch to batch; the scanner writes it through local
/// pointers, so the hot loop pays no array uniqueness or exclusivity checks.
final class FieldTable {
    private(set) var starts: UnsafeMutablePointer<Int>
    private(set) var ends: UnsafeMutablePointer<Int>
    /// bit 0: quoted, bit 1: has escapes to undo.
    private(set) var flags: UnsafeMutablePointer<UInt8>
    var count = 0
    private(set) var capacity: Int

    init(capacity: Int = 1 << 16) {
        self.capacity = capacity
        starts = .allocate(capacity: capacity); ends = .allocate(capacity: capacity); flags = .allocate(capacity: capacity)
    }
    deinit { starts.deallocate(); ends.deallocate(); flags.deallocate() }

    func removeAll() { count = 0 }
    func removeLast(_ k: Int) { count -= k }

    /// Makes room for at least `extra` more fields.
    func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        var c = capacity
        while c < count + extra { c *= 2 }
        func move<T>(_ old: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T> {
            let fresh = UnsafeMutablePointer<T>.allocate(capacity: c)
            fresh.moveInitialize(from: old, count: count)
            old.deallocate()
            return fresh
        }
        starts = move(starts); ends = move(ends); flags = move(flags)
        capacity = c
    }
}

/// Splits CSV text into rows and fields per RFC 4180 (quotes, doubled quotes,
/// newlines inside quotes, CRLF). Stateless; one per reader.
struct CSVScanner {
    let delimiter: UInt8
    let quote: UInt8
    let escape: UInt8

    /// A row ends at `end`, after `newlines` newlines (some may be inside
    /// quotes); it has `fields` fields, the last of them empty and unquoted when
    /// `lastEmpty` (a blank line, or the trailing delimiter of TPC-H's files).
    enum Outcome {
        case row(end: Int, newlines: Int, fields: Int, lastEmpty: Bool)
        case incomplete
        case malformed(String, end: Int, newlines: Int)
    }

    /// Scans the row starting at `start`, appending its fields to `table`, or
    /// only its first `keep` (the rest are counted, not recorded: a query
    /// reading a row's first columns spends little on the others). `atEOF` says
    /// no more bytes will come. On anything but `.row`, the row's partial
    /// fields are left appended; callers drop them.
    @inline(__always)
    func scan(_ p: UnsafeRawBufferPointer, from start: Int, atEOF: Bool, into table: FieldTable, keep: Int = .max) -> Outcome {
        if escape == quote, let row = scanFast(p, from: start, into: table, keep: keep) { return row }
        let first = table.count
        let outcome = scanSlow(p, from: start, atEOF: atEOF, into: table)
        guard case .row(let end, let newlines, _, _) = outcome else { return outcome }
        let fields = table.count - first
        let last = table.count - 1
        let lastEmpty = fields > 0 && table.starts[last] == table.ends[last] && table.flags[last] == 0
        return .row(end: end, newlines: newlines, fields: fields, lastEmpty: lastEmpty)
    }

    /// The common case at full speed: a row that ends at least eight bytes before
    /// the end of the data, with quotes only around whole fields. Walks the row a
    /// word at a time, visiting only the bytes that may be delimiters, newlines
    /// or quotes. Returns nil (having added nothing) for anything else, which the
    /// byte-at-a-time scanner then handles, errors included.
    @inline(__always)
    func scanFast(_ p: UnsafeRawBufferPointer, from start: Int, into table: FieldTable, keep: Int = .max) -> Outcome? {
        table.reserve(1024)
        let first = table.count
        var count = first
        let limit = table.capacity
        let starts = table.starts, ends = table.ends, flags = table.flags
        let n = p.count
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let delimiters = UInt64(delimiter) &* ones, newlineBytes = UInt64(10) &* ones, quotes = UInt64(quote) &* ones
        var fieldStart = start
        var i = start
        var newlines = 0
        while i + 8 <= n {
            let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let x = w ^ delimiters, y = w ^ newlineBytes, z = w ^ quotes
            // Candidate bytes (the zero-byte trick can flag a byte above a real hit; each is checked).
            var hits = ((x &- ones) & ~x | (y &- ones) & ~y | (z &- ones) & ~z) & highs
            var resume = i + 8
            while hits != 0 {
                let at = i + hits.trailingZeroBitCount >> 3
                hits &= hits &- 1
                let c = p[at]
                if c == delimiter || c == 10 {
                    guard count < limit else { return nil }
                    var e = at
                    if c == 10, e > fieldStart, p[e - 1] == 13 { e -= 1 }
                    starts[count] = fieldStart; ends[count] = e; flags[count] = 0
                    count += 1
                    fieldStart = at + 1
                    if c == 10 { table.count = count; return .row(end: at + 1, newlines: newlines + 1, fields: count - first, lastEmpty: e == starts[count - 1]) }
                    if count - first == keep { return skipRest(p, from: fieldStart, kept: count, first: first, newlines: newlines, table) }
                } else if c == quote, at == fieldStart {
                    // A quoted field: find its closing quote, skipping doubled ones.
                    var k = at + 1, escaped = false
                    while true {
                        guard k < n, let hit = memchr(p.baseAddress! + k, Int32(quote), n - k) else { table.count = first; return nil }
                        let q = p.baseAddress!.distance(to: UnsafeRawPointer(hit))
                        for b in k..<q where p[b] == 10 { newlines += 1 }
                        if q + 1 < n, p[q + 1] == quote { escaped = true; k = q + 2; continue }
                        k = q
                        break
                    }
                    guard count < limit, k + 1 < n else { table.count = first; return nil }
                    var next = k + 1
                    if p[next] == 13, next + 1 < n, p[next + 1] == 10 { next += 1 }
                    let after = p[next]
                    guard after == delimiter || after == 10 else { table.count = first; return nil }
                    starts[count] = at + 1; ends[count] = k; flags[count] = escaped ? 3 : 1
                    count += 1
                    fieldStart = next + 1
                    if after == 10 { table.count = count; return .row(end: next + 1, newlines: newlines + 1, fields: count - first, lastEmpty: false) }
                    if count - first == keep { return skipRest(p, from: fieldStart, kept: count, first: first, newlines: newlines, table) }
                    resume = next + 1
                    break
                }
            }
            i = resume
        }
        table.count = first
        return nil
    }

    /// The rest of a row whose first fields are recorded (`kept`, the table's
    /// count so far): counts its fields up to the newline without recording
    /// them: plain stretches a word at a time (a popcount of delimiters), a
    /// quoted field with memchr to its closing quote. Anything else (a quote
    /// inside a field, a malformed close, the end of the data) hands the whole
    /// row to the byte-at-a-time scanner (nil, nothing recorded).
    @inline(__always)
    private func skipRest(_ p: UnsafeRawBufferPointer, from start: Int, kept: Int, first: Int, newlines rowNewlines: Int, _ table: FieldTable) -> Outcome? {
        let ones: UInt64 = 0x0101_0101_0101_0101, lows: UInt64 = 0x7F7F_7F7F_7F7F_7F7F, highs: UInt64 = 0x8080_8080_8080_8080
        let delimiters = UInt64(delimiter) &* ones, newlineBytes = UInt64(10) &* ones, quotes = UInt64(quote) &* ones
        /// The high bit of every byte of `x` that is zero, exactly (no borrow into the next byte).
        @inline(__always) func zeros(_ x: UInt64) -> UInt64 { ~(((x & lows) &+ lows) | x) & highs }
        let n = p.count
        var newlines = rowNewlines
        var extra = 0, lastDelimiter = start - 1, fieldStart = start
        var i = start
        @inline(__always) func row(end: Int, lastEmpty: Bool) -> Outcome {
            table.count = kept
            return .row(end: end, newlines: newlines + 1, fields: kept - first + extra + 1, lastEmpty: lastEmpty)
        }
        while i + 8 <= n {
            let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            var d = zeros(w ^ delimiters)
            let stops = zeros(w ^ newlineBytes) | zeros(w ^ quotes)
            if stops == 0 {
                extra += d.nonzeroBitCount
                if d != 0 { lastDelimiter = i + (63 - d.leadingZeroBitCount) >> 3; fieldStart = lastDelimiter + 1 }
                i += 8
                continue
            }
            // Delimiters before the first newline or quote, at once.
            d &= (UInt64(1) << UInt64(stops.trailingZeroBitCount - 7)) &- 1
            extra += d.nonzeroBitCount
            if d != 0 { lastDelimiter = i + (63 - d.leadingZeroBitCount) >> 3; fieldStart = lastDelimiter + 1 }
            let at = i + stops.trailingZeroBitCount >> 3
            if p[at] == 10 {
                var e = at
                if e > fieldStart, p[e - 1] == 13 { e -= 1 }
                return row(end: at + 1, lastEmpty: e == fieldStart)
            }
            // A quote: only a quoted field (one starting here) is read past, to its closing quote.
            guard at == fieldStart else { break }
            var k = at + 1
            var close = -1
            while k < n, let hit = memchr(p.baseAddress! + k, Int32(quote), n - k) {
                let q = p.baseAddress!.distance(to: UnsafeRawPointer(hit))
                for b in k..<q where p[b] == 10 { newlines += 1 }
                if q + 1 < n, p[q + 1] == quote { k = q + 2; continue }
                close = q
                break
            }
            guard close >= 0, close + 1 < n else { break }
            var next = close + 1
            if p[next] == 13, next + 1 < n, p[next + 1] == 10 { next += 1 }
            if p[next] == 10 { return row(end: next + 1, lastEmpty: false) }
            guard p[next] == delimiter else { break }
            extra += 1
            lastDelimiter = next
            fieldStart = next + 1
            i = next + 1
        }
        table.count = first
        return nil
    }

    @inline(__always)
    func scanSlow(_ p: UnsafeRawBufferPointer, from start: Int, atEOF: Bool, into table: FieldTable) -> Outcome {
        table.reserve(1024)
        var count = table.count
        var limit = table.capacity
        var starts = table.starts, ends = table.ends, flags = table.flags
        defer { table.count = count }
        @inline(__always) func add(_ s: Int, _ e: Int, _ f: UInt8) {
            if count == limit {
                table.count = count
                table.reserve(1)
                limit = table.capacity; starts = table.starts; ends = table.ends; flags = table.flags
            }
            starts[count] = s; ends[count] = e; flags[count] = f
            count += 1
        }
        let n = p.count
        var i = start
        var newlines = 0
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let delimiters = UInt64(delimiter) &* ones, newlineBytes = UInt64(10) &* ones
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
                add(fs + 1, i, escaped ? 3 : 1)
                i += 1
                if i < n, p[i] == 13 { i += 1 }
                if i < n, p[i] != delimiter, p[i] != 10 {
                    var e = i
                    while e < n, p[e] != 10 { e += 1 }
                    return .malformed("unexpected character after a closing quote", end: min(n, e + 1), newlines: newlines + 1)
                }
            } else {
                // Eight bytes at a time until a delimiter or newline shows up.
                while i + 8 <= n {
                    let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                    let x = w ^ delimiters, y = w ^ newlineBytes
                    let hit = ((x &- ones) & ~x | (y &- ones) & ~y) & highs
                    if hit != 0 { i += hit.trailingZeroBitCount >> 3; break }
                    i += 8
                }
                while i < n {
                    let c = p[i]
                    if c == delimiter || c == 10 { break }
                    i += 1
                }
                var e = i
                if e > fs, p[e - 1] == 13, i >= n || p[i] == 10 { e -= 1 }
                add(fs, e, 0)
            }
            if i >= n {
                if atEOF { return .row(end: n, newlines: newlines, fields: 0, lastEmpty: false) }
                return .incomplete
            }
            if p[i] == delimiter { i += 1; continue }
            return .row(end: i + 1, newlines: newlines + 1, fields: 0, lastEmpty: false)   // p[i] is '\n'; scan() counts the fields
        }
    }

    /// One row as FieldRefs (schema inference and dialect detection).
    func scan(_ p: UnsafeRawBufferPointer, from start: Int, atEOF: Bool, into fields: inout [FieldRef]) -> Outcome {
        let t = FieldTable(capacity: 64)
        let o = scan(p, from: start, atEOF: atEOF, into: t)
        fields = (0..<t.count).map { FieldRef(start: Int(t.starts[$0]), end: Int(t.ends[$0]), quoted: t.flags[$0] & 1 != 0, escaped: t.flags[$0] & 2 != 0) }
        return o
    }
}

/// The scanner's quoting rules alone, fast, for finding where rows start in
/// the middle of a file: follows the state through bytes without splitting
/// fields, jumping from quote to quote with memchr (a range without quotes
/// costs one memchr). Exact for every input: the states are the scanner's.
extension CSVScanner {
    enum Quoting {
        /// Outside quotes (a quote opens a field only at a field's start).
        static let outside: UInt8 = 0
        static let quoted: UInt8 = 1
        /// Just after a closing quote (a second quote makes it a doubled one).
        static let closed: UInt8 = 2
        /// After a closing quote and a carriage return.
        static let closedCR: UInt8 = 3
        /// After an escape character inside quotes (escape differs from quote).
        static let escaped: UInt8 = 4
        /// A malformed row: everything up to the next newline belongs to it.
        static let malformed: UInt8 = 5
    }

    /// Follows the quoting through `p[from..<to]` starting in `state`; `previous` is
    /// the byte before `from` (a newline at the start of the file). Returns the state
    /// after the bytes, and the first row start (just after a newline that ends a
    /// row) in `from + 1 ... to`, if any.
    func follow(_ p: UnsafeRawBufferPointer, from: Int, to: Int, state: UInt8, previous: UInt8) -> (state: UInt8, firstRow: Int?) {
        let base = p.baseAddress!
        var s = state, i = from
        var first: Int? = nil
        @inline(__always) func find(_ byte: UInt8, _ at: Int) -> Int {
            guard at < to, let hit = memchr(base + at, Int32(byte), to - at) else { return to }
            return base.distance(to: UnsafeRawPointer(hit))
        }
        while i < to {
            switch s {
            case Quoting.outside:
                let q = find(quote, i)
                if first == nil {
                    let nl = find(10, i)
                    if nl < q {
                        first = nl + 1
                        i = nl + 1
                        continue
                    }
                }
                guard q < to else { i = to; continue }
                let before = q == from ? previous : p[q - 1]
                if before == delimiter || before == 10 { s = Quoting.quoted }
                i = q + 1
            case Quoting.quoted:
                let q = find(quote, i)
                let e = escape == quote ? to : find(escape, i)
                if e < q { s = Quoting.escaped; i = e + 1 } else if q < to { s = Quoting.closed; i = q + 1 } else { i = to }
            case Quoting.escaped:
                let c = p[i]
                s = Quoting.quoted
                if c == quote || c == escape { i += 1 }   // else the byte is read again, inside quotes
            case Quoting.closed, Quoting.closedCR:
                let c = p[i]
                if c == quote, escape == quote, s == Quoting.closed { s = Quoting.quoted }
                else if c == delimiter { s = Quoting.outside }
                else if c == 10 { s = Quoting.outside; if first == nil { first = i + 1 } }
                else if c == 13, s == Quoting.closed { s = Quoting.closedCR }
                else { s = Quoting.malformed }
                i += 1
            default:   // malformed
                let nl = find(10, i)
                if nl < to { s = Quoting.outside; if first == nil { first = nl + 1 } }
                i = nl + 1
            }
        }
        return (s, first)
    }
}
