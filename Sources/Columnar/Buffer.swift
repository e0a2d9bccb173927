/// The values of one column buffer: a view of `count` elements of shared
/// storage. Slicing makes a new view of the same storage, never a copy, so a
/// column cut into pieces (LIMIT, a batch split for a channel, a decoded
/// block's columns) shares one allocation. Read-only; builders write plain
/// arrays and wrap them without copying.
public struct Buffer<Element: Sendable>: RandomAccessCollection, Sendable {
    @usableFromInline let storage: [Element]
    @usableFromInline let offset: Int
    public let count: Int

    /// Wraps an array: no copy.
    @inlinable public init(_ array: [Element]) {
        storage = array
        offset = 0
        count = array.count
    }

    @inlinable init(storage: [Element], offset: Int, count: Int) {
        self.storage = storage
        self.offset = offset
        self.count = count
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count }

    @inlinable public subscript(i: Int) -> Element {
        assert(i >= 0 && i < count, "index \(i) outside a buffer of \(count)")
        return storage[offset &+ i]
    }

    /// Elements `range` of this view, sharing its storage.
    @inlinable public func slice(_ range: Range<Int>) -> Buffer {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) of a buffer of \(count)")
        return Buffer(storage: storage, offset: offset + range.lowerBound, count: range.count)
    }

    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[offset..<(offset + count)])) }
    }

    @inlinable public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
    }

    /// The elements as an array: the storage itself when the view is all of it, else a copy.
    @inlinable public var array: [Element] {
        offset == 0 && count == storage.count ? storage : Array(storage[offset..<(offset + count)])
    }

    /// Whether this view shares its storage with `other` (for tests of copy-free slicing).
    public func sharesStorage(with other: Buffer) -> Bool {
        storage.withUnsafeBufferPointer { a in other.storage.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
    }
}

extension Buffer: ExpressibleByArrayLiteral {
    @inlinable public init(arrayLiteral elements: Element...) { self.init(elements) }
}

extension Buffer: Equatable where Element: Equatable {
    @inlinable public static func == (a: Buffer, b: Buffer) -> Bool { a.elementsEqual(b) }
}
