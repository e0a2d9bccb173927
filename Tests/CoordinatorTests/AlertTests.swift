@testable import Coordinator
import Foundation
import Testing

/// The alert rules' file format and the alert book's state machine (pure:
/// the tests give the time).
@Suite struct AlertTests {
    func rule(_ name: String, _ trigger: AlertRule.Trigger, forMs: Int64 = 0) -> AlertRule {
        var r = AlertRule(name: name, trigger: trigger)
        r.forMs = forMs
        r.log = true
        return r
    }

    @Test func aConditionFiresAfterItsForAndResolvesWhenItStops() {
        var book = AlertBook(rules: [rule("backlog", .queueDepthAbove(10), forMs: 60_000)])
        #expect(book.evaluate(now: 0, queueDepth: 11).isEmpty)          // pending
        #expect(book.evaluate(now: 59_999, queueDepth: 50).isEmpty)
        let fired = book.evaluate(now: 60_000, queueDepth: 50)
        #expect(fired.map(\.state) == ["firing"] && fired[0].subject == "queue")
        #expect(book.evaluate(now: 70_000, queueDepth: 50).isEmpty)     // once
        #expect(book.evaluate(now: 80_000, queueDepth: 10).map(\.state) == ["resolved"])
        // A dip before `for` has passed starts the wait over.
        _ = book.evaluate(now: 100_000, queueDepth: 20)
        _ = book.evaluate(now: 150_000, queueDepth: 0)
        #expect(book.evaluate(now: 170_000, queueDepth: 20).isEmpty)
        #expect(book.evaluate(now: 200_000, queueDepth: 20).isEmpty)
        #expect(book.evaluate(now: 230_000, queueDepth: 20).map(\.state) == ["firing"])
    }

    @Test func theRetryRateCountsTheLastFiveMinutes() {
        var book = AlertBook(rules: [rule("flaky", .retryRateAbove(0.2))])
        let window = AlertBook.retryWindowMs
        for i in 0..<10 { book.leased(retry: i < 3, now: 1000) }
        #expect(book.evaluate(now: 1000, queueDepth: 0).map(\.state) == ["firing"])       // 3 of 10
        for _ in 0..<10 { book.leased(retry: false, now: 2000) }
        #expect(book.evaluate(now: 2000, queueDepth: 0).map(\.state) == ["resolved"])     // 3 of 20
        for _ in 0..<4 { book.leased(retry: true, now: 3000) }
        #expect(book.evaluate(now: 3000, queueDepth: 0).map(\.state) == ["firing"])       // 7 of 24
        #expect(book.evaluate(now: 1000 + window + 1, queueDepth: 0).isEmpty)             // the first ten left: 4 of 14
        #expect(book.evaluate(now: 3000 + window + 1, queueDepth: 0).map(\.state) == ["resolved"])   // none left
    }

    @Test func eventsFireOncePerSubjectAndResolveLater() {
        var book = AlertBook(rules: [rule("jobs", .jobFailed), rule("lost", .workerLost), rule("restart", .coordinatorRestarted)])
        #expect(book.jobFailed("job-1", reason: "boom", now: 0).map(\.subject) == ["job-1"])
        #expect(book.jobFailed("job-1", reason: "boom", now: 1).isEmpty)
        #expect(book.jobFailed("job-2", reason: "boom", now: 2).count == 1)
        #expect(book.evaluate(now: AlertBook.eventHoldMs - 1, queueDepth: 0).isEmpty)
        #expect(book.evaluate(now: AlertBook.eventHoldMs + 2, queueDepth: 0).map(\.state) == ["resolved", "resolved"])
        #expect(book.workerDied("w1", now: 5).map(\.state) == ["firing"])
        #expect(book.workerDied("w1", now: 6).isEmpty)
        #expect(book.workerAlive("w2", now: 7).isEmpty)
        #expect(book.workerAlive("w1", now: 8).map(\.state) == ["resolved"])
        #expect(book.restarted(epoch: 1, now: 9).isEmpty)
        #expect(book.restarted(epoch: 2, now: 9).map(\.subject) == ["coordinator"])
        #expect(book.firingList.map(\.rule) == ["restart"])
    }

    @Test func aRulesFileIsReadOrRefusedWithItsLine() throws {
        let rules = try AlertRules.parse("""
            - name: down
              when: worker_lost
              notify: {webhook: "http://hooks.internal:9000/x", log: true}
            - name: backlog
              when: {queue_depth_above: 500}
              for: 5m
              notify: {log: true}
            - name: flaky
              when: {retry_rate_above: 0.25}
              notify: {log: true}
            """, file: "a.yaml")
        #expect(rules.map(\.name) == ["down", "backlog", "flaky"])
        #expect(rules[0].webhook == "http://hooks.internal:9000/x" && rules[1].forMs == 300_000 && rules[2].trigger == .retryRateAbove(0.25))
        #expect(try AlertRules.parse("rules: []", file: "b.yaml").isEmpty)
        for (text, line) in [("- name: a\n  when: job_failed\n  notify: {log: true}\n- name: a\n  when: job_failed\n  notify: {log: true}\n", ":4:"),
                             ("- name: a\n  when: {retry_rate_above: 2}\n  notify: {log: true}\n", ":2:"),
                             ("- name: a\n  when: job_failed\n  notify: {log: false}\n", ":3:"),
                             ("- name: a\n  when: job_failed\n  colour: red\n  notify: {log: true}\n", ":3:"),
                             ("- name: a\n  when: job_failed\n  for: 9d\n  notify: {log: true}\n", ":3:")] {
            #expect { try AlertRules.parse(text, file: "c.yaml") } throws: { "\($0)".contains("c.yaml" + line) }
        }
    }
}
