// The scheduling state machine alone, in one process: N tasks leased to two
// workers in batches and reported back, with no sockets, journal or
// encoding. The ceiling the coordinator's shell can approach; compare with
// SchedulerBenchmark to see what the wire and the journal cost.
//
// Usage: SchedulerCoreBenchmark [TASKS] [BATCH]
import Foundation
import Scheduler

let tasks = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 1_000_000
let batch = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2])! : 64
var config = SchedulerConfig()
config.leaseAhead = batch
var s = Scheduler(config: config)
let workers = [WorkerKey(id: "a", incarnation: 1), WorkerKey(id: "b", incarnation: 1)]
var now: Millis = 0
for w in workers { _ = s.handle(.workerJoined(WorkerInfo(key: w, slots: 1), running: [], queued: [], finished: []), at: now) }
_ = s.handle(.submitted(JobID("bench"), JobPlan(stages: [.init(tasks: tasks)])), at: now)

let start = DispatchTime.now().uptimeNanoseconds
var token: UInt64 = 0
var held: [WorkerKey: [AttemptID]] = [:]
var done = 0
var events = 0
while done < tasks {
    for w in workers {
        token += 1
        let finished = (held[w] ?? []).map { Report(attempt: $0, outcome: .succeeded) }
        done += finished.count
        held[w] = []
        let actions = s.handle(.sync(w, token: token, want: batch + 1, deadline: now, started: [], finished: finished, released: []), at: now)
        events += 1
        for case .answerSync(let k, _, let given) in actions { held[k, default: []] += given.map(\.attempt) }
    }
    now += 1
}
let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
let state = s.jobs[JobID("bench")]!.state
print(String(format: "scheduler core: %d tasks in %.2f s = %.0f tasks/s (%d sync events, batch %d, job %@)",
             tasks, seconds, Double(tasks) / seconds, events, batch, state.rawValue))

// Memory per task in flight: 100,000 tasks leased to one worker with room for all of them.
var m = Scheduler(config: config)
let big = WorkerKey(id: "big", incarnation: 1)
_ = m.handle(.workerJoined(WorkerInfo(key: big, slots: 100_000), running: [], queued: [], finished: []), at: 0)
_ = m.handle(.submitted(JobID("held"), JobPlan(stages: [.init(tasks: 10_000_000)])), at: 0)
func residentBytes() -> Double {
    let fields = ((try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "").split(separator: " ")
    return fields.count > 1 ? (Double(fields[1]) ?? 0) * Double(sysconf(Int32(_SC_PAGESIZE))) : 0
}
let before = residentBytes()
_ = m.handle(.sync(big, token: 1, want: 100_000, deadline: 0, started: [], finished: [], released: []), at: 0)
let inFlight = m.jobs[JobID("held")]!.activeTasks
let bytes = residentBytes() - before
print(String(format: "scheduler core: %d tasks in flight hold %.0f bytes each (%.0f KiB per 1,000) of a 10,000,000-task job",
             inFlight, bytes / Double(inFlight), bytes / Double(inFlight) * 1000 / 1024))
