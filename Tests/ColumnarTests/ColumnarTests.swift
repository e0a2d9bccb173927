@testable import Columnar
import Compression
import Foundation
import Testing

struct BatchCodecTests {
    static func sample() -> RecordBatch {
        var b = [ColumnBuilder]()
        let types: [DataType] = [.boolean, .integer, .bigint, .double, .decimal(precision: 15, scale: 2), .decimal(precision: 38, scale: 6),
                                 .varchar, .date, .timestamp, .interval, .tinyint, .smallint, .hugeint, .utinyint, .usmallint, .uinteger, .ubigint]
        for t in types { b.append(ColumnBuilder(type: t)) }
        for i in 0..<1000 {
            let null = i % 7 == 3
            for k in b.indices {
                if null && k % 2 == 0 { b[k].appendNull(); continue }
                switch types[k] {
                case .boolean: b[k].append(.bool(i % 2 == 0))
                case .integer: b[k].append(.int(Int64(i) - 500))
                case .bigint: b[k].append(.int(Int64(i) * 1_000_000_007))
                case .double: b[k].append(.double(Double(i) / 3))
                case .decimal(let p, _): b[k].append(p <= 18 ? .int(Int64(i) * 101) : .wide(Int128(i) * 10_000_000_000_000_000_000))
                case .varchar: b[k].append(.string(String(repeating: "é", count: i % 5) + "row \(i)"))
                case .date: b[k].append(.int(Int64(i)))
                case .timestamp: b[k].append(.int(Int64(i) * 3_600_000_000))
                case .interval: b[k].append(.interval(Interval(months: Int32(i % 12), days: Int32(i % 31), micros: Int64(i))))
                case .hugeint: b[k].append(.wide(Int128(i - 500) * Int128(Int64.max) * 1_000_000))
                case .ubigint: b[k].append(.wide(Int128(UInt64.max) - Int128(i)))
                case let t where t.isIntegral:
                    // Each narrow type's extremes, and values between.
                    let r = t.integerRange!
                    b[k].append(.int(Int64(i == 0 ? r.lowerBound : i == 1 ? r.upperBound : r.lowerBound + Int128(i) % (r.upperBound - r.lowerBound))))
                default: break
                }
            }
        }
        let schema = Schema(types.enumerated().map { Field("c\($0.offset)", $0.element) })
        return RecordBatch(schema: schema, columns: b.indices.map { b[$0].finish() })
    }

    @Test(arguments: [true, false])
    func roundTripsExactly(compress: Bool) throws {
        let batch = Self.sample()
        let bytes = BatchCodec.encode(batch, compress: compress)
        let decoded = try BatchCodec.decodeAll(bytes)
        #expect(decoded.count == 1)
        let d = decoded[0]
        #expect(d.schema == batch.schema)
        #expect(d.rowCount == batch.rowCount)
        for r in 0..<batch.rowCount { #expect(d.row(r) == batch.row(r)) }
        if compress { #expect(bytes.count < BatchCodec.encode(batch, compress: false).count) }
    }

    @Test func aNarrowIntegerOutsideItsRangeIsRefused() throws {
        // A TINYINT is held in 32 bits: a block whose TINYINT column carries 1000 is damaged, and says so.
        let column = Column(type: .tinyint, data: .int32([1, 1000, -3]))
        let bytes = BatchCodec.encode(RecordBatch(schema: Schema([Field("t", .tinyint)]), columns: [column]), compress: false)
        #expect(throws: BatchCodecError.corrupt("column t holds 1000, outside the range of TINYINT")) { try BatchCodec.decodeAll(bytes) }
        // The same value under a NULL is not read, so it does not count.
        var v = Bitmap(count: 3, allSet: true); v[1] = false
        let masked = Column(type: .tinyint, data: .int32([1, 1000, -3]), validity: v)
        let ok = try BatchCodec.decodeAll(BatchCodec.encode(RecordBatch(schema: Schema([Field("t", .tinyint)]), columns: [masked]), compress: true))
        #expect(ok[0].row(1) == [.null] && ok[0].row(2) == [.int(-3)])
        let ubig = Column(type: .ubigint, data: .int128([-1]))
        #expect(throws: BatchCodecError.corrupt("column u holds -1, outside the range of UBIGINT")) {
            try BatchCodec.decodeAll(BatchCodec.encode(RecordBatch(schema: Schema([Field("u", .ubigint)]), columns: [ubig]), compress: false))
        }
    }

    @Test func slicesAndDecodedColumnsShareStorage() throws {
        let batch = Self.sample()
        let piece = batch.slice(100..<300)
        for (whole, part) in zip(batch.columns, piece.columns) {
            switch (whole.data, part.data) {
            case (.int64(let a), .int64(let b)): #expect(a.sharesStorage(with: b))
            case (.string(let a), .string(let b)): #expect(a.bytes.sharesStorage(with: b.bytes) && a.offsets.sharesStorage(with: b.offsets))
            case (.double(let a), .double(let b)): #expect(a.sharesStorage(with: b))
            default: break
            }
        }
        for r in 0..<200 { #expect(piece.row(r) == batch.row(100 + r)) }
        // A slice encodes as the rows it shows (its string offsets start past 0).
        let decoded = try BatchCodec.decodeAll(BatchCodec.encode(piece))[0]
        for r in 0..<200 { #expect(decoded.row(r) == batch.row(100 + r)) }
    }

    @Test func severalBlocksInOneBuffer() throws {
        var bytes: [UInt8] = []
        let batch = Self.sample()
        BatchCodec.encode(batch.slice(0..<10), into: &bytes)
        BatchCodec.encode(batch.slice(10..<25), into: &bytes)
        let decoded = try BatchCodec.decodeAll(bytes)
        #expect(decoded.map(\.rowCount) == [10, 15])
        // encodeAll writes the same blocks (leaving out empty batches); a block's row count reads from its header and layout.
        #expect(BatchCodec.encodeAll([batch.slice(0..<10), batch.slice(0..<0), batch.slice(10..<25)]) == bytes)
        let first = BatchCodec.encode(batch.slice(0..<10))
        #expect(try BatchCodec.rowCount(ofBlock: first) == 10)
        #expect(throws: BatchCodecError.self) { try BatchCodec.rowCount(ofBlock: Array(first.prefix(22))) }
    }

    @Test func refusesCorruptAndTruncatedBlocks() {
        let bytes = BatchCodec.encode(Self.sample())
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        #expect(throws: BatchCodecError.self) { try BatchCodec.decodeAll(flipped) }
        do { _ = try BatchCodec.decodeAll(flipped) } catch { #expect("\(error)".contains("checksum mismatch")) }
        for cut in [0, 5, BatchCodec.headerSize, bytes.count - 1] where cut > 0 {
            do { _ = try BatchCodec.decodeAll(Array(bytes[0..<cut])); Issue.record("truncated block at \(cut) decoded") }
            catch { #expect("\(error)".contains("truncated")) }
        }
        var magic = bytes
        magic[0] = UInt8(ascii: "X")
        do { _ = try BatchCodec.decodeAll(magic); Issue.record("bad magic decoded") } catch { #expect("\(error)".contains("magic")) }
        var version = bytes
        version[4] = 9
        do { _ = try BatchCodec.decodeAll(version); Issue.record("future version decoded") } catch { #expect("\(error)".contains("version 9")) }
    }
}

/// Blocks written by someone hostile: lengths that would size allocations or
/// narrow into 32-bit arguments are refused before anything is allocated.
struct HostileBlockTests {
    /// A block with a valid checksum over `stored`, declaring `rawLength` (version 1:
    /// the payload's length before compression; version 2: the layout's length).
    static func block(version: UInt16 = 1, codec: UInt16, rawLength: UInt32, stored: [UInt8]) -> [UInt8] {
        var out = BatchCodec.magic
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(version); put(codec); put(rawLength); put(UInt32(stored.count))
        put(stored.withUnsafeBytes { crc32($0) })
        return out + stored
    }

    @Test(arguments: [UInt32.max, UInt32(Int32.max) + 1, UInt32(LZ4.maxBlockSize) + 1])
    func anLZ4BlockClaimingAHugePayloadIsRefused(raw: UInt32) {
        let bytes = Self.block(codec: 1, rawLength: raw, stored: [0x10, 0x41])
        do { _ = try BatchCodec.decodeAll(bytes); Issue.record("decoded a block claiming \(raw) bytes") }
        catch { #expect("\(error)".contains("corrupt")) }
    }

    @Test func anLZ4BlockClaimingMoreThanItCanExpandToIsRefused() {
        // 10 stored bytes can never decompress to a megabyte.
        let bytes = Self.block(codec: 1, rawLength: 1 << 20, stored: [UInt8](repeating: 0x11, count: 10))
        do { _ = try BatchCodec.decodeAll(bytes); Issue.record("decoded") } catch { #expect("\(error)".contains("cannot")) }
        #expect(throws: CompressionError.self) {
            _ = try [UInt8](repeating: 0, count: 10).withUnsafeBytes { try LZ4.decompress($0, originalSize: Int.max) }
        }
        #expect(throws: CompressionError.self) {
            _ = try [UInt8](repeating: 0, count: 10).withUnsafeBytes { try LZ4.decompress($0, originalSize: -1) }
        }
    }

    @Test func aStoredBlockWhoseLengthsDisagreeIsRefused() {
        let bytes = Self.block(codec: 0, rawLength: 100, stored: [0, 0, 0, 0, 0, 0, 0, 0])
        do { _ = try BatchCodec.decodeAll(bytes); Issue.record("decoded") } catch { #expect("\(error)".contains("stored block declares 100")) }
    }

    @Test(arguments: [[UInt32.max, UInt32.max], [UInt32.max, 1], [0, UInt32.max], [1 << 31, 2]] as [[UInt32]])
    func aPayloadDeclaringAbsurdRowsOrColumnsIsRefused(shape: [UInt32]) {
        let (rows, columns) = (shape[0], shape[1])
        var payload: [UInt8] = []
        func put(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { payload.append(contentsOf: $0) } }
        put(rows); put(columns)
        // One BIGINT column named "a" without validity, and a few value bytes.
        put(1); payload.append(UInt8(ascii: "a")); payload += [3, 0, 0, 0]; payload += [UInt8](repeating: 7, count: 16)
        let bytes = Self.block(codec: 0, rawLength: UInt32(payload.count), stored: payload)
        #expect(throws: BatchCodecError.self) { try BatchCodec.decodeAll(bytes) }
    }

    @Test func aVersion1BlockStillReads() throws {
        // Two BIGINT rows, 7 and -1, in a stored version 1 payload.
        var payload: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { payload.append(contentsOf: $0) } }
        put(UInt32(2)); put(UInt32(1)); put(UInt32(1)); payload.append(UInt8(ascii: "a")); payload += [3, 0, 0, 0]
        put(Int64(7)); put(Int64(-1))
        let batch = try BatchCodec.decodeAll(Self.block(codec: 0, rawLength: UInt32(payload.count), stored: payload))[0]
        #expect(batch.rowCount == 2 && batch.row(0) == [.int(7)] && batch.row(1) == [.int(-1)])
    }

    /// A version 2 payload: one column of `tag`, `rows` rows, buffers given as (raw length, stored bytes).
    static func version2(rows: UInt32, tag: UInt8, buffers: [(UInt32, [UInt8])]) -> [UInt8] {
        var layout: [UInt8] = []
        func put(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { layout.append(contentsOf: $0) } }
        put(rows); put(1); put(1); layout.append(UInt8(ascii: "a")); layout += [tag, 0, 0, 0]
        for (raw, stored) in buffers { put(raw); put(UInt32(stored.count)) }
        return block(version: 2, codec: 1, rawLength: UInt32(layout.count), stored: layout + buffers.flatMap(\.1))
    }

    @Test func version2BuffersThatLieAreRefused() {
        func refused(_ bytes: [UInt8], _ why: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do { _ = try BatchCodec.decodeAll(bytes); Issue.record("decoded", sourceLocation: sourceLocation) }
            catch { #expect("\(error)".contains(why), "\(error)", sourceLocation: sourceLocation) }
        }
        // A BIGINT column of 2 rows needs 16 bytes of values.
        refused(Self.version2(rows: 2, tag: 3, buffers: [(15, [UInt8](repeating: 1, count: 15))]), "where 2 values need 16")
        // A huge row count cannot size anything: the buffer must still be rows x 8 bytes.
        refused(Self.version2(rows: .max, tag: 3, buffers: [(16, [UInt8](repeating: 1, count: 16))]), "values need")
        // 4 stored bytes cannot decompress to a megabyte.
        refused(Self.version2(rows: 1 << 17, tag: 3, buffers: [(1 << 20, [0x1f, 0, 0, 0])]), "cannot hold")
        // Booleans are bytes 0 or 1.
        refused(Self.version2(rows: 2, tag: 1, buffers: [(2, [1, 2])]), "cannot")
        // String offsets from 0, in order.
        var offsets: [UInt8] = []
        for o: UInt64 in [0, 5, 3] { withUnsafeBytes(of: o.littleEndian) { offsets += $0 } }
        refused(Self.version2(rows: 2, tag: 6, buffers: [(24, offsets), (5, Array("hello".utf8))]), "out of order")
        // The same shape told truthfully decodes.
        #expect((try? BatchCodec.decodeAll(Self.version2(rows: 2, tag: 3, buffers: [(16, [UInt8](repeating: 1, count: 16))])))?.first?.rowCount == 2)
    }

    @Test func randomBytesAfterAValidHeaderNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let n = Int.random(in: 0..<256, using: &rng)
            let stored = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let codec = UInt16.random(in: 0...1, using: &rng)
            let raw = codec == 0 ? UInt32(n) : UInt32.random(in: 0...4096, using: &rng)
            _ = try? BatchCodec.decodeAll(Self.block(codec: codec, rawLength: raw, stored: stored))
            _ = try? BatchCodec.decodeAll(Self.block(version: 2, codec: codec, rawLength: UInt32.random(in: 0...UInt32(n), using: &rng), stored: stored))
        }
    }
}

struct HashingTests {
    @Test func equalNumbersHashEqualAcrossTypes() {
        let five: [(Value, DataType)] = [(.int(5), .integer), (.int(5), .bigint), (.int(500), .decimal(precision: 10, scale: 2)),
                                         (.int(50), .decimal(precision: 3, scale: 1)), (.wide(5_000_000), .decimal(precision: 30, scale: 6))]
        let hashes = Set(five.map { Hashing.hash($0.0, type: $0.1) })
        #expect(hashes.count == 1)
        #expect(Hashing.hash(.int(501), type: .decimal(precision: 10, scale: 2)) != Hashing.hash(.int(5), type: .integer))
    }

    /// The shuffle partitions by these values on every host; they must never change.
    @Test func hashesAreStableAcrossReleases() {
        let pinned: [UInt64] = [
            Hashing.hash(.int(42), type: .bigint),
            Hashing.hash(.string("sluice"), type: .varchar),
            Hashing.hash(.double(1.5), type: .double),
            Hashing.hash(.null, type: .integer),
        ]
        #expect(pinned == HashingTests.expected, "hash values changed: \(pinned.map { String($0, radix: 16) })")
    }
    static let expected: [UInt64] = [0xc940_9a61_c6b0_9421, 0xd0a8_1fa5_22b8_763d, 0x2679_6cdc_df14_89b8, 0x9ae1_6a3b_2f90_404f]

    @Test func vectorizedHashMatchesScalar() {
        let batch = BatchCodecTests.sample()
        for (k, c) in batch.columns.enumerated() {
            var h: [UInt64] = []
            c.hash(into: &h, combine: false)
            for r in stride(from: 0, to: c.count, by: 97) {
                #expect(h[r] == Hashing.hash(c.value(at: r), type: batch.schema.fields[k].type))
            }
        }
    }
}

struct ValueTests {
    @Test func decimalsParseFormatAndRound() {
        #expect(Decimal128.parse("12.345", scale: 2) == 1235)
        #expect(Decimal128.parse("-0.5", scale: 0) == -1)
        #expect(Decimal128.parse("1.2.3", scale: 2) == nil)
        #expect(Decimal128.format(-5, scale: 2) == "-0.05")
        #expect(Decimal128.rescale(-125, from: 2, to: 1) == -13)
    }

    /// The one-pass fast paths of DECIMAL and DATE parsing answer exactly as the general parsers.
    @Test func fastParsersAgreeWithTheGeneralOnes() {
        var r: UInt64 = 17
        func next(_ n: Int) -> Int { r = r &* 6364136223846793005 &+ 1442695040888963407; return Int((r >> 33) % UInt64(n)) }
        let alphabet = Array("0123456789-.+ e".utf8)
        for _ in 0..<20_000 {
            let text = (0..<(next(24))).map { _ in alphabet[next(next(4) == 0 ? alphabet.count : 10 + next(3))] }
            let scale = next(7)
            text.withUnsafeBytes { b in
                let general: Int64? = Decimal128.parseUnscaled(b, scale: scale, maxDigits: 18)
                #expect(Decimal128.parse64(utf8: b, scale: scale) == general, "\(String(decoding: text, as: UTF8.self)) at scale \(scale)")
            }
            let date = Array("\(1000 + next(9000))-\(next(14))-\(next(33))".utf8)
            let padded = date.count == 10 ? date : Array(String(format: "%04d-%02d-%02d", 1000 + next(9000), next(14), next(33)).utf8)
            for d in [date, padded] {
                d.withUnsafeBytes { b in
                    var general: Int32? = nil
                    let parts = String(decoding: d, as: UTF8.self).split(separator: "-").compactMap { Int($0) }
                    if parts.count == 3, (1...12).contains(parts[1]), parts[2] >= 1, parts[2] <= Dates.daysIn(year: parts[0], month: parts[1]) {
                        general = Dates.days(year: parts[0], month: parts[1], day: parts[2])
                    }
                    #expect(Dates.parseDate(utf8: b) == general, "\(String(decoding: d, as: UTF8.self))")
                }
            }
        }
    }

    @Test func datesRoundTripThroughTheCalendar() {
        for d in stride(from: Int32(-800_000), to: 800_000, by: 997) {
            let (y, m, day) = Dates.civil(d)
            #expect(Dates.days(year: y, month: m, day: day) == d)
        }
        #expect(Dates.parseDate("2024-02-29") != nil)
        #expect(Dates.parseDate("2023-02-29") == nil)
        #expect(Dates.format(days: Dates.addMonths(Dates.parseDate("2024-01-31")!, 1)) == "2024-02-29")
    }

    @Test func gzipRoundTripAndTruncation() throws {
        let text = Array(String(repeating: "sluice,columnar\n", count: 1000).utf8)
        let z = gzipCompress(text)
        let inflater = try GzipInflater()
        var out: [UInt8] = []
        try z.withUnsafeBytes { try inflater.feed($0, into: &out) }
        try inflater.finish()
        #expect(out == text)
        let cut = try GzipInflater()
        var partial: [UInt8] = []
        try z.withUnsafeBytes { try cut.feed(UnsafeRawBufferPointer(rebasing: $0[0..<(z.count / 2)]), into: &partial) }
        #expect(throws: CompressionError.self) { try cut.finish() }
    }
}
