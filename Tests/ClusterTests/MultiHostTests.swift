import Foundation
import TestSupport
import Testing

extension ClusterTests {
    /// Three hosts in network namespaces (cluster/netns-test); needs root, as CI has.
    @Suite(.serialized, .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip"),
                                 "needs root and iproute2 for network namespaces"))
    struct MultiHost {
        /// Jobs across the hosts, a cut link and its healing, and every TPC-H
        /// query at SF0.1 on the two worker hosts, whose answers must be DuckDB's.
        @Test func aJobRunsAcrossHostsSurvivesACutLinkAndTheHostRejoins() throws {
            let tpch = repoRoot + "/.build/tpch-sf0.1"
            try #require(FileManager.default.fileExists(atPath: tpch + "/lineitem.csv"), "run Benchmarks/tpch/generate 0.1 .build/tpch-sf0.1 first")
            let answers = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-netns-tpch-\(getpid())").path
            try FileManager.default.createDirectory(atPath: answers, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: answers) }

            let p = Process()
            p.executableURL = URL(fileURLWithPath: repoRoot + "/cluster/netns-test")
            p.arguments = [TestCluster.binary]
            p.environment = ProcessInfo.processInfo.environment.merging(["TPCH_DATA": tpch, "TPCH_OUT": answers]) { $1 }
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            if p.terminationStatus != 0 { print(text) }
            #expect(p.terminationStatus == 0)
            #expect(text.contains("netns-test: passed"))

            for q in TPCHAnswers.queries {
                let csv = try String(contentsOfFile: answers + "/\(q).csv", encoding: .utf8)
                for d in try TPCHAnswers.differences(q, csv: csv, repo: repoRoot) { Issue.record("on the network-namespace cluster: \(d)") }
            }
        }
    }
}
