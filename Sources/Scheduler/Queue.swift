/// A FIFO queue over an array with a moving head: O(1) push and pop, and
/// the storage is compacted only when the dead prefix dominates.
struct Queue<Element: Sendable>: Sendable {
    private var items: [Element] = []
    private var head = 0

    var count: Int { items.count - head }
    var isEmpty: Bool { head >= items.count }

    var first: Element? { head < items.count ? items[head] : nil }

    mutating func push(_ e: Element) { items.append(e) }

    mutating func pop() -> Element? {
        guard head < items.count else { return nil }
        let e = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024, head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return e
    }
}
