import Foundation
import Testing

extension ClusterTests {
    @Suite(.serialized) struct Readme {
        /// The README shows the main example's output; the example must print exactly that.
        @Test func theExamplePrintsWhatTheReadmeShows() throws {
            let readme = try String(contentsOfFile: repoRoot + "/README.md", encoding: .utf8)
            let start = try #require(readme.range(of: "<!-- example-output -->\n```\n"))
            let end = try #require(readme.range(of: "```\n<!-- /example-output -->"))
            let shown = String(readme[start.upperBound..<end.lowerBound])
            let p = Process()
            p.executableURL = URL(fileURLWithPath: repoRoot + "/cluster/example")
            var env = ProcessInfo.processInfo.environment
            env["SLUICE_BIN"] = TestCluster.binary
            env["SLUICE_EXAMPLE_PORT"] = "\(freePort())"
            p.environment = env
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "cluster/example failed: \(errors)")
            #expect(printed == shown)
        }
    }
}
