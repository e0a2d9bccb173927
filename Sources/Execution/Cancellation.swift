import Synchronization
import SQL

/// A flag Ctrl-C sets; scans check it between batches so a query stops promptly.
public final class Cancellation: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func cancel() { flag.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
    public func reset() { flag.store(false, ordering: .relaxed) }
    func check() throws(SQLError) {
        if isCancelled { throw SQLError.execution("Interrupted: query cancelled") }
    }
}
