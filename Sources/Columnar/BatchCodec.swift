internal import Compression

/// The compact binary form of a record batch: what shuffle blocks, results and
/// Sluice batch files carry. One block:
///
///     offset size  field (all integers little-endian)
///     0      4     magic "SLCB"
///     4      2     format version (1)
///     6      2     codec: 0 = stored, 1 = LZ4 block
///     8      4     payload length before compression
///     12     4     payload length as stored
///     16     4     CRC-32 of the stored payload
///     20     ...   stored payload
///
/// Payload: row count u32, column count u32, then per column: name (u32 length +
/// UTF-8), type (tag u8, precision u8, scale u8), validity flag u8 [+ bitmap words
/// u64], values (fixed-width little-endian; strings as u64 offsets then bytes;
/// booleans one byte each; intervals as i32 months, i32 days, i64 micros).
/// Encoding and decoding are pure; any number may run at once.
public enum BatchCodec {
    public static let magic: [UInt8] = Array("SLCB".utf8)
    public static let version: UInt16 = 1
    public static let headerSize = 20
    /// The largest payload a block may declare (what one LZ4 block can hold).
    public static let maxPayload = LZ4.maxBlockSize

    public static func encode(_ batch: RecordBatch, compress: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        encode(batch, into: &out, compress: compress)
        return out
    }

    /// Appends one encoded block to `out`.
    public static func encode(_ batch: RecordBatch, into out: inout [UInt8], compress: Bool = true) {
        var w = ByteWriter()
        w.u32(UInt32(batch.rowCount)); w.u32(UInt32(batch.columns.count))
        for (field, col) in zip(batch.schema.fields, batch.columns) {
            let name = Array(field.name.utf8)
            w.u32(UInt32(name.count)); w.bytes(name)
            let (tag, p, s) = typeTag(field.type)
            w.u8(tag); w.u8(p); w.u8(s)
            if let v = col.validity { w.u8(1); for word in v.words { w.u64(word) } } else { w.u8(0) }
            switch col.data {
            case .bool(let a): for b in a { w.u8(b ? 1 : 0) }
            case .int32(let a): w.raw(a)
            case .int64(let a): w.raw(a)
            case .int128(let a): w.raw(a)
            case .double(let a): w.raw(a)
            case .string(let st): w.raw(st.offsets); w.bytes(st.bytes)   // Int is 64-bit little-endian here
            case .interval(let a): for i in a { w.u32(UInt32(bitPattern: i.months)); w.u32(UInt32(bitPattern: i.days)); w.u64(UInt64(bitPattern: i.micros)) }
            }
        }
        let payload = w.buffer
        var stored: [UInt8]
        var codec: UInt16 = 0
        if compress {
            var c: [UInt8] = []
            let compressed = payload.withUnsafeBytes { LZ4.compress($0, into: &c) }
            if compressed && c.count < payload.count { stored = c; codec = 1 } else { stored = payload }
        } else { stored = payload }
        var h = ByteWriter()
        h.bytes(magic); h.u16(version); h.u16(codec)
        h.u32(UInt32(payload.count)); h.u32(UInt32(stored.count))
        h.u32(stored.withUnsafeBytes { crc32($0) })
        out.append(contentsOf: h.buffer)
        out.append(contentsOf: stored)
    }

    /// Decodes the block at `offset`, advancing it past the block.
    public static func decode(_ bytes: [UInt8], offset: inout Int) throws(BatchCodecError) -> RecordBatch {
        guard bytes.count - offset >= headerSize else {
            throw .truncated("block header needs \(headerSize) bytes, \(bytes.count - offset) left")
        }
        var r = ByteReader(bytes, offset)
        guard try r.bytes(4) == magic else { throw .corrupt("not a Sluice batch block (bad magic)") }
        let v = try r.u16()
        guard v == version else { throw .unsupportedVersion(Int(v)) }
        let codec = try r.u16()
        let rawLength = Int(try r.u32()), storedLength = Int(try r.u32()), checksum = try r.u32()
        // Lengths come from the writer: check them before they size anything.
        guard rawLength <= maxPayload else { throw .corrupt("block declares a \(rawLength)-byte payload; the limit is \(maxPayload)") }
        guard codec != 0 || rawLength == storedLength else {
            throw .corrupt("stored block declares \(rawLength) bytes but holds \(storedLength)")
        }
        guard bytes.count - r.offset >= storedLength else {
            throw .truncated("block payload needs \(storedLength) bytes, \(bytes.count - r.offset) left")
        }
        let stored = bytes[r.offset..<(r.offset + storedLength)]
        let actual = stored.withUnsafeBytes { crc32($0) }
        guard actual == checksum else { throw .corrupt("checksum mismatch (stored \(checksum), computed \(actual))") }
        offset = r.offset + storedLength
        let payload: [UInt8]
        switch codec {
        case 0: payload = Array(stored)   // one copy; the decoded columns copy out of it anyway
        case 1:
            do { payload = try stored.withUnsafeBytes { try LZ4.decompress($0, originalSize: rawLength) } }
            catch { throw .corrupt("\(error)") }
        default: throw .corrupt("unknown codec \(codec)")
        }
        return try decodePayload(payload)
    }

    /// The whole size of the block whose first `headerSize` bytes are `header`
    /// (to walk a file's blocks without reading them).
    public static func blockSize(header: [UInt8]) throws(BatchCodecError) -> Int {
        guard header.count >= headerSize else { throw .truncated("block header needs \(headerSize) bytes, \(header.count) left") }
        var r = ByteReader(header, 0)
        guard try r.bytes(4) == magic else { throw .corrupt("not a Sluice batch block (bad magic)") }
        let v = try r.u16()
        guard v == version else { throw .unsupportedVersion(Int(v)) }
        _ = try r.u16()
        let rawLength = Int(try r.u32()), storedLength = Int(try r.u32())
        guard rawLength <= maxPayload, storedLength <= maxPayload + maxPayload / 255 + 16 else {
            throw .corrupt("block declares a \(rawLength)-byte payload; the limit is \(maxPayload)")
        }
        return headerSize + storedLength
    }

    public static func decodeAll(_ bytes: [UInt8]) throws(BatchCodecError) -> [RecordBatch] {
        var offset = 0, out: [RecordBatch] = []
        while offset < bytes.count { out.append(try decode(bytes, offset: &offset)) }
        return out
    }

    private static func decodePayload(_ payload: [UInt8]) throws(BatchCodecError) -> RecordBatch {
        var r = ByteReader(payload, 0)
        let rows = Int(try r.u32()), ncols = Int(try r.u32())
        // Every column takes at least 8 bytes (name length, type, validity flag): a column count the payload cannot hold is corrupt.
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
            case .int32: data = .int32(try r.raw(rows))
            case .int64: data = .int64(try r.raw(rows))
            case .int128: data = .int128(try r.raw(rows))
            case .double: data = .double(try r.raw(rows))
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
            columns.append(Column(type: type, data: data, validity: validity))
        }
        guard r.offset == payload.count else { throw .corrupt("\(payload.count - r.offset) stray bytes after the last column") }
        return RecordBatch(schema: Schema(fields), columns: columns, rowCount: rows)
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
        case .unsupportedVersion(let v): return "Sluice batch format version \(v) is not supported (this build reads version \(BatchCodec.version))"
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
    /// Fixed-width values in memory order (this format is little-endian; so are the hosts we build for).
    mutating func raw<T>(_ a: [T]) { a.withUnsafeBytes { buffer.append(contentsOf: $0) } }
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
        return [T](unsafeUninitializedCapacity: count) { buf, n in
            data.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + size)]))
            }
            n = count
        }
    }
}
