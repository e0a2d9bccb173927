import Foundation
import Synchronization

/// Threads a daemon owns and joins on shutdown: each runs its body once, and
/// `join` returns when every body has returned (or the timeout passed).
public final class ThreadGroup: Sendable {
    private let group = DispatchGroup()
    private let running = Mutex<Set<String>>([])

    public init() {}

    /// Starts a named thread running `body`.
    public func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        group.enter()
        running.withLock { _ = $0.insert(name) }
        let t = Thread { [self] in
            body()
            running.withLock { _ = $0.remove(name) }
            group.leave()
        }
        t.name = name
        t.start()
    }

    /// Waits for every thread; returns the names of those still running at the timeout.
    @discardableResult
    public func join(timeout: TimeInterval) -> [String] {
        if group.wait(timeout: .now() + timeout) == .success { return [] }
        return running.withLock { $0.sorted() }
    }
}
