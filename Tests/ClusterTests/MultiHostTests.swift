import Foundation
import Testing

extension ClusterTests {
    /// Three hosts in network namespaces (cluster/netns-test); needs root, as CI has.
    @Suite(.serialized, .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip"),
                                 "needs root and iproute2 for network namespaces"))
    struct MultiHost {
        @Test func aJobRunsAcrossHostsSurvivesACutLinkAndTheHostRejoins() throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: repoRoot + "/cluster/netns-test")
            p.arguments = [TestCluster.binary]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            if p.terminationStatus != 0 { print(text) }
            #expect(p.terminationStatus == 0)
            #expect(text.contains("netns-test: passed"))
        }
    }
}
