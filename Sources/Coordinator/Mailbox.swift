import Foundation

/// A queue between producer threads (nng's callbacks, the journal reader)
/// and one consumer thread, which takes everything queued at once so that
/// one loop turn, and one journal commit, serves a whole batch.
final class Mailbox<Item: Sendable>: @unchecked Sendable {
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var items: [Item] = []
    private var woken = false
    private var closed = false

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

    /// No more items are expected: the consumer finishes what is queued and stops.
    func close() {
        condition.lock()
        closed = true
        condition.signal()
        condition.unlock()
    }

    var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed
    }

    /// Everything queued, waiting up to `timeout` for the first item.
    func takeAll(timeout: TimeInterval) -> [Item] {
        condition.lock()
        defer { condition.unlock() }
        if items.isEmpty && !woken && !closed {
            _ = condition.wait(until: Date(timeIntervalSinceNow: timeout))
        }
        woken = false
        let out = items
        items.removeAll(keepingCapacity: true)
        return out
    }
}
