import Columnar

/// CSV text of record batches, a column at a time: each column's fields are
/// written into one byte buffer by a loop for its type (integers, decimals,
/// dates and plain strings without a String per value), then the rows are
/// stitched together. Fields holding the delimiter, a quote, a line break or
/// edge spaces, and empty strings, are quoted (an empty unquoted field is NULL).
/// Used by COPY and by the CLI's `--format csv`.
public struct CSVWriter {
    public let delimiter: [UInt8]

    public init(delimiter: String = ",") {
        self.delimiter = Array(delimiter.utf8)
    }

    public func header(_ schema: Schema, into out: inout [UInt8]) {
        for (i, f) in schema.fields.enumerated() {
            if i > 0 { out += delimiter }
            field(Array(f.name.utf8)[...], into: &out)
        }
        out.append(10)
    }

    public func append(_ b: RecordBatch, into out: inout [UInt8]) {
        let rendered = b.columns.map { column($0) }
        for r in 0..<b.rowCount {
            for (c, col) in rendered.enumerated() {
                if c > 0 { out += delimiter }
                out += col.bytes[col.offsets[r]..<col.offsets[r + 1]]
            }
            out.append(10)
        }
    }

    /// One column's fields, back to back, and where each starts.
    private func column(_ c: Column) -> (bytes: [UInt8], offsets: [Int]) {
        var bytes: [UInt8] = []
        var offsets = [0]
        offsets.reserveCapacity(c.count + 1)
        let nulls = c.validity != nil || c.type == .null
        @inline(__always) func next() { offsets.append(bytes.count) }
        switch (c.data, c.type) {
        case (.int32(let a), _) where c.type.isIntegral:
            bytes.reserveCapacity(a.count * 8)
            for i in a.indices { if !(nulls && c.isNull(i)) { Self.integer(Int64(a[i]), into: &bytes) }; next() }
        case (.int64(let a), _) where c.type.isIntegral:
            bytes.reserveCapacity(a.count * 10)
            for i in a.indices { if !(nulls && c.isNull(i)) { Self.integer(a[i], into: &bytes) }; next() }
        case (.int64(let a), .decimal(_, let scale)):
            bytes.reserveCapacity(a.count * 12)
            for i in a.indices { if !(nulls && c.isNull(i)) { Self.decimal(a[i], scale: scale, into: &bytes) }; next() }
        case (.string(let s), _):
            bytes.reserveCapacity(s.usedBytes.count + s.count)
            s.bytes.withUnsafeBufferPointer { raw in
                for i in 0..<s.count { if !(nulls && c.isNull(i)) { field(raw[s.range(i)], into: &bytes) }; next() }
            }
        default:
            // Rarer types, and any a faster loop above does not cover, go through their text.
            for i in 0..<c.count {
                if let text = render(c.value(at: i), as: c.type) { field(Array(text.utf8)[...], into: &bytes) }
                next()
            }
        }
        return (bytes, offsets)
    }

    /// A field's bytes, quoted when they must be.
    private func field<C: Collection>(_ f: C, into out: inout [UInt8]) where C.Element == UInt8, C.Index == Int {
        var quote = f.isEmpty || f.first == 32 || f[f.index(f.endIndex, offsetBy: -1)] == 32
        if !quote {
            for b in f where b == 34 || b == 10 || b == 13 || (delimiter.count == 1 && b == delimiter[0]) { quote = true; break }
        }
        if !quote, delimiter.count > 1, f.count >= delimiter.count {
            quote = (f.startIndex...(f.endIndex - delimiter.count)).contains { f[$0..<($0 + delimiter.count)].elementsEqual(delimiter) }
        }
        guard quote else { out.append(contentsOf: f); return }
        out.append(34)
        for b in f {
            if b == 34 { out.append(34) }
            out.append(b)
        }
        out.append(34)
    }

    static func integer(_ v: Int64, into out: inout [UInt8]) {
        if v < 0 { out.append(45) }
        var m = v.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(48 + m % 10)
                m /= 10
                n += 1
            } while m > 0
            for k in stride(from: n - 1, through: 0, by: -1) { out.append(d[k]) }
        }
    }

    /// An unscaled decimal as text: `-12.50` for -1250 at scale 2.
    static func decimal(_ v: Int64, scale: Int, into out: inout [UInt8]) {
        guard scale > 0 else { integer(v, into: &out); return }
        if v < 0 { out.append(45) }
        let m = v.magnitude
        var p: UInt64 = 1
        for _ in 0..<min(scale, 19) { p &*= 10 }   // DECIMAL(p <= 18): scale <= 18, so p fits
        let whole = m / p, frac = m % p
        integer(Int64(whole), into: &out)
        out.append(46)
        var digits = [UInt8](repeating: 48, count: scale)
        var f = frac
        var k = scale - 1
        while f > 0, k >= 0 {
            digits[k] = UInt8(48 + f % 10)
            f /= 10
            k -= 1
        }
        out += digits
    }
}
