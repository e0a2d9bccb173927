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
