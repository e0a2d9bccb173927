import Foundation
import Testing

/// The committed protoc-c output and Swift mirrors must be what proto/generate
/// makes from proto/sluice.proto today.
@Suite struct GeneratedCodeTests {
    @Test func committedGeneratedCodeIsFresh() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-gen-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: repoRoot + "/proto/generate")
        p.arguments = [scratch]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "proto/generate failed")
        for file in ["Sources/CSluiceProto/sluice.pb-c.c", "Sources/CSluiceProto/include/sluice.pb-c.h",
                     "Sources/CPlanProto/plan.pb-c.c", "Sources/CPlanProto/include/plan.pb-c.h",
                     "Sources/Wire/Generated/Messages.swift", "Tests/WireTests/Generated/Samples.swift"] {
            let fresh = FileManager.default.contents(atPath: scratch + "/" + file)
            let committed = FileManager.default.contents(atPath: repoRoot + "/" + file)
            #expect(fresh != nil && fresh == committed, "\(file) is stale: run proto/generate and commit the result")
        }
    }
}
