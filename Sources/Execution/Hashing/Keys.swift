import Foundation
import Columnar
import SQL

/// The key columns of a batch in the form the hash table compares: a single
/// integer-like column stays as 64-bit integers (the fast path for join keys
/// like orderkey); anything else is encoded row by row into bytes.
struct Keys {
    enum Storage {
        case ints([Int64])
        case bytes(offsets: [Int], arena: [UInt8])
    }
    var storage: Storage
    var hashes: [UInt64]
    /// Rows where some key is NULL (nil when none is).
    var nulls: [Bool]?
    var count: Int { hashes.count }

    static func integerLike(_ t: DataType) -> Bool {
        t.physical == .int32 || t.physical == .int64
    }

    /// Whether keys of these types are compared as one 64-bit integer: a single
    /// integer-like column, or (for joins, where a NULL anywhere means no match)
    /// two 32-bit ones packed together (TPC-H's partkey + suppkey).
    static func integerMode(_ types: [DataType], packPairs: Bool) -> Bool {
        if types.count == 1 { return integerLike(types[0]) }
        return packPairs && types.count == 2 && types.allSatisfy { $0.physical == .int32 }
    }

    init(_ columns: [Column], packPairs: Bool = false) {
        let n = columns.first?.count ?? 0
        var nulls: [Bool]? = nil
        for c in columns where c.validity != nil || c.type == .null {
            if nulls == nil { nulls = [Bool](repeating: false, count: n) }
            for i in 0..<n where c.type == .null || c.isNull(i) { nulls![i] = true }
        }
        self.nulls = nulls
        if columns.count == 1, Keys.integerLike(columns[0].type) {
            let v = columns[0].int64Values()
            storage = .ints(v)
            hashes = v.map { Hashing.mix(UInt64(bitPattern: $0)) }
            return
        }
        if packPairs, Keys.integerMode(columns.map(\.type), packPairs: true),
           case .int32(let a) = columns[0].data, case .int32(let b) = columns[1].data {
            let v = (0..<n).map { Int64(a[$0]) << 32 | Int64(UInt32(bitPattern: b[$0])) }
            storage = .ints(v)
            hashes = v.map { Hashing.mix(UInt64(bitPattern: $0)) }
            return
        }
        // Column at a time: size every row's key, then write each column's part
        // of every row in place (no per-value appends).
        var offsets = [Int](repeating: 0, count: n + 1)
        for c in columns {
            switch c.data {
            case .string(let s):
                for i in 0..<n { offsets[i + 1] += c.isNull(i) ? 1 : 5 + s.offsets[i + 1] - s.offsets[i] }
            default:
                let w = Keys.width(c)
                if c.validity == nil && c.type != .null { for i in 0..<n { offsets[i + 1] += 1 + w } }
                else { for i in 0..<n { offsets[i + 1] += c.type == .null || c.isNull(i) ? 1 : 1 + w } }
            }
        }
        for i in 0..<n { offsets[i + 1] += offsets[i] }
        var arena = [UInt8](repeating: 0, count: offsets[n])
        var cursor = Array(offsets.dropLast())
        arena.withUnsafeMutableBytes { out in
            for c in columns { Keys.write(c, out, &cursor) }
        }
        var h = [UInt64](repeating: 0, count: n)
        arena.withUnsafeBytes { raw in
            for i in 0..<n { h[i] = Hashing.hash(bytes: UnsafeRawBufferPointer(rebasing: raw[offsets[i]..<offsets[i + 1]])) }
        }
        storage = .bytes(offsets: offsets, arena: arena)
        hashes = h
    }

    static func width(_ c: Column) -> Int {
        switch c.data {
        case .bool: return 1
        case .int32: return 4
        case .int64, .double: return 8
        case .int128, .interval: return 16
        case .string: return 0
        }
    }

    /// Writes column c's part of every row's key at `cursor[row]`, advancing it.
    static func write(_ c: Column, _ out: UnsafeMutableRawBufferPointer, _ cursor: inout [Int]) {
        let n = c.count
        let allValid = c.validity == nil && c.type != .null
        @inline(__always) func put<T>(_ a: Buffer<T>, _ transform: (T) -> T = { $0 }) {
            let size = MemoryLayout<T>.size
            a.withUnsafeBufferPointer { src in
                for i in 0..<n {
                    let at = cursor[i]
                    if !allValid && (c.type == .null || c.isNull(i)) { out[at] = 0; cursor[i] = at + 1; continue }
                    out[at] = 1
                    out.storeBytes(of: transform(src[i]), toByteOffset: at + 1, as: T.self)
                    cursor[i] = at + 1 + size
                }
            }
        }
        switch c.data {
        case .bool(let a): put(a)
        case .int32(let a): put(a)
        case .int64(let a): put(a)
        case .int128(let a): put(a)
        case .double(let a): put(a) { $0 == 0 ? 0 : ($0.isNaN ? .nan : $0) }
        case .interval(let a): put(a)
        case .string(let s):
            s.bytes.withUnsafeBytes { bytes in
                for i in 0..<n {
                    let at = cursor[i]
                    if !allValid && c.isNull(i) { out[at] = 0; cursor[i] = at + 1; continue }
                    let lo = s.offsets[i], len = s.offsets[i + 1] - lo
                    out[at] = 1
                    out.storeBytes(of: UInt32(len), toByteOffset: at + 1, as: UInt32.self)
                    if len > 0 { (out.baseAddress! + at + 5).copyMemory(from: bytes.baseAddress! + lo, byteCount: len) }
                    cursor[i] = at + 5 + len
                }
            }
        }
    }

}

/// Open-addressing hash table from keys to dense ids 0, 1, 2, ... in insertion
/// order; the aggregate's groups and the join's distinct build keys. A slot
/// holds the key itself (integer mode) or its hash (byte keys, whose bytes
/// sit in an arena by id) next to the id, so a probe touches one cache line.
/// Slots are plain memory read through local pointers: the hot loops pay no
/// array bounds or exclusivity checks. One writer; once built, any number of
/// readers (`insert: false`) at once.
final class KeyTable: @unchecked Sendable {
    private struct Slot {
        var key: UInt64     // the integer key's bits, or the byte key's hash
        var id: Int32       // -1: empty
    }
    private(set) var count = 0
    private var slots: UnsafeMutablePointer<Slot>
    private var capacity: Int
    /// Byte keys by id: bytes [byteOffsets[id], byteOffsets[id + 1]) of `arena`.
    private var byteOffsets: [Int] = [0]
    private var arena: [UInt8] = []
    /// Id of the NULL key: it takes an id but no slot (NULL groups with NULL).
    private var nullID: Int32 = -1
    let integerMode: Bool

    init(integerMode: Bool, capacity: Int = 1024) {
        self.integerMode = integerMode
        var cap = 16
        while cap < capacity * 2 { cap <<= 1 }
        self.capacity = cap
        slots = .allocate(capacity: cap)
        slots.initialize(repeating: Slot(key: 0, id: -1), count: cap)
    }

    deinit { slots.deallocate() }

    private func grow() {
        let old = slots, oldCapacity = capacity
        capacity *= 2
        let mask = capacity - 1
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(key: 0, id: -1), count: capacity)
        for k in 0..<oldCapacity where old[k].id >= 0 {
            let h = integerMode ? Hashing.mix(old[k].key) : old[k].key
            var s = Int(truncatingIfNeeded: h) & mask
            while slots[s].id >= 0 { s = (s + 1) & mask }
            slots[s] = old[k]
        }
        old.deallocate()
    }

    /// Ids for every row of `keys`; inserts unseen keys when `insert`, else -1 for them.
    /// Rows with a NULL key get -1 when `nullsMatch` is false (join semantics).
    func ids(_ keys: Keys, insert: Bool, nullsMatch: Bool) -> [Int32] {
        let n = keys.count
        return [Int32](uninitializedCount: n) { out, initialized in
            out.initialize(repeating: -1)
            keys.hashes.withUnsafeBufferPointer { hashes in
                switch keys.storage {
                case .ints(let v):
                    v.withUnsafeBufferPointer { v in
                        var i = 0
                        while i < n {
                            // Insert one row at a time; the table may grow under it.
                            i = lookupInts(v, hashes, keys.nulls, from: i, out, insert: insert, nullsMatch: nullsMatch)
                        }
                    }
                case .bytes(let offsets, let bytes):
                    lookupBytes(offsets, bytes, hashes, keys.nulls, out, insert: insert, nullsMatch: nullsMatch)
                }
            }
            initialized = n
        }
    }

    /// Rows `from...` of integer keys until one needs the table to grow; returns where it stopped.
    private func lookupInts(_ v: UnsafeBufferPointer<Int64>, _ hashes: UnsafeBufferPointer<UInt64>, _ nulls: [Bool]?, from: Int,
                            _ out: UnsafeMutableBufferPointer<Int32>, insert: Bool, nullsMatch: Bool) -> Int {
        let slots = self.slots, mask = capacity - 1
        var count = self.count
        defer { self.count = count }
        var i = from
        while i < v.count {
            if let nulls, nulls[i] {
                if nullsMatch {
                    if nullID < 0, insert { nullID = Int32(count); count += 1 }
                    out[i] = nullID
                }
                i += 1
                continue
            }
            let key = UInt64(bitPattern: v[i])
            var s = Int(truncatingIfNeeded: hashes[i]) & mask
            while true {
                let slot = slots[s]
                if slot.id < 0 {
                    if insert {
                        slots[s] = Slot(key: key, id: Int32(count))
                        out[i] = Int32(count)
                        count += 1
                        if count * 2 > capacity {
                            self.count = count
                            grow()
                            return i + 1
                        }
                    }
                    break
                }
                if slot.key == key { out[i] = slot.id; break }
                s = (s + 1) & mask
            }
            i += 1
        }
        return i
    }

    private func lookupBytes(_ offsets: [Int], _ bytes: [UInt8], _ hashes: UnsafeBufferPointer<UInt64>, _ nulls: [Bool]?,
                             _ out: UnsafeMutableBufferPointer<Int32>, insert: Bool, nullsMatch: Bool) {
        // The arena moves to a local while rows are added, so appends do not copy it.
        var arena = self.arena, byteOffsets = self.byteOffsets
        self.arena = []
        self.byteOffsets = []
        defer { self.arena = arena; self.byteOffsets = byteOffsets }
        bytes.withUnsafeBytes { raw in
            for i in 0..<hashes.count {
                if !nullsMatch, let nulls, nulls[i] { continue }
                let h = hashes[i]
                let key = UnsafeRawBufferPointer(rebasing: raw[offsets[i]..<offsets[i + 1]])
                var s = Int(truncatingIfNeeded: h) & (capacity - 1)
                while true {
                    let slot = slots[s]
                    if slot.id < 0 {
                        if insert {
                            slots[s] = Slot(key: h, id: Int32(count))
                            out[i] = Int32(count)
                            arena.append(contentsOf: key)
                            byteOffsets.append(arena.count)
                            count += 1
                            if count * 2 > capacity { grow() }
                        }
                        break
                    }
                    if slot.key == h {
                        let id = Int(slot.id), lo = byteOffsets[id], hi = byteOffsets[id + 1]
                        if hi - lo == key.count, key.isEmpty || arena.withUnsafeBytes({ memcmp($0.baseAddress! + lo, key.baseAddress!, key.count) == 0 }) {
                            out[i] = slot.id
                            break
                        }
                    }
                    s = (s + 1) & (capacity - 1)
                }
            }
        }
    }
}
