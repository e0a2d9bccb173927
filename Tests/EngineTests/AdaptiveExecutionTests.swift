import Columnar
@testable import Execution
import Foundation
import SQL
import Testing

/// Adaptive execution in stages (as the cluster runs them, in one process):
/// a join on a skewed key (most rows on one key), joins of every kind, a
/// final aggregate in the join's own stage, and a grouping with many empty
/// partitions give the same answers with adaptation off, with skewed
/// partitions split, and with joins switched to broadcast; and EXPLAIN
/// ANALYZE says what changed.
@Suite(.serialized)
final class AdaptiveExecutionTests {
    let dir: String

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-adaptive-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/facts", withIntermediateDirectories: true)
        var r: UInt64 = 11
        func next(_ n: Int) -> Int { r = r &* 6364136223846793005 &+ 1442695040888963407; return Int((r >> 33) % UInt64(n)) }
        // Six files, so the map stage has six producers a skewed partition can be split by.
        for file in 0..<6 {
            var facts = "id,k,g,v\n"
            for i in 0..<4000 {
                let k = next(10) < 6 ? "7" : next(40) == 0 ? "" : String(next(300))
                facts += "\(file * 4000 + i),\(k),g\(next(3)),\(next(1000))\n"
            }
            try facts.write(toFile: dir + "/facts/part\(file).csv", atomically: true, encoding: .utf8)
        }
        var dims = "k,name\n"
        for k in 0..<300 where next(6) != 0 { dims += "\(k),name\(k % 17)\n" }
        dims += "7,seven-again\n1000,unmatched\n"
        try dims.write(toFile: dir + "/dims.csv", atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    var queries: [String] {
        let f = "'\(dir)/facts/*.csv'", d = "'\(dir)/dims.csv'"
        return [
            "SELECT f.id, d.name FROM \(f) f JOIN \(d) d ON f.k = d.k",
            "SELECT f.id, d.name FROM \(f) f LEFT JOIN \(d) d ON f.k = d.k",
            "SELECT f.id, d.k, d.name FROM \(f) f RIGHT JOIN \(d) d ON f.k = d.k",
            "SELECT f.id, d.k FROM \(f) f FULL JOIN \(d) d ON f.k = d.k",
            "SELECT d.k, d.name, f.id FROM \(d) d JOIN \(f) f ON f.k = d.k AND f.v > 500",
            "SELECT d.name, count(*), sum(f.v) FROM \(f) f JOIN \(d) d ON f.k = d.k GROUP BY d.name",
            // Grouped by the join key: the final aggregate may share the join's stage, which must then not be split.
            "SELECT f.k, count(*), max(d.name) FROM \(f) f JOIN \(d) d ON f.k = d.k GROUP BY f.k",
            "SELECT f.g, count(*) FROM \(f) f GROUP BY f.g",
            "SELECT count(*), sum(a.v) FROM \(f) a JOIN \(f) b ON a.id = b.id",
        ]
    }

    enum Mode: CaseIterable { case off, split, broadcast }

    func session(_ mode: Mode?) -> Session {
        let s = Session()
        try? s.setThreads(2)
        guard let mode else { return s }
        s.stages = StageCutter(partitions: 16, scanTasks: 6, minTaskBytes: 0)
        s.broadcastLimit = 0   // every join partitioned, so there is a shuffle to adapt
        s.adaptive.enabled = mode != .off
        s.adaptive.targetBytes = 3000
        s.adaptive.skewBytes = 2000
        s.adaptive.skewFactor = 2
        s.adaptive.broadcastBytes = mode == .broadcast ? 1 << 20 : 0
        return s
    }

    @Test func answersAreTheSameWithAndWithoutAdaptation() throws {
        let serial = session(nil)
        for sql in queries {
            let expected = try renderedRows(serial, sql).sorted { $0.lexicographicallyPrecedes($1) }
            #expect(!expected.isEmpty, "\(sql) returned nothing")
            for mode in Mode.allCases {
                let actual = try renderedRows(session(mode), sql).sorted { $0.lexicographicallyPrecedes($1) }
                #expect(sameRows(actual, expected), "\(mode): \(sql) (\(actual.count) rows, \(expected.count) expected)")
            }
        }
    }

    func explained(_ s: Session, _ sql: String) throws -> String {
        try renderedRows(s, "EXPLAIN ANALYZE " + sql).map { $0[0] }.joined(separator: "\n")
    }

    @Test func planChangesAreShownAndOnlyWhenOn() throws {
        let join = queries[0]
        let split = try explained(session(.split), join)
        #expect(split.contains("adaptive: partition") && split.contains("split into"), "\(split)")
        let broadcast = try explained(session(.broadcast), join)
        #expect(broadcast.contains("adaptive: join switched to broadcast: stage 1 (the build side)"), "\(broadcast)")
        // A FULL join replicates neither side: no split, no broadcast, but coalescing still applies.
        let full = try explained(session(.broadcast), queries[3])
        #expect(!full.contains("split into") && !full.contains("switched to broadcast"), "\(full)")
        // Three groups in sixteen partitions: the empty ones are not read.
        let groups = try explained(session(.split), queries[7])
        #expect(groups.contains("empty partitions not read"), "\(groups)")
        for sql in queries {
            let off = try explained(session(.off), sql)
            #expect(!off.contains("adaptive:"), "\(off)")
        }
    }

    @Test func settingsAreCheckedAndReset() throws {
        let s = session(.split)
        _ = try s.execute("SET adaptive = false")
        #expect(!s.adaptive.enabled)
        _ = try s.execute("SET adaptive = true; SET adaptive_partition_bytes = '2MB'; SET adaptive_skew_bytes = '1 MiB'")
        #expect(s.adaptive.enabled && s.adaptive.targetBytes == 2_000_000 && s.adaptive.skewBytes == 1 << 20)
        _ = try s.execute("RESET adaptive_partition_bytes")
        #expect(s.adaptive.targetBytes == AdaptivePolicy().targetBytes)
        for bad in ["SET adaptive = 3", "SET adaptive_partition_bytes = 'lots'", "SET adaptive_skew_factor = 0", "SET adaptive_broadcast_bytes = '1e400'"] {
            #expect(throws: SQLError.self, "\(bad)") { try s.execute(bad) }
        }
    }

    /// Every layout reads each (bucket, producer) piece of a split side exactly
    /// once, and the other side's matching buckets whole, whatever the sizes.
    @Test func layoutsCoverEveryPieceOnce() throws {
        let s = session(.split)
        let f = "'\(dir)/facts/*.csv'", d = "'\(dir)/dims.csv'"
        guard case .query(let q) = try Parser.parse("SELECT f.id, d.name FROM \(f) f JOIN \(d) d ON f.k = d.k")[0] else { return }
        let plan = try s.cut(try s.physical(q))
        let joinStage = plan.stages.first { st in st.plan.allNodes.contains { if case .hashJoin = $0.node { true } else { false } } }!
        var r: UInt64 = 5
        func next(_ n: Int) -> Int { r = r &* 6364136223846793005 &+ 1442695040888963407; return Int((r >> 33) % UInt64(n)) }
        for round in 0..<200 {
            let producers = [1 + next(8), 1 + next(8)]
            var sizes: [Int: [[UInt64]]] = [:]
            for (i, s) in [0, 1].enumerated() {
                sizes[s] = (0..<producers[i]).map { _ in (0..<16).map { _ in next(4) == 0 ? 0 : UInt64(next(round % 3 == 0 ? 100_000 : 5000)) } }
            }
            var policy = AdaptivePolicy()
            policy.targetBytes = UInt64(1 + next(20_000))
            policy.skewBytes = UInt64(next(10_000))
            policy.skewFactor = 2
            policy.broadcastBytes = next(2) == 0 ? 0 : UInt64(next(200_000))
            guard let decision = AdaptivePlanner.adapt(joinStage, sizes: sizes, policy: policy) else { continue }
            let layout = try #require(decision.stage.layout)
            #expect(layout.count == decision.stage.tasks)
            // Each task's pieces, "bucket/producer" per side.
            let reads: [[Int: Set<String>]] = layout.map { task in
                var read: [Int: Set<String>] = [0: [], 1: []]
                for slice in task {
                    for b in slice.buckets { for p in slice.producers ?? 0..<producers[slice.stage] { read[slice.stage]!.insert("\(b)/\(p)") } }
                }
                return read
            }
            // Rows join only rows of their own bucket: every pair of written pieces of a bucket meets in exactly one task.
            for b in 0..<16 {
                for p0 in 0..<producers[0] where sizes[0]![p0][b] > 0 {
                    for p1 in 0..<producers[1] where sizes[1]![p1][b] > 0 {
                        let meets = reads.filter { $0[0]!.contains("\(b)/\(p0)") && $0[1]!.contains("\(b)/\(p1)") }.count
                        #expect(meets == 1, "round \(round): bucket \(b), pieces \(p0) and \(p1) meet in \(meets) tasks: \(decision.changes)")
                    }
                }
            }
        }
    }
}
