import Foundation

/// A distinct-count sketch (HyperLogLog, 2^14 registers: about 0.8% standard
/// error). Small sets are counted exactly until they pass 1024 values; then
/// each value's 64-bit hash sets its register to the highest rank (leading
/// zeros + 1) seen. Hashes are `Keys`' (the same in every process), mixed.
struct HyperLogLog {
    static let bits = 14
    static let exactLimit = 1024
    private var exact: Set<UInt64>? = []
    private var registers: [UInt8] = []

    mutating func add(_ hash: UInt64) {
        let h = Self.mix(hash)
        if exact != nil {
            exact!.insert(h)
            if exact!.count <= Self.exactLimit { return }
            registers = [UInt8](repeating: 0, count: 1 << Self.bits)
            for x in exact! { insert(x) }
            exact = nil
            return
        }
        insert(h)
    }

    private mutating func insert(_ h: UInt64) {
        let index = Int(h >> UInt64(64 - Self.bits))
        let rest = h << UInt64(Self.bits)
        let rank = UInt8(min(rest.leadingZeroBitCount, 64 - Self.bits) + 1)
        if rank > registers[index] { registers[index] = rank }
    }

    var estimate: Int64 {
        if let exact { return Int64(exact.count) }
        let m = Double(1 << Self.bits)
        var sum = 0.0, zeros = 0
        for r in registers {
            sum += 1 / Double(UInt64(1) << UInt64(r))
            if r == 0 { zeros += 1 }
        }
        let alpha = 0.7213 / (1 + 1.079 / m)
        let raw = alpha * m * m / sum
        // Few values for this many registers: linear counting is closer.
        if raw <= 2.5 * m, zeros > 0 { return Int64((m * log(m / Double(zeros))).rounded()) }
        return Int64(raw.rounded())
    }

    /// SplitMix64's finalizer: spreads a hash's entropy over every bit.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
