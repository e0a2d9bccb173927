import Foundation

/// A queue between nng's callback threads (producers) and the coordinator's
/// loop thread (the one consumer), which takes everything queued at once so
/// that one loop turn, and one journal commit, serves a whole batch.
final class Mailbox<Item: Sendable>: @unchecked Sendable {
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var items: [Item] = []
    private var woken = false

    func put(_ item: Item) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Wakes the consumer without an item (shutdown, or a timer).
    func wake() {
        condition.lock()
        woken = true
        condition.signal()
        condition.unlock()
    }

    /// Everything queued, waiting up to `timeout` for the first item.
    func takeAll(timeout: TimeInterval) -> [Item] {
        condition.lock()
        defer { condition.unlock() }
        if items.isEmpty && !woken {
            _ = condition.wait(until: Date(timeIntervalSinceNow: timeout))
        }
        woken = false
        let out = items
        items.removeAll(keepingCapacity: true)
        return out
    }
}
