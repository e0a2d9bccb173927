/// Exact decimal arithmetic on unscaled 128-bit integers (a DECIMAL(p,s) value v means v / 10^s).
public enum Decimal128 {
    /// 10^0 ... 10^38.
    public static let powersOfTen: [Int128] = {
        var p: [Int128] = [1]
        for _ in 1...38 { p.append(p.last! * 10) }
        return p
    }()

    public static func pow10(_ n: Int) -> Int128 { powersOfTen[n] }

    /// Largest unscaled magnitude a DECIMAL of `precision` digits holds.
    public static func maxUnscaled(precision: Int) -> Int128 { powersOfTen[precision] - 1 }

    /// Changes scale; rounds half away from zero when scale shrinks (DuckDB's rule).
    /// Nil when the value does not fit 128 bits at the new scale.
    public static func rescale(_ v: Int128, from: Int, to: Int) -> Int128? {
        if to == from { return v }
        if to > from {
            let (r, overflow) = v.multipliedReportingOverflow(by: powersOfTen[to - from])
            return overflow ? nil : r
        }
        let d = powersOfTen[from - to]
        let (q, r) = v.quotientAndRemainder(dividingBy: d)
        if r.magnitude * 2 >= d.magnitude { return v < 0 ? q - 1 : q + 1 }
        return q
    }

    public static func format(_ v: Int128, scale: Int) -> String {
        if scale == 0 { return String(v) }
        let negative = v < 0
        var digits = String(v.magnitude)
        if digits.count <= scale { digits = String(repeating: "0", count: scale - digits.count + 1) + digits }
        let cut = digits.index(digits.endIndex, offsetBy: -scale)
        return (negative ? "-" : "") + digits[..<cut] + "." + digits[cut...]
    }

    /// Parses `-12.345`, `1e3`-free decimal text into an unscaled value at `scale`.
    /// Extra fractional digits are rounded; returns nil on malformed text.
    public static func parse<S: StringProtocol>(_ text: S, scale: Int) -> Int128? {
        Array(text.utf8).withUnsafeBytes { parse(utf8: $0, scale: scale) }
    }

    /// The hot path of CSV reading: parses without allocating.
    public static func parse(utf8 b: UnsafeRawBufferPointer, scale: Int) -> Int128? {
        parseUnscaled(b, scale: scale, maxDigits: 38)
    }

    /// The 64-bit form for DECIMAL(p <= 18), same rounding.
    public static func parse64(utf8 b: UnsafeRawBufferPointer, scale: Int) -> Int64? {
        // The common shape, [-]digits[.digits] with no more fraction digits than
        // the scale and no spaces, in one pass; anything else goes the general way.
        let n = b.count
        var i = 0
        let negative = n > 0 && b[0] == 45
        if negative { i = 1 }
        var v: Int64 = 0, digits = 0
        while i < n, case let d = b[i] &- 48, d < 10 { v = v &* 10 &+ Int64(d); digits += 1; i += 1 }
        var fraction = 0
        if i < n, b[i] == 46 {
            i += 1
            while i < n, fraction < scale, case let d = b[i] &- 48, d < 10 { v = v &* 10 &+ Int64(d); fraction += 1; i += 1 }
        }
        if i == n, digits + fraction > 0, digits + scale <= 18 {
            for _ in fraction..<scale { v &*= 10 }
            return negative ? -v : v
        }
        return parseUnscaled(b, scale: scale, maxDigits: 18)
    }

    /// `-12.345` as an unscaled integer at `scale`: spaces around are allowed,
    /// extra fractional digits round half away from zero, and nil means
    /// malformed text or more than `maxDigits` digits once scaled.
    @inline(__always)
    static func parseUnscaled<T: FixedWidthInteger & SignedInteger>(_ b: UnsafeRawBufferPointer, scale: Int, maxDigits: Int) -> T? {
        var i = 0, n = b.count
        while i < n, b[i] == 32 { i += 1 }
        while n > i, b[n - 1] == 32 { n -= 1 }
        guard i < n else { return nil }
        var negative = false
        if b[i] == 45 { negative = true; i += 1 } else if b[i] == 43 { i += 1 }
        var value: T = 0
        var digits = 0, fraction = 0, seenDot = false, roundUp = false, any = false
        while i < n {
            let c = b[i]
            let d = c &- 48
            if d < 10 {
                any = true
                if !seenDot || fraction < scale {
                    value = value &* 10 &+ T(d); digits += 1
                    if seenDot { fraction += 1 }
                    if digits > maxDigits { return nil }
                } else if fraction == scale { roundUp = d >= 5; fraction += 1 }
            } else if c == 46, !seenDot {
                seenDot = true
            } else { return nil }
            i += 1
        }
        guard any, digits + (scale - min(fraction, scale)) <= maxDigits else { return nil }
        var have = min(fraction, scale)
        while have < scale { value = value &* 10; have += 1 }
        if roundUp { value += 1 }
        return negative ? -value : value
    }
}
