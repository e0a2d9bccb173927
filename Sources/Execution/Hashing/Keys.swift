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

    init(_ columns: [Column]) {
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
        var offsets = [Int](repeating: 0, count: n + 1)
        var arena: [UInt8] = []
        arena.reserveCapacity(n * 8 * columns.count)
        for i in 0..<n {
            for c in columns { Keys.append(c, i, &arena) }
            offsets[i + 1] = arena.count
        }
        var h = [UInt64](repeating: 0, count: n)
        arena.withUnsafeBytes { raw in
            for i in 0..<n { h[i] = Hashing.hash(bytes: UnsafeRawBufferPointer(rebasing: raw[offsets[i]..<offsets[i + 1]])) }
        }
        storage = .bytes(offsets: offsets, arena: arena)
        hashes = h
    }

    @inline(__always) static func append(_ c: Column, _ i: Int, _ out: inout [UInt8]) {
        if c.isNull(i) || c.type == .null { out.append(0); return }
        out.append(1)
        switch c.data {
        case .bool(let a): out.append(a[i] ? 1 : 0)
        case .int32(let a): withUnsafeBytes(of: a[i]) { out.append(contentsOf: $0) }
        case .int64(let a): withUnsafeBytes(of: a[i]) { out.append(contentsOf: $0) }
        case .int128(let a): withUnsafeBytes(of: a[i]) { out.append(contentsOf: $0) }
        case .double(let a):
            let d = a[i] == 0 ? 0 : (a[i].isNaN ? .nan : a[i])
            withUnsafeBytes(of: d.bitPattern) { out.append(contentsOf: $0) }
        case .string(let s):
            let r = s.range(i)
            withUnsafeBytes(of: UInt32(r.count)) { out.append(contentsOf: $0) }
            out.append(contentsOf: s.bytes[r])
        case .interval(let a):
            withUnsafeBytes(of: a[i]) { out.append(contentsOf: $0) }
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
