/// Value hashing with a fixed seed and a fixed algorithm, so a key hashes the same
/// in every process, host and release: the shuffle partitions rows by these hashes.
/// Equal values of INTEGER, BIGINT and DECIMAL (any scale) hash equal: a decimal is
/// hashed by its value with trailing fractional zeros stripped.
/// Pure functions; safe from any thread.
public enum Hashing {
    public static let seed: UInt64 = 0x5AA1_CE00_D47A_F10E
    static let nullHash: UInt64 = 0x9AE1_6A3B_2F90_404F

    /// MurmurHash3's 64-bit finalizer: full avalanche, cheap.
    @inline(__always) public static func mix(_ x: UInt64) -> UInt64 {
        var k = x
        k ^= k >> 33; k &*= 0xff51_afd7_ed55_8ccd
        k ^= k >> 33; k &*= 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }

    @inline(__always) public static func combine(_ h: UInt64, _ next: UInt64) -> UInt64 {
        mix(h &* 0x9E37_79B9_7F4A_7C15 ^ next)
    }

    @inline(__always) public static func hash(integer v: Int64) -> UInt64 { mix(UInt64(bitPattern: v) ^ seed) }

    @inline(__always) public static func hash(wide v: Int128) -> UInt64 {
        if let small = Int64(exactly: v) { return hash(integer: small) }
        return mix(UInt64(truncatingIfNeeded: v) ^ mix(UInt64(truncatingIfNeeded: v >> 64) ^ seed))
    }

    @inline(__always) public static func hash(decimal v: Int128, scale: Int) -> UInt64 {
        var v = v, s = scale
        while s > 0, v % 10 == 0 { v /= 10; s -= 1 }
        return s == 0 ? hash(wide: v) : combine(hash(wide: v), UInt64(s))
    }

    @inline(__always) public static func hash(double d: Double) -> UInt64 {
        let canonical = d == 0 ? 0 : (d.isNaN ? Double.nan : d)
        return mix(canonical.bitPattern ^ seed ^ 0xD0)
    }

    public static func hash(bytes b: UnsafeRawBufferPointer) -> UInt64 {
        var h = seed ^ UInt64(b.count) &* 0x9E37_79B9_7F4A_7C15
        var i = 0
        while i + 8 <= b.count {
            h = combine(h, b.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian)
            i += 8
        }
        if i < b.count {
            var tail: UInt64 = 0
            for k in i..<b.count { tail |= UInt64(b[k]) << UInt64((k - i) * 8) }
            h = combine(h, tail)
        }
        return mix(h)
    }

    public static func hash(_ v: Value, type: DataType) -> UInt64 {
        switch v {
        case .null: return nullHash
        case .bool(let b): return mix((b ? 1 : 2) ^ seed)
        case .int(let x):
            if case .decimal(_, let s) = type { return hash(decimal: Int128(x), scale: s) }
            return hash(integer: x)
        case .wide(let x): return hash(decimal: x, scale: type.decimalScale)
        case .double(let d): return hash(double: d)
        case .string(let s): var s = s; return s.withUTF8 { hash(bytes: UnsafeRawBufferPointer($0)) }
        case .interval(let i):
            return combine(combine(hash(integer: Int64(i.months)), hash(integer: Int64(i.days))), hash(integer: i.micros))
        }
    }
}

extension Column {
    /// Writes each row's hash into `hashes` (combining with what is there when `combine`),
    /// the vectorized form used by hash join, hash aggregate and the shuffle.
    public func hash(into hashes: inout [UInt64], combine: Bool) {
        let n = count
        if hashes.count < n { hashes.append(contentsOf: repeatElement(0, count: n - hashes.count)) }
        let scale = type.decimalScale
        let isDecimal: Bool = { if case .decimal = type { return true }; return false }()
        // NULL rows may hold any bytes in their slot; they hash as the NULL constant.
        let before: [UInt64]? = validity != nil && combine ? Array(hashes[0..<n]) : nil
        hashes.withUnsafeMutableBufferPointer { h in
            @inline(__always) func put(_ i: Int, _ x: UInt64) { h[i] = combine ? Hashing.combine(h[i], x) : x }
            switch data {
            case .bool(let a): for i in 0..<n { put(i, Hashing.mix((a[i] ? 1 : 2) ^ Hashing.seed)) }
            case .int32(let a): for i in 0..<n { put(i, Hashing.hash(integer: Int64(a[i]))) }
            case .int64(let a):
                if isDecimal && scale > 0 { for i in 0..<n { put(i, Hashing.hash(decimal: Int128(a[i]), scale: scale)) } }
                else { for i in 0..<n { put(i, Hashing.hash(integer: a[i])) } }
            case .int128(let a): for i in 0..<n { put(i, Hashing.hash(decimal: a[i], scale: scale)) }
            case .double(let a): for i in 0..<n { put(i, Hashing.hash(double: a[i])) }
            case .string(let s):
                s.bytes.withUnsafeBytes { raw in
                    for i in 0..<n { put(i, Hashing.hash(bytes: UnsafeRawBufferPointer(rebasing: raw[s.offsets[i]..<s.offsets[i + 1]]))) }
                }
            case .interval(let a):
                for i in 0..<n { put(i, Hashing.hash(.interval(a[i]), type: .interval)) }
            }
            if let v = validity {
                for i in 0..<n where !v[i] { h[i] = before.map { Hashing.combine($0[i], Hashing.nullHash) } ?? Hashing.nullHash }
            }
        }
    }
}
