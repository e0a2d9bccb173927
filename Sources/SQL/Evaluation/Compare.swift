import Columnar

/// Comparison kernels. Both sides arrive with one type (the binder casts them).
enum Compare {
    @inline(__always) static func apply<T: Comparable>(_ op: ScalarFunction, _ a: Buffer<T>, _ b: Buffer<T>) -> [Bool] {
        let n = a.count
        return [Bool](uninitializedCount: n) { out, k in
            a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in
                switch op {
                case .eq: for i in 0..<n { out[i] = a[i] == b[i] }
                case .ne: for i in 0..<n { out[i] = a[i] != b[i] }
                case .lt: for i in 0..<n { out[i] = a[i] < b[i] }
                case .le: for i in 0..<n { out[i] = a[i] <= b[i] }
                case .gt: for i in 0..<n { out[i] = a[i] > b[i] }
                default: for i in 0..<n { out[i] = a[i] >= b[i] }
                }
            } }
            k = n
        }
    }

    @inline(__always) static func apply<T: Comparable>(_ op: ScalarFunction, _ a: Buffer<T>, _ s: T) -> [Bool] {
        let n = a.count
        return [Bool](uninitializedCount: n) { out, k in
            a.withUnsafeBufferPointer { a in
                switch op {
                case .eq: for i in 0..<n { out[i] = a[i] == s }
                case .ne: for i in 0..<n { out[i] = a[i] != s }
                case .lt: for i in 0..<n { out[i] = a[i] < s }
                case .le: for i in 0..<n { out[i] = a[i] <= s }
                case .gt: for i in 0..<n { out[i] = a[i] > s }
                default: for i in 0..<n { out[i] = a[i] >= s }
                }
            }
            k = n
        }
    }

    static func outcome(_ op: ScalarFunction, _ c: Int) -> Bool {
        switch op {
        case .eq: return c == 0
        case .ne: return c != 0
        case .lt: return c < 0
        case .le: return c <= 0
        case .gt: return c > 0
        default: return c >= 0
        }
    }

    static func validity(_ a: Column, _ b: Column) -> Bitmap? {
        switch (a.validity, b.validity) {
        case (nil, nil): return nil
        case (let x?, nil): return x
        case (nil, let y?): return y
        case (let x?, let y?): return x & y
        }
    }

    static func columns(_ op: ScalarFunction, _ a: Column, _ b: Column) throws(SQLError) -> Column {
        if a.type == .null || b.type == .null { return Column.constant(.null, type: .boolean, count: a.count) }
        let out: [Bool]
        switch (a.data, b.data) {
        case (.bool(let x), .bool(let y)): out = apply(op, Buffer(x.map { $0 ? 1 : 0 }), Buffer(y.map { $0 ? 1 : 0 }))
        case (.int32(let x), .int32(let y)): out = apply(op, x, y)
        case (.int64(let x), .int64(let y)): out = apply(op, x, y)
        case (.int128(let x), .int128(let y)): out = apply(op, x, y)
        case (.double(let x), .double(let y)): out = apply(op, x, y)
        case (.interval(let x), .interval(let y)): out = apply(op, x, y)
        case (.string(let x), .string(let y)):
            out = x.bytes.withUnsafeBytes { xb in y.bytes.withUnsafeBytes { yb in
                (0..<x.count).map { i in
                    outcome(op, compareBytes(UnsafeRawBufferPointer(rebasing: xb[x.range(i)]), UnsafeRawBufferPointer(rebasing: yb[y.range(i)])))
                }
            } }
        default:
            throw SQLError.execution("internal error: comparing \(a.type) with \(b.type)")
        }
        return Column(type: .boolean, data: .bool(out), validity: validity(a, b))
    }

    static func scalar(_ op: ScalarFunction, _ a: Column, _ v: Value, _ t: DataType) throws(SQLError) -> Column {
        if v.isNull || a.type == .null { return Column.constant(.null, type: .boolean, count: a.count) }
        let out: [Bool]
        switch (a.data, v) {
        case (.int32(let x), .int(let s)): out = apply(op, x, Int32(truncatingIfNeeded: s))
        case (.int64(let x), .int(let s)): out = apply(op, x, s)
        case (.int128(let x), .wide(let s)): out = apply(op, x, s)
        case (.int128(let x), .int(let s)): out = apply(op, x, Int128(s))
        case (.double(let x), .double(let s)): out = apply(op, x, s)
        case (.bool(let x), .bool(let s)): out = apply(op, Buffer(x.map { $0 ? 1 : 0 }), s ? 1 : 0)
        case (.interval(let x), .interval(let s)): out = apply(op, x, s)
        case (.string(let x), .string(let s)):
            var s = s
            out = s.withUTF8 { sb in
                x.bytes.withUnsafeBytes { xb in
                    let sraw = UnsafeRawBufferPointer(sb)
                    if op == .eq || op == .ne {
                        let want = op == .eq
                        return (0..<x.count).map { i in
                            let r = x.range(i)
                            guard r.count == sraw.count else { return !want }
                            return (r.count == 0 || memcmp(xb.baseAddress! + r.lowerBound, sraw.baseAddress!, r.count) == 0) == want
                        }
                    }
                    return (0..<x.count).map { i in outcome(op, compareBytes(UnsafeRawBufferPointer(rebasing: xb[x.range(i)]), sraw)) }
                }
            }
        default:
            return try columns(op, a, Column.constant(v, type: a.type, count: a.count))
        }
        return Column(type: .boolean, data: .bool(out), validity: a.validity)
    }
}

import Foundation
