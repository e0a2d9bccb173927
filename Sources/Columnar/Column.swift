/// Variable-length strings of a column: row i is bytes[offsets[i]..<offsets[i+1]]
/// (UTF-8). A slice views part of `offsets` and shares all of `bytes`, so
/// offsets need not start at 0.
public struct StringArray: Sendable {
    public let offsets: Buffer<Int>
    public let bytes: Buffer<UInt8>
    public init() { offsets = [0]; bytes = [] }
    public init(offsets: Buffer<Int>, bytes: Buffer<UInt8>) { self.offsets = offsets; self.bytes = bytes }
    public init(offsets: [Int], bytes: [UInt8]) { self.offsets = Buffer(offsets); self.bytes = Buffer(bytes) }
    public var count: Int { offsets.count - 1 }

    @inline(__always) public func range(_ i: Int) -> Range<Int> { offsets[i]..<offsets[i + 1] }
    public subscript(i: Int) -> String { withBytes(i) { String(decoding: $0, as: UTF8.self) } }

    /// Calls body with row i's bytes without copying.
    @inline(__always) public func withBytes<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let r = range(i)
        return bytes.withUnsafeBufferPointer { body(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[r]))) }
    }

    /// Rows `range`, sharing these buffers.
    public func slice(_ range: Range<Int>) -> StringArray {
        StringArray(offsets: offsets.slice(range.lowerBound..<(range.upperBound + 1)), bytes: bytes)
    }

    /// The bytes of all rows, back to back (a slice's own part of `bytes`).
    public var usedBytes: Range<Int> { offsets[0]..<offsets[count] }
}

/// Builds a StringArray by appending rows.
public struct StringArrayBuilder: Sendable {
    public var offsets: [Int] = [0]
    public var bytes: [UInt8] = []
    public init() {}
    public var count: Int { offsets.count - 1 }

    @inlinable
    public mutating func append<C: Collection>(utf8: C) where C.Element == UInt8 {
        bytes.append(contentsOf: utf8); offsets.append(bytes.count)
    }
    /// The non-generic hot path (CSV reading, gathers).
    public mutating func append(raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw); offsets.append(bytes.count)
    }
    public mutating func append(_ s: String) { var s = s; s.withUTF8 { append(utf8: $0) } }
    public mutating func appendEmpty() { offsets.append(bytes.count) }

    public func finish() -> StringArray { StringArray(offsets: offsets, bytes: bytes) }
}

/// The buffers of one column, by physical type.
public enum ColumnData: Sendable {
    case bool(Buffer<Bool>)
    case int32(Buffer<Int32>)
    case int64(Buffer<Int64>)
    case int128(Buffer<Int128>)
    case double(Buffer<Double>)
    case string(StringArray)
    case interval(Buffer<Interval>)

    // Built arrays become buffers without a copy.
    @inlinable public static func bool(_ a: [Bool]) -> ColumnData { .bool(Buffer(a)) }
    @inlinable public static func int32(_ a: [Int32]) -> ColumnData { .int32(Buffer(a)) }
    @inlinable public static func int64(_ a: [Int64]) -> ColumnData { .int64(Buffer(a)) }
    @inlinable public static func int128(_ a: [Int128]) -> ColumnData { .int128(Buffer(a)) }
    @inlinable public static func double(_ a: [Double]) -> ColumnData { .double(Buffer(a)) }
    @inlinable public static func interval(_ a: [Interval]) -> ColumnData { .interval(Buffer(a)) }
}

/// One column of a record batch: typed buffers plus an optional validity bitmap
/// (nil when no row is NULL). A value type; copies share buffers until written.
public struct Column: Sendable {
    public let type: DataType
    public var data: ColumnData
    public var validity: Bitmap?

    public init(type: DataType, data: ColumnData, validity: Bitmap? = nil) {
        self.type = type; self.data = data
        self.validity = validity.flatMap { $0.nullCount == 0 ? nil : $0 }
    }

    public var count: Int {
        switch data {
        case .bool(let a): return a.count
        case .int32(let a): return a.count
        case .int64(let a): return a.count
        case .int128(let a): return a.count
        case .double(let a): return a.count
        case .string(let s): return s.count
        case .interval(let a): return a.count
        }
    }

    @inline(__always) public func isNull(_ i: Int) -> Bool { validity.map { !$0[i] } ?? false }

    public func value(at i: Int) -> Value {
        if isNull(i) { return .null }
        switch data {
        case .bool(let a): return .bool(a[i])
        case .int32(let a): return .int(Int64(a[i]))
        case .int64(let a): return .int(a[i])
        case .int128(let a): return .wide(a[i])
        case .double(let a): return .double(a[i])
        case .string(let s): return .string(s[i])
        case .interval(let a): return .interval(a[i])
        }
    }

    /// A column of `count` copies of one value.
    public static func constant(_ v: Value, type: DataType, count: Int) -> Column {
        switch (v, type.physical) {
        case (.int(let x), .int32): return Column(type: type, data: .int32([Int32](repeating: Int32(truncatingIfNeeded: x), count: count)))
        case (.int(let x), .int64): return Column(type: type, data: .int64([Int64](repeating: x, count: count)))
        case (.int(let x), .int128): return Column(type: type, data: .int128([Int128](repeating: Int128(x), count: count)))
        case (.wide(let x), .int128): return Column(type: type, data: .int128([Int128](repeating: x, count: count)))
        case (.double(let x), .double): return Column(type: type, data: .double([Double](repeating: x, count: count)))
        case (.bool(let x), .bool): return Column(type: type, data: .bool([Bool](repeating: x, count: count)))
        default: break
        }
        var b = ColumnBuilder(type: type, capacity: count)
        for _ in 0..<count { b.append(v) }
        return b.finish()
    }

    /// Rows at `indices`, in that order. Index -1 yields NULL (outer joins use it).
    public func gather(_ indices: [Int32]) -> Column {
        var validity: Bitmap? = nil
        let hasNegative = indices.contains { $0 < 0 }
        if self.validity != nil || hasNegative {
            var v = Bitmap(count: indices.count, allSet: true)
            for (k, i) in indices.enumerated() where i < 0 || isNull(Int(i)) { v[k] = false }
            validity = v
        }
        @inline(__always) func take<T>(_ a: Buffer<T>, _ zero: T) -> [T] {
            if hasNegative { return indices.map { $0 < 0 ? zero : a[Int($0)] } }
            return [T](uninitializedCount: indices.count) { buf, n in
                a.withUnsafeBufferPointer { src in
                    for k in 0..<indices.count { (buf.baseAddress! + k).initialize(to: src[Int(indices[k])]) }
                }
                n = indices.count
            }
        }
        let data: ColumnData
        switch self.data {
        case .bool(let a): data = .bool(take(a, false))
        case .int32(let a): data = .int32(take(a, 0))
        case .int64(let a): data = .int64(take(a, 0))
        case .int128(let a): data = .int128(take(a, 0))
        case .double(let a): data = .double(take(a, 0))
        case .interval(let a): data = .interval(take(a, Interval()))
        case .string(let s):
            var offsets = [Int](repeating: 0, count: indices.count + 1)
            for (k, i) in indices.enumerated() {
                offsets[k + 1] = offsets[k] + (i < 0 ? 0 : s.offsets[Int(i) + 1] - s.offsets[Int(i)])
            }
            let bytes = [UInt8](uninitializedCount: offsets[indices.count]) { out, n in
                s.bytes.withUnsafeBytes { src in
                    for (k, i) in indices.enumerated() where i >= 0 {
                        let lo = s.offsets[Int(i)], len = offsets[k + 1] - offsets[k]
                        if len > 0 { UnsafeMutableRawPointer(out.baseAddress! + offsets[k]).copyMemory(from: src.baseAddress! + lo, byteCount: len) }
                    }
                }
                n = offsets[indices.count]
            }
            data = .string(StringArray(offsets: offsets, bytes: bytes))
        }
        return Column(type: type, data: data, validity: validity)
    }

    /// Rows whose selection flag is set.
    public func filter(_ selection: [Bool]) -> Column {
        var idx: [Int32] = []
        idx.reserveCapacity(selection.count)
        for (i, s) in selection.enumerated() where s { idx.append(Int32(i)) }
        return gather(idx)
    }

    /// Rows `range`: views of the same buffers, no copy of the values (the
    /// validity bitmap, a bit a row, is copied).
    public func slice(_ range: Range<Int>) -> Column {
        if range == 0..<count { return self }
        let data: ColumnData
        switch self.data {
        case .bool(let a): data = .bool(a.slice(range))
        case .int32(let a): data = .int32(a.slice(range))
        case .int64(let a): data = .int64(a.slice(range))
        case .int128(let a): data = .int128(a.slice(range))
        case .double(let a): data = .double(a.slice(range))
        case .interval(let a): data = .interval(a.slice(range))
        case .string(let s): data = .string(s.slice(range))
        }
        let bits = validity.map { v in
            var b = Bitmap(count: range.count, allSet: true)
            for (k, i) in range.enumerated() where !v[i] { b[k] = false }
            return b
        }
        return Column(type: type, data: data, validity: bits)
    }

    /// Appends the rows of columns of the same type, in order.
    public static func concat(_ parts: [Column], type: DataType) -> Column {
        if parts.count == 1 { return parts[0] }
        var b = ColumnBuilder(type: type, capacity: parts.reduce(0) { $0 + $1.count })
        for p in parts { b.append(contentsOf: p) }
        return b.finish()
    }
}

/// Byte-wise (UTF-8 binary) order of two strings' bytes: -1, 0 or 1. VARCHAR
/// comparison, sorting and min/max all use this one order.
public func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let m = min(a.count, b.count)
    if m > 0 {
        let c = memcmp(a.baseAddress!, b.baseAddress!, m)
        if c != 0 { return c < 0 ? -1 : 1 }
    }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}

import Foundation
