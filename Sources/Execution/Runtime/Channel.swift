import Columnar
import Foundation

/// A bounded queue of batches from some producer threads to one consumer:
/// what an exchange is in one process. A producer blocks while it is full
/// (so a fast scan cannot run ahead of a slow consumer by more than
/// `capacity` batches); the consumer blocks while it is empty and a producer
/// is still at work. Items carry the morsel they came from, for gathers that
/// keep the input's order.
final class Channel: @unchecked Sendable, Wakeable {
    struct Item {
        var batch: RecordBatch
        var morsel: Int
    }

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var items: [Item] = []
    private var head = 0
    private var producers: Int
    private var consumerGone = false
    private let capacity: Int
    private let context: RunContext

    init(producers: Int, capacity: Int = 8, context: RunContext) {
        self.producers = producers
        self.capacity = capacity
        self.context = context
        context.register(self)
    }

    /// Queues a batch. False when nobody will read it (the consumer closed,
    /// or the run stopped); the batch is dropped.
    func send(_ batch: RecordBatch, morsel: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count - head >= capacity && !consumerGone && !context.isStopped { condition.wait() }
        if consumerGone || context.isStopped { return false }
        items.append(Item(batch: batch, morsel: morsel))
        condition.broadcast()
        return true
    }

    /// One producer has sent everything it will.
    func producerDone() {
        condition.lock()
        producers -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// The consumer wants nothing more: producers stop waiting on it.
    func closeConsumer() {
        condition.lock()
        consumerGone = true
        items.removeAll()
        head = 0
        condition.broadcast()
        condition.unlock()
    }

    /// The next item, or nil when every producer is done and all was taken,
    /// or the run stopped (the caller checks the context to tell which).
    func receive() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && producers > 0 && !context.isStopped { condition.wait() }
        guard head < items.count, !context.isStopped else { return nil }
        let item = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return item
    }

    func wake() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }
}
