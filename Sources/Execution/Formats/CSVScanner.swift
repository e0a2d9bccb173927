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

    enum Outcome { case row(end: Int, newlines: Int), incomplete, malformed(String, end: Int, newlines: Int) }

    /// Scans the row starting at `start`, appending its fields to `table`.
    /// `atEOF` says no more bytes will come. On anything but `.row`, the row's
    /// partial fields are left appended; callers drop them.
    @inline(__always)
    func scan(_ p: UnsafeRawBufferPointer, from start: Int, atEOF: Bool, into table: FieldTable) -> Outcome {
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
                if atEOF { return .row(end: n, newlines: newlines) }
                return .incomplete
            }
            if p[i] == delimiter { i += 1; continue }
            return .row(end: i + 1, newlines: newlines + 1)   // p[i] is '\n'
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
