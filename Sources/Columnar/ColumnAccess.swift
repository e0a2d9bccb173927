extension Column {
    /// The values as doubles (decimals scaled), for floating-point kernels.
    public func doubleValues() -> [Double] {
        let scale = type.decimalScale
        let div = scale > 0 ? Double(Decimal128.pow10(scale)) : 1
        switch data {
        case .double(let a): return a.array
        case .int32(let a): return a.map { Double($0) / div }
        case .int64(let a): return scale == 0 ? a.map { Double($0) } : a.map { Double($0) / div }
        case .int128(let a): return a.map { Double($0) / div }
        default: return [Double](repeating: 0, count: count)
        }
    }

    /// Integer-like values widened to 64 bits (booleans as 0/1).
    public func int64Values() -> [Int64] {
        switch data {
        case .int64(let a): return a.array
        case .int32(let a): return a.map { Int64($0) }
        case .int128(let a): return a.map { Int64(truncatingIfNeeded: $0) }
        case .bool(let a): return a.map { $0 ? 1 : 0 }
        default: return [Int64](repeating: 0, count: count)
        }
    }

    /// Integer-like values widened to 128 bits.
    public func int128Values() -> [Int128] {
        switch data {
        case .int128(let a): return a.array
        case .int64(let a): return a.map { Int128($0) }
        case .int32(let a): return a.map { Int128($0) }
        default: return [Int128](repeating: 0, count: count)
        }
    }
}

extension Column {
    /// The first non-NULL value outside `range`, if any (checks narrow integer types held in wider words).
    public func firstIntegerOutside(_ range: ClosedRange<Int128>) -> Int128? {
        func scan<T: BinaryInteger>(_ a: Buffer<T>) -> Int128? {
            let lo = range.lowerBound, hi = range.upperBound
            for i in 0..<a.count where !isNull(i) {
                let v = Int128(a[i])
                if v < lo || v > hi { return v }
            }
            return nil
        }
        switch data {
        case .int32(let a): return range.lowerBound <= Int128(Int32.min) && range.upperBound >= Int128(Int32.max) ? nil : scan(a)
        case .int64(let a): return range.lowerBound <= Int128(Int64.min) && range.upperBound >= Int128(Int64.max) ? nil : scan(a)
        case .int128(let a): return range == Int128.min...Int128.max ? nil : scan(a)
        default: return nil
        }
    }
}
