extension Array {
    /// `Array(unsafeUninitializedCapacity:initializingWith:)`, except that a
    /// capacity of zero makes `[]` without it: the standard library's version
    /// stores the count into the one empty-array object every thread shares,
    /// which is harmless (it writes 0 over 0) but is a data race all the same,
    /// and ThreadSanitizer reports it. The body still runs, on an empty buffer.
    @inlinable
    public init(
        uninitializedCount capacity: Int,
        initializingWith body: (inout UnsafeMutableBufferPointer<Element>, inout Int) throws -> Void
    ) rethrows {
        if capacity == 0 {
            var empty = UnsafeMutableBufferPointer<Element>(start: nil, count: 0)
            var count = 0
            try body(&empty, &count)
            self = []
        } else {
            try self.init(unsafeUninitializedCapacity: capacity, initializingWith: body)
        }
    }
}
