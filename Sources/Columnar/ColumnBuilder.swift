/// Builds one column row by row. Keeps the validity bitmap lazily: it exists only
/// once a NULL arrives. Not thread-safe; each thread builds its own.
public struct ColumnBuilder {
    public let type: DataType
    private var bools: [Bool] = []
    private var i32: [Int32] = []
    private var i64: [Int64] = []
    private var i128: [Int128] = []
    private var doubles: [Double] = []
    private var strings = StringArrayBuilder()
    private var intervals: [Interval] = []
    private var validity: Bitmap?
    public private(set) var count = 0

    public init(type: DataType, capacity: Int = 0) {
        self.type = type
        switch type.physical {
        case .bool: bools.reserveCapacity(capacity)
        case .int32: i32.reserveCapacity(capacity)
        case .int64: i64.reserveCapacity(capacity)
        case .int128: i128.reserveCapacity(capacity)
        case .double: doubles.reserveCapacity(capacity)
        case .string: strings.offsets.reserveCapacity(capacity + 1)
        case .interval: intervals.reserveCapacity(capacity)
        }
    }

    private mutating func markValid(_ valid: Bool) {
        if !valid && validity == nil { validity = Bitmap(count: count, allSet: true) }
        validity?.append(valid)
        count += 1
    }

    public mutating func appendNull() {
        switch type.physical {
        case .bool: bools.append(false)
        case .int32: i32.append(0)
        case .int64: i64.append(0)
        case .int128: i128.append(0)
        case .double: doubles.append(0)
        case .string: strings.appendEmpty()
        case .interval: intervals.append(Interval())
        }
        markValid(false)
    }

    @inline(__always) public mutating func append(bool v: Bool) { bools.append(v); markValid(true) }
    @inline(__always) public mutating func append(int32 v: Int32) { i32.append(v); markValid(true) }
    @inline(__always) public mutating func append(int64 v: Int64) { i64.append(v); markValid(true) }
    @inline(__always) public mutating func append(int128 v: Int128) { i128.append(v); markValid(true) }
    @inline(__always) public mutating func append(double v: Double) { doubles.append(v); markValid(true) }
    @inline(__always) public mutating func append(interval v: Interval) { intervals.append(v); markValid(true) }
    @inline(__always) public mutating func append<C: Collection>(utf8 v: C) where C.Element == UInt8 {
        strings.append(utf8: v); markValid(true)
    }
    public mutating func append(string v: String) { strings.append(v); markValid(true) }

    /// Appends a value laid out for this builder's type (see `Value`).
    public mutating func append(_ v: Value) {
        switch (v, type.physical) {
        case (.null, _): appendNull()
        case (.bool(let b), .bool): append(bool: b)
        case (.int(let x), .int32): append(int32: Int32(truncatingIfNeeded: x))
        case (.int(let x), .int64): append(int64: x)
        case (.int(let x), .int128): append(int128: Int128(x))
        case (.wide(let x), .int128): append(int128: x)
        case (.wide(let x), .int64): append(int64: Int64(truncatingIfNeeded: x))
        case (.double(let d), .double): append(double: d)
        case (.string(let s), .string): append(string: s)
        case (.interval(let i), .interval): append(interval: i)
        default: preconditionFailure("value \(v) does not fit column type \(type)")
        }
    }

    public mutating func append(contentsOf c: Column) {
        let start = count
        switch c.data {
        case .bool(let a): bools.append(contentsOf: a)
        case .int32(let a): i32.append(contentsOf: a)
        case .int64(let a): i64.append(contentsOf: a)
        case .int128(let a): i128.append(contentsOf: a)
        case .double(let a): doubles.append(contentsOf: a)
        case .interval(let a): intervals.append(contentsOf: a)
        case .string(let s):
            // A slice's offsets need not start at 0: move them to this builder's bytes.
            let shift = strings.bytes.count - s.offsets[0]
            s.bytes.withUnsafeBufferPointer { strings.bytes.append(contentsOf: $0[s.usedBytes]) }
            strings.offsets.append(contentsOf: s.offsets.dropFirst().map { $0 + shift })
        }
        count += c.count
        if let v = c.validity {
            if validity == nil { validity = Bitmap(count: start, allSet: true) }
            for i in 0..<c.count { validity!.append(v[i]) }
        } else if validity != nil {
            for _ in 0..<c.count { validity!.append(true) }
        }
    }

    public mutating func finish() -> Column {
        let data: ColumnData
        switch type.physical {
        case .bool: data = .bool(bools)
        case .int32: data = .int32(i32)
        case .int64: data = .int64(i64)
        case .int128: data = .int128(i128)
        case .double: data = .double(doubles)
        case .string: data = .string(strings.finish())
        case .interval: data = .interval(intervals)
        }
        let c = Column(type: type, data: data, validity: validity)
        self = ColumnBuilder(type: type)
        return c
    }
}
