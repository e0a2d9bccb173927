import Testing
@testable import Scheduler

/// Stages the shell lays out when their inputs are done (adaptive execution):
/// the scheduler asks once the dependencies succeed, starts the stage with
/// the task count answered, and ignores answers that come at the wrong time.
struct LayoutTests {
    func layoutsNeeded(_ actions: [Action]) -> [Int] {
        actions.compactMap { if case .layoutNeeded(_, let s) = $0 { s } else { nil } }
    }

    @Test func aStageLaidOutWhenReadyRunsTheTasksTheShellAnswers() throws {
        var h = Harness()
        let a = h.join("a", slots: 4)
        let q = JobID("q")
        let submitted = h.on(.submitted(q, JobPlan(stages: [.init(tasks: 2, keepsOutputs: true),
                                                            .init(tasks: 8, dependsOn: [0], keepsOutputs: true, laidOutWhenReady: true),
                                                            .init(tasks: 1, dependsOn: [1], keepsOutputs: true)], retries: 0, deliversResult: true)))
        #expect(layoutsNeeded(submitted).isEmpty)
        // An answer before its inputs are done changes nothing.
        h.on(.stageLaidOut(q, stage: 1, tasks: 3))
        #expect(h.job("q").stages[1].total == 8 && !h.job("q").stages[1].laidOut)
        let maps = try need(h.sync(a, want: 4))
        #expect(maps.count == 2)
        let done = h.on(.sync(a, token: 77, want: 4, deadline: h.now, started: [], finished: maps.map { ok($0.attempt) }, released: []))
        #expect(layoutsNeeded(done) == [1])
        // Nothing of stage 1 is handed out while the layout is outstanding.
        #expect(try #require(done.answers(77)).isEmpty)
        #expect(h.job("q").stages[1].state == .waiting)
        // Nonsense answers are ignored: no tasks, a stage not laid out by the shell, an unknown job.
        h.on(.stageLaidOut(q, stage: 1, tasks: 0))
        h.on(.stageLaidOut(q, stage: 2, tasks: 5))
        h.on(.stageLaidOut(JobID("nope"), stage: 1, tasks: 5))
        #expect(h.job("q").stages[1].state == .waiting && h.job("q").stages[2].total == 1)
        h.on(.stageLaidOut(q, stage: 1, tasks: 3))
        #expect(h.job("q").stages[1].total == 3 && h.job("q").totalTasks == 6 && h.job("q").stages[1].state == .running)
        // A second answer does not change a stage already laid out.
        h.on(.stageLaidOut(q, stage: 1, tasks: 7))
        #expect(h.job("q").stages[1].total == 3)
        let reducers = try need(h.sync(a, want: 4))
        #expect(reducers.map(\.task.task).sorted() == [0, 1, 2])
        let last = try need(h.sync(a, want: 4, finished: reducers.map { ok($0.attempt) }))
        let end = h.on(.sync(a, token: 78, want: 0, deadline: h.now, started: [], finished: last.map { ok($0.attempt) }, released: []))
        #expect(end.contains { if case .resultReady(q) = $0 { true } else { false } })
        h.on(.resultDelivered(q))
        #expect(h.job("q").state == .succeeded && h.job("q").succeededTasks == 6)
    }
}
