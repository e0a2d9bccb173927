/// A validity bitmap: bit i set means row i holds a value (clear means NULL).
public struct Bitmap: Sendable, Equatable {
    public private(set) var words: [UInt64]
    public private(set) var count: Int

    public init(count: Int, allSet: Bool) {
        self.count = count
        words = [UInt64](repeating: allSet ? ~0 : 0, count: (count + 63) >> 6)
    }
    public init(words: [UInt64], count: Int) { self.words = words; self.count = count }

    @inline(__always) public subscript(i: Int) -> Bool {
        get { words[i >> 6] & (1 << UInt64(i & 63)) != 0 }
        set {
            if newValue { words[i >> 6] |= 1 << UInt64(i & 63) } else { words[i >> 6] &= ~(1 << UInt64(i & 63)) }
        }
    }

    public mutating func append(_ bit: Bool) {
        if count & 63 == 0 { words.append(0) }
        count += 1
        self[count - 1] = bit   // words made all-set carry set bits past the end
    }

    public mutating func reserve(_ n: Int) { words.reserveCapacity((n + 63) >> 6) }

    /// Number of clear bits (NULLs).
    public var nullCount: Int {
        var set = 0
        for (k, w) in words.enumerated() {
            let bits = k == words.count - 1 && count & 63 != 0 ? w & ((1 << UInt64(count & 63)) - 1) : w
            set += bits.nonzeroBitCount
        }
        return count - set
    }

    public static func & (a: Bitmap, b: Bitmap) -> Bitmap {
        Bitmap(words: zip(a.words, b.words).map { $0 & $1 }, count: a.count)
    }
}
