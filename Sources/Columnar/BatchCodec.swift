internal import Compression

/// The compact binary form of a record batch: what shuffle blocks, results and
/// Sluice batch files carry. One block:
///
///     offset size  field (all integers little-endian)
///     0      4     magic "SLCB"
///     4      2     format version (2; version 1 is still read)
///     6      2     codec: 0 = buffers stored, 1 = buffers LZ4-compressed (each
///                  only when that makes it smaller)
///     8      4     length of the layout (below)
///     12     4     length of the payload (layout and buffers)
///     16     4     CRC-32 of the payload
///     20     ...   payload
///
/// Layout: row count u32, column count u32, then per column: name (u32 length
/// + UTF-8), type (tag u8, precision u8, scale u8), validity flag u8, and for
/// each of its buffers the raw and the stored length (u32 each). Then the
/// buffers, back to back: the validity bitmap's words (u64) when flagged, then
/// the values: booleans one byte each, fixed-width values in memory order,
/// strings as u64 offsets (rows + 1, from 0) and the UTF-8 bytes, intervals as
/// i32 months, i32 days, i64 micros.
///
/// Each buffer is compressed on its own, so decoding writes it straight into
/// the column's own storage: the decompressed bytes are the column, with no
/// copy after. (Version 1 compressed the payload as one block and copied the
/// columns out of it.) Encoding and decoding are pure; any number may run at once.
public enum BatchCodec {
    public static let magic: [UInt8] = Array("SLCB".utf8)
    public static let version: UInt16 = 2
    public static let headerSize = 20
    /// The largest payload or buffer a block may declare (what one LZ4 block can hold).
    public static let maxPayload = LZ4.maxBlockSize

    public static func encode(_ batch: RecordBatch, compress: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        encode(batch, into: &out, compress: compress)
        return out
    }

    /// Appends one encoded block to `out`.
    public static func encode(_ batch: RecordBatch, into out: inout [UInt8], compress: Bool = true) {
        var layout = ByteWriter()
        var bodies: [UInt8] = []
        var scratch: [UInt8] = []
        layout.u32(UInt32(batch.rowCount)); layout.u32(UInt32(batch.columns.count))
        /// Adds one buffer: its lengths to the layout, its bytes (compressed when smaller) to the bodies.
        func buffer(_ raw: UnsafeRawBufferPointer) {
            if compress, raw.count > 64, LZ4.compress(raw, into: &scratch), scratch.count < raw.count {
                layout.u32(UInt32(raw.count)); layout.u32(UInt32(scratch.count))
                bodies.append(contentsOf: scratch)
            } else {
                layout.u32(UInt32(raw.count)); layout.u32(UInt32(raw.count))
                bodies.append(contentsOf: raw)
            }
        }
        for (field, col) in zip(batch.schema.fields, batch.columns) {
            let name = Array(field.name.utf8)
            layout.u32(UInt32(name.count)); layout.bytes(name)
            let (tag, p, s) = typeTag(field.type)
            layout.u8(tag); layout.u8(p); layout.u8(s)
            layout.u8(col.validity == nil ? 0 : 1)
            if let v = col.validity { v.words.withUnsafeBytes { buffer($0) } }
            switch col.data {
            case .bool(let a): a.withUnsafeBytes { buffer($0) }   // one byte each, 0 or 1
            case .int32(let a): a.withUnsafeBytes { buffer($0) }
            case .int64(let a): a.withUnsafeBytes { buffer($0) }
            case .int128(let a): a.withUnsafeBytes { buffer($0) }
            case .double(let a): a.withUnsafeBytes { buffer($0) }
            case .interval(let a): a.withUnsafeBytes { buffer($0) }   // i32, i32, i64: 16 bytes, no padding
            case .string(let st):
                // A slice's offsets need not start at 0: written from 0, over its own bytes.
                let base = st.offsets[0]
                let offsets = (0...st.count).map { UInt64(st.offsets[$0] - base) }
                offsets.withUnsafeBytes { buffer($0) }
                st.bytes.withUnsafeBufferPointer { buffer(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[st.usedBytes]))) }
            }
        }
        let payload = layout.buffer + bodies
        var h = ByteWriter()
        h.bytes(magic); h.u16(version); h.u16(compress ? 1 : 0)
        h.u32(UInt32(layout.buffer.count)); h.u32(UInt32(payload.count))
        h.u32(payload.withUnsafeBytes { crc32($0) })
        out.append(contentsOf: h.buffer)
        out.append(contentsOf: payload)
    }

    /// Decodes the block at `offset`, advancing it past the block.
    public static func decode(_ bytes: [UInt8], offset: inout Int) throws(BatchCodecError) -> RecordBatch {
        guard bytes.count - offset >= headerSize else {
            throw .truncated("block header needs \(headerSize) bytes, \(bytes.count - offset) left")
        }
        var r = ByteReader(bytes, offset)
        guard try r.bytes(4) == magic else { throw .corrupt("not a Sluice batch block (bad magic)") }
        let v = try r.u16()
        guard v == 1 || v == version else { throw .unsupportedVersion(Int(v)) }
        let codec = try r.u16()
        let first = Int(try r.u32()), storedLength = Int(try r.u32()), checksum = try r.u32()
        // Lengths come from the writer: check them before they size anything.
        guard bytes.count - r.offset >= storedLength else {
            throw .truncated("block payload needs \(storedLength) bytes, \(bytes.count - r.offset) left")
        }
        let start = r.offset
        let actual = bytes.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[start..<(start + storedLength)])) }
        guard actual == checksum else { throw .corrupt("checksum mismatch (stored \(checksum), computed \(actual))") }
        offset = start + storedLength
        if v == 1 { return try decodeVersion1(bytes, start: start, rawLength: first, storedLength: storedLength, codec: codec) }
        guard codec <= 1 else { throw .corrupt("unknown codec \(codec)") }
        guard first <= storedLength else { throw .corrupt("layout of \(first) bytes in a payload of \(storedLength)") }
        let result = bytes.withUnsafeBytes { all -> Result<RecordBatch, BatchCodecError> in
            let payload = UnsafeRawBufferPointer(rebasing: all[start..<(start + storedLength)])
            do throws(BatchCodecError) { return .success(try decodeLayout(payload, layoutLength: first)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Blocks of every non-empty batch, back to back (what `decodeAll` reads).
    public static func encodeAll(_ batches: [RecordBatch]) -> [UInt8] {
        var out: [UInt8] = []
        for b in batches where b.rowCount > 0 { encode(b, into: &out) }
        return out
    }

    /// The rows of the whole block `block` (version 2: the layout, which starts with the count, is stored raw).
    public static func rowCount(ofBlock block: [UInt8]) throws(BatchCodecError) -> Int {
        guard block.count >= headerSize + 4 else { throw .truncated("a block too short for its row count") }
        var r = ByteReader(block, 4)
        guard try r.u16() == version else { throw .corrupt("a row count is read only from version \(version) blocks") }
        var c = ByteReader(block, headerSize)
        return Int(try c.u32())
    }

    public static func decodeAll(_ bytes: [UInt8]) throws(BatchCodecError) -> [RecordBatch] {
        var offset = 0, out: [RecordBatch] = []
        while offset < bytes.count { out.append(try decode(bytes, offset: &offset)) }
        return out
    }

    /// The whole size of the block whose first `headerSize` bytes are `header`
    /// (to walk a file's blocks without reading them).
    public static func blockSize(header: [UInt8]) throws(BatchCodecError) -> Int {
        guard header.count >= headerSize else { throw .truncated("block header needs \(headerSize) bytes, \(header.count) left") }
        var r = ByteReader(header, 0)
        guard try r.bytes(4) == magic else { throw .corrupt("not a Sluice batch block (bad magic)") }
        let v = try r.u16()
        guard v == 1 || v == version else { throw .unsupportedVersion(Int(v)) }
        _ = try r.u16()
        _ = try r.u32()
        let storedLength = Int(try r.u32())
        guard storedLength <= maxPayload else { throw .corrupt("block declares a \(storedLength)-byte payload; the limit is \(maxPayload)") }
        return headerSize + storedLength
    }

    // MARK: version 2

    /// Reads the layout, then each buffer straight into the storage of its column.
    private static func decodeLayout(_ payload: UnsafeRawBufferPointer, layoutLength: Int) throws(BatchCodecError) -> RecordBatch {
        var layout = RawReader(UnsafeRawBufferPointer(rebasing: payload[0..<layoutLength]))
        var body = layoutLength
        let rows = Int(try layout.u32()), ncols = Int(try layout.u32())
        // Every column takes at least 8 bytes of layout: a column count it cannot hold is corrupt.
        guard ncols <= layout.remaining / 8 else { throw .corrupt("\(ncols) columns cannot fit in \(layoutLength) bytes") }

        /// The next buffer, `count` values of T, decompressed (or copied) straight into
        /// the array that becomes the column's storage; `valid` vets its bytes first.
        func buffer<T>(_ type: T.Type, count: Int, what: String,
                       valid: (UnsafeRawBufferPointer) -> Bool = { _ in true }) throws(BatchCodecError) -> [T] {
            let raw = Int(try layout.u32()), stored = Int(try layout.u32())
            let (need, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
            guard !overflow, raw == need else { throw .corrupt("\(what): \(raw) bytes where \(count) values need \(overflow ? -1 : need)") }
            guard stored <= payload.count - body else { throw .truncated("\(what) needs \(stored) bytes, \(payload.count - body) left") }
            guard raw <= maxPayload, stored == raw || stored * 255 >= raw else { throw .corrupt("\(what): \(stored) bytes cannot hold \(raw)") }
            let src = UnsafeRawBufferPointer(rebasing: payload[body..<(body + stored)])
            body += stored
            var failure: BatchCodecError?
            let out = [T](uninitializedCount: count) { dst, n in
                let target = UnsafeMutableRawBufferPointer(dst)
                if stored == raw {
                    if raw > 0 { target.copyMemory(from: src) }
                } else {
                    do { try LZ4.decompress(src, into: UnsafeMutableRawBufferPointer(rebasing: target[0..<raw])) }
                    catch { failure = .corrupt("\(what): \(error)") }
                }
                if failure == nil, !valid(UnsafeRawBufferPointer(rebasing: target[0..<raw])) { failure = .corrupt("\(what) holds values its type cannot") }
                // Only values known good count as initialized (all are trivial: nothing to clean up).
                n = failure == nil ? count : 0
            }
            if let failure { throw failure }
            return out
        }

        var fields: [Field] = [], columns: [Column] = []
        for _ in 0..<ncols {
            let nameLength = Int(try layout.u32())
            let name = String(decoding: try layout.bytes(nameLength), as: UTF8.self)
            let type = try typeFrom(tag: try layout.u8(), try layout.u8(), try layout.u8())
            var validity: Bitmap? = nil
            if try layout.u8() == 1 {
                validity = Bitmap(words: try buffer(UInt64.self, count: (rows + 63) / 64, what: "validity of \(name)"), count: rows)
            }
            let data: ColumnData
            switch type.physical {
            case .bool:
                // Bytes are Bools only if each is 0 or 1.
                data = .bool(try buffer(Bool.self, count: rows, what: "values of \(name)") { $0.allSatisfy { $0 <= 1 } })
            case .int32: data = .int32(try buffer(Int32.self, count: rows, what: "values of \(name)"))
            case .int64: data = .int64(try buffer(Int64.self, count: rows, what: "values of \(name)"))
            case .int128: data = .int128(try buffer(Int128.self, count: rows, what: "values of \(name)"))
            case .double: data = .double(try buffer(Double.self, count: rows, what: "values of \(name)"))
            case .interval: data = .interval(try buffer(Interval.self, count: rows, what: "values of \(name)"))
            case .string:
                let offsets = try buffer(Int.self, count: rows + 1, what: "string offsets of \(name)")
                var ordered = offsets[0] == 0
                if ordered { for k in 0..<rows where offsets[k] > offsets[k + 1] { ordered = false; break } }
                guard ordered, let total = offsets.last else { throw .corrupt("string offsets out of order in column \(name)") }
                let bytes = try buffer(UInt8.self, count: total, what: "strings of \(name)")
                data = .string(StringArray(offsets: offsets, bytes: bytes))
            }
            fields.append(Field(name, type))
            columns.append(try checked(Column(type: type, data: data, validity: validity), name))
        }
        guard layout.remaining == 0 else { throw .corrupt("\(layout.remaining) stray bytes after the last column's layout") }
        guard body == payload.count else { throw .corrupt("\(payload.count - body) stray bytes after the last buffer") }
        return RecordBatch(schema: Schema(fields), columns: columns, rowCount: rows)
    }

    // MARK: version 1

    private static func decodeVersion1(_ bytes: [UInt8], start: Int, rawLength: Int, storedLength: Int, codec: UInt16) throws(BatchCodecError) -> RecordBatch {
        guard rawLength <= maxPayload else { throw .corrupt("block declares a \(rawLength)-byte payload; the limit is \(maxPayload)") }
        guard codec != 0 || rawLength == storedLength else {
            throw .corrupt("stored block declares \(rawLength) bytes but holds \(storedLength)")
        }
        let stored = bytes[start..<(start + storedLength)]
        let payload: [UInt8]
        switch codec {
        case 0: payload = Array(stored)
        case 1:
            do { payload = try stored.withUnsafeBytes { try LZ4.decompress($0, originalSize: rawLength) } }
            catch { throw .corrupt("\(error)") }
        default: throw .corrupt("unknown codec \(codec)")
        }
        var r = ByteReader(payload, 0)
        let rows = Int(try r.u32()), ncols = Int(try r.u32())
        guard ncols <= (payload.count - r.offset) / 8 else { throw .corrupt("\(ncols) columns cannot fit in \(payload.count) bytes") }
        var fields: [Field] = [], columns: [Column] = []
        for _ in 0..<ncols {
            let nameLength = Int(try r.u32())
            let name = String(decoding: try r.bytes(nameLength), as: UTF8.self)
            let type = try typeFrom(tag: try r.u8(), try r.u8(), try r.u8())
            var validity: Bitmap? = nil
            if try r.u8() == 1 {
                var words: [UInt64] = []
                for _ in 0..<((rows + 63) / 64) { words.append(try r.u64()) }
                validity = Bitmap(words: words, count: rows)
            }
            let data: ColumnData
            switch type.physical {
            case .bool: data = .bool(try r.bytes(rows).map { $0 != 0 })
            case .int32: data = .int32(try r.raw(rows) as [Int32])
            case .int64: data = .int64(try r.raw(rows) as [Int64])
            case .int128: data = .int128(try r.raw(rows) as [Int128])
            case .double: data = .double(try r.raw(rows) as [Double])
            case .string:
                let offs: [Int] = try r.raw(rows + 1)
                var ordered = offs.first == 0
                if ordered { for k in 0..<rows where offs[k] > offs[k + 1] { ordered = false; break } }
                guard ordered, let total = offs.last else { throw .corrupt("string offsets out of order in column \(name)") }
                data = .string(StringArray(offsets: offs, bytes: try r.bytes(total)))
            case .interval:
                var a: [Interval] = []
                for _ in 0..<rows {
                    a.append(Interval(months: Int32(bitPattern: try r.u32()), days: Int32(bitPattern: try r.u32()), micros: Int64(bitPattern: try r.u64())))
                }
                data = .interval(a)
            }
            fields.append(Field(name, type))
            columns.append(try checked(Column(type: type, data: data, validity: validity), name))
        }
        guard r.offset == payload.count else { throw .corrupt("\(payload.count - r.offset) stray bytes after the last column") }
        return RecordBatch(schema: Schema(fields), columns: columns, rowCount: rows)
    }

    /// A narrow integer type is held in a wider word: a value outside its range is damage, not data.
    private static func checked(_ column: Column, _ name: String) throws(BatchCodecError) -> Column {
        if let range = column.type.integerRange, let bad = column.firstIntegerOutside(range) {
            throw .corrupt("column \(name) holds \(bad), outside the range of \(column.type)")
        }
        return column
    }

    static func typeTag(_ t: DataType) -> (UInt8, UInt8, UInt8) {
        switch t {
        case .boolean: return (1, 0, 0)
        case .integer: return (2, 0, 0)
        case .bigint: return (3, 0, 0)
        case .double: return (4, 0, 0)
        case .decimal(let p, let s): return (5, UInt8(p), UInt8(s))
        case .varchar: return (6, 0, 0)
        case .date: return (7, 0, 0)
        case .timestamp: return (8, 0, 0)
        case .interval: return (9, 0, 0)
        case .null: return (10, 0, 0)
        case .tinyint: return (11, 0, 0)
        case .smallint: return (12, 0, 0)
        case .hugeint: return (13, 0, 0)
        case .utinyint: return (14, 0, 0)
        case .usmallint: return (15, 0, 0)
        case .uinteger: return (16, 0, 0)
        case .ubigint: return (17, 0, 0)
        }
    }

    static func typeFrom(tag: UInt8, _ p: UInt8, _ s: UInt8) throws(BatchCodecError) -> DataType {
        switch tag {
        case 1: return .boolean
        case 2: return .integer
        case 3: return .bigint
        case 4: return .double
        case 5:
            guard p >= 1, p <= 38, s <= p else { throw .corrupt("bad DECIMAL(\(p),\(s))") }
            return .decimal(precision: Int(p), scale: Int(s))
        case 6: return .varchar
        case 7: return .date
        case 8: return .timestamp
        case 9: return .interval
        case 10: return .null
        case 11: return .tinyint
        case 12: return .smallint
        case 13: return .hugeint
        case 14: return .utinyint
        case 15: return .usmallint
        case 16: return .uinteger
        case 17: return .ubigint
        default: throw .corrupt("unknown type tag \(tag)")
        }
    }
}

public enum BatchCodecError: Error, Equatable, CustomStringConvertible {
    case truncated(String)
    case corrupt(String)
    case unsupportedVersion(Int)
    public var description: String {
        switch self {
        case .truncated(let m): return "truncated Sluice batch: \(m)"
        case .corrupt(let m): return "corrupt Sluice batch: \(m)"
        case .unsupportedVersion(let v): return "Sluice batch format version \(v) is not supported (this build reads versions 1 and \(BatchCodec.version))"
        }
    }
}

struct ByteWriter {
    var buffer: [UInt8] = []
    mutating func u8(_ v: UInt8) { buffer.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    mutating func bytes(_ b: [UInt8]) { buffer.append(contentsOf: b) }
}

/// Reads integers and byte runs from memory, refusing to read past its end.
struct RawReader {
    let data: UnsafeRawBufferPointer
    var offset = 0
    init(_ data: UnsafeRawBufferPointer) { self.data = data }
    var remaining: Int { data.count - offset }

    mutating func bytes(_ n: Int) throws(BatchCodecError) -> [UInt8] {
        guard n >= 0, n <= remaining else { throw .truncated("needs \(n) more bytes at offset \(offset), \(remaining) left") }
        defer { offset += n }
        return Array(UnsafeRawBufferPointer(rebasing: data[offset..<(offset + n)]))
    }
    mutating func u8() throws(BatchCodecError) -> UInt8 { UInt8(littleEndian: try load()) }
    mutating func u32() throws(BatchCodecError) -> UInt32 { UInt32(littleEndian: try load()) }
    private mutating func load<T: FixedWidthInteger>() throws(BatchCodecError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated("needs \(size) more bytes at offset \(offset)") }
        defer { offset += size }
        return data.loadUnaligned(fromByteOffset: offset, as: T.self)
    }
}

struct ByteReader {
    let data: [UInt8]
    var offset: Int
    init(_ data: [UInt8], _ offset: Int) { self.data = data; self.offset = offset }

    mutating func bytes(_ n: Int) throws(BatchCodecError) -> [UInt8] { try raw(n) }
    mutating func u8() throws(BatchCodecError) -> UInt8 { try bytes(1)[0] }
    mutating func u16() throws(BatchCodecError) -> UInt16 { UInt16(littleEndian: try load()) }
    mutating func u32() throws(BatchCodecError) -> UInt32 { UInt32(littleEndian: try load()) }
    mutating func u64() throws(BatchCodecError) -> UInt64 { UInt64(littleEndian: try load()) }
    private mutating func load<T: FixedWidthInteger>() throws(BatchCodecError) -> T {
        let size = MemoryLayout<T>.size
        guard data.count - offset >= size else { throw .truncated("needs \(size) more bytes at offset \(offset)") }
        defer { offset += size }
        return data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }
    mutating func raw<T>(_ count: Int) throws(BatchCodecError) -> [T] {
        let size = count * MemoryLayout<T>.stride
        guard count >= 0, data.count - offset >= size else { throw .truncated("needs \(size) more bytes at offset \(offset), \(data.count - offset) left") }
        defer { offset += size }
        return [T](uninitializedCount: count) { buf, n in
            data.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + size)]))
            }
            n = count
        }
    }
}
