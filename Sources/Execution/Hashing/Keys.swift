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
        @inline(__always) func put<T>(_ a: [T], _ transform: (T) -> T = { $0 }) {
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
/// order; the aggregate's groups and the join's distinct build keys. One instance
/// per thread (a parallel build would partition by hash and give each a table).
final class KeyTable {
    private(set) var count = 0
    private var slots: [Int32]
    private var mask: Int
    private var storedHashes: [UInt64] = []
    private var intKeys: [Int64] = []
    private var byteOffsets: [Int] = [0]
    private var arena: [UInt8] = []
    /// Id of the NULL key in integer mode: it takes an id but no slot (NULL groups with NULL).
    private var nullID: Int32 = -1
    let integerMode: Bool

    init(integerMode: Bool, capacity: Int = 1024) {
        self.integerMode = integerMode
        var cap = 16
        while cap < capacity * 2 { cap <<= 1 }
        slots = [Int32](repeating: -1, count: cap)
        mask = cap - 1
    }

    private func grow() {
        let cap = slots.count * 2
        var fresh = [Int32](repeating: -1, count: cap)
        let m = cap - 1
        for id in 0..<storedHashes.count {
            var s = Int(truncatingIfNeeded: storedHashes[id]) & m
            while fresh[s] >= 0 { s = (s + 1) & m }
            fresh[s] = Int32(id)
        }
        slots = fresh; mask = m
    }

    /// Ids for every row of `keys`; inserts unseen keys when `insert`, else -1 for them.
    /// Rows with a NULL key get -1 when `nullsMatch` is false (join semantics).
    func ids(_ keys: Keys, insert: Bool, nullsMatch: Bool) -> [Int32] {
        let n = keys.count
        var out = [Int32](repeating: -1, count: n)
        switch keys.storage {
        case .ints(let v):
            for i in 0..<n {
                if let nl = keys.nulls, nl[i] {
                    if nullsMatch {
                        if nullID < 0, insert { nullID = Int32(count); count += 1; storedHashes.append(0); intKeys.append(0) }
                        out[i] = nullID
                    }
                    continue
                }
                let h = keys.hashes[i], key = v[i]
                var s = Int(truncatingIfNeeded: h) & mask
                while true {
                    let id = slots[s]
                    if id < 0 {
                        if insert { out[i] = add(h, s) { intKeys.append(key) } }
                        break
                    }
                    if storedHashes[Int(id)] == h, intKeys[Int(id)] == key, id != nullID { out[i] = id; break }
                    s = (s + 1) & mask
                }
            }
        case .bytes(let offsets, let bytes):
            bytes.withUnsafeBytes { raw in
                for i in 0..<n {
                    if !nullsMatch, let nl = keys.nulls, nl[i] { continue }
                    let h = keys.hashes[i]
                    let key = UnsafeRawBufferPointer(rebasing: raw[offsets[i]..<offsets[i + 1]])
                    var s = Int(truncatingIfNeeded: h) & mask
                    while true {
                        let id = slots[s]
                        if id < 0 {
                            if insert { out[i] = add(h, s) { arena.append(contentsOf: key); byteOffsets.append(arena.count) } }
                            break
                        }
                        if storedHashes[Int(id)] == h, equalBytes(Int(id), key) { out[i] = id; break }
                        s = (s + 1) & mask
                    }
                }
            }
        }
        return out
    }

    @inline(__always) private func equalBytes(_ id: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        let lo = byteOffsets[id], hi = byteOffsets[id + 1]
        guard hi - lo == key.count else { return false }
        return arena.withUnsafeBytes { memcmp($0.baseAddress! + lo, key.baseAddress!, key.count) == 0 }
    }

    @inline(__always) private func add(_ h: UInt64, _ slot: Int, _ store: () -> Void) -> Int32 {
        let id = Int32(count)
        slots[slot] = id
        storedHashes.append(h)
        store()
        count += 1
        if count * 2 > slots.count { grow() }
        return id
    }
}

import Foundation
