/// The scheduler's jobs by id. A dictionary of ids to slots in an array, so
/// that reading one field of a job (`jobs[id]!.pendingTasks`) borrows the job
/// in place instead of copying it out of a dictionary: the scheduler touches
/// its jobs several times per task, and those copies were a tenth of its time.
public struct JobTable: Sendable {
    private var slots: [JobID: Int] = [:]
    private var storage: [Scheduler.Job?] = []
    private var free: [Int] = []

    public init() {}

    public subscript(id: JobID) -> Scheduler.Job? {
        _read {
            if let slot = slots[id] { yield storage[slot] } else { yield nil }
        }
        _modify {
            if let slot = slots[id] {
                yield &storage[slot]
                if storage[slot] == nil {
                    slots[id] = nil
                    free.append(slot)
                }
            } else {
                var added: Scheduler.Job? = nil
                yield &added
                if let added {
                    let slot = free.popLast() ?? storage.count
                    if slot == storage.count { storage.append(added) } else { storage[slot] = added }
                    slots[id] = slot
                }
            }
        }
    }

    public var count: Int { slots.count }
    public var isEmpty: Bool { slots.isEmpty }
    public var values: [Scheduler.Job] { storage.compactMap { $0 } }
}
