import Testing
@testable import Scheduler

/// Drives a scheduler with events, checking its invariants after every step.
struct Harness {
    var s: Scheduler
    var now: Millis = 1_000_000
    var token: UInt64 = 0

    init(_ configure: (inout SchedulerConfig) -> Void = { _ in }) {
        var c = SchedulerConfig()
        c.leaseAhead = 0
        configure(&c)
        s = Scheduler(config: c)
    }

    @discardableResult
    mutating func on(_ event: Event, sourceLocation: SourceLocation = #_sourceLocation) -> [Action] {
        let actions = s.handle(event, at: now)
        let problems = s.invariantViolations()
        #expect(problems == [], "invariants after \(event)", sourceLocation: sourceLocation)
        return actions
    }

    mutating func advance(_ ms: Millis) -> [Action] {
        now += ms
        return on(.tick)
    }

    mutating func join(_ id: String, slots: Int = 2, incarnation: UInt64 = 1, capabilities: Set<String> = []) -> WorkerKey {
        let key = WorkerKey(id: id, incarnation: incarnation)
        on(.workerJoined(WorkerInfo(key: key, slots: slots, capabilities: capabilities), running: [], queued: [], finished: []))
        return key
    }

    /// A sync asking for `want` tasks; returns the tasks it was answered with now (nil: parked).
    mutating func sync(_ key: WorkerKey, want: Int, wait: Millis = 0, started: [AttemptID] = [], finished: [Report] = [], released: [AttemptID] = []) -> [Assignment]? {
        token += 1
        let t = token
        let actions = on(.sync(key, token: t, want: want, deadline: now + wait, started: started, finished: finished, released: released))
        for a in actions { if case .answerSync(_, t, let given) = a { return given } }
        return nil
    }

    func job(_ id: String) -> Scheduler.Job { s.jobs[JobID(id)]! }
}

func ok(_ a: AttemptID) -> Report { Report(attempt: a, outcome: .succeeded) }
func failed(_ a: AttemptID, _ why: String = "boom") -> Report { Report(attempt: a, outcome: .failed(reason: why, exitCode: 1)) }

extension Array where Element == Action {
    var jobEnds: [(JobID, JobState, String)] {
        compactMap { if case .jobEnded(let j, let s, let r) = $0 { return (j, s, r) } else { return nil } }
    }
    var cancels: [WorkerKey: [AttemptID]] {
        var out: [WorkerKey: [AttemptID]] = [:]
        for a in self { if case .cancel(let w, let list) = a { out[w, default: []] += list.map(\.attempt) } }
        return out
    }
    /// Attempts that ended (or were re-adopted) in these actions, with their new state.
    var ended: [AttemptID: AttemptState] {
        var out: [AttemptID: AttemptState] = [:]
        for a in self { if case .attemptEnded(let e) = a { out[e.attempt] = e.state } }
        return out
    }
    func answers(_ token: UInt64) -> [Assignment]? {
        for a in self { if case .answerSync(_, token, let given) = a { return given } }
        return nil
    }
}

/// `#require` for values produced by mutating calls (which the macro cannot wrap).
func need<T>(_ value: T?, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
    try #require(value, sourceLocation: sourceLocation)
}
