@testable import Coordinator
import Foundation
import Testing

/// The command provider against a real script that records its calls.
@Suite struct CommandProviderTests {
    func script(_ body: String) throws -> (path: String, dir: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-provider-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/scale"
        try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return (path, dir)
    }

    let context = ProviderContext(cluster: "c1", coordinator: "tcp://10.0.0.1:7070", slots: 2, workers: ["cloud-1"])

    @Test func addAndRemoveAreCalledWithTheContextOnStdin() throws {
        let (path, dir) = try script("""
            echo "$@" >> "$(dirname "$0")/calls"
            cat >> "$(dirname "$0")/stdin"; echo >> "$(dirname "$0")/stdin"
            if [ "$1" = add ]; then i=0; while [ $i -lt "$2" ]; do i=$((i+1)); echo "cloud-new-$i"; done; fi
            """)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let provider = CommandProvider(run: path, timeoutMs: 10_000)
        #expect(try provider.add(2, context).ids == ["cloud-new-1", "cloud-new-2"])
        try provider.remove(["cloud-1", "cloud-new-2"], context)
        #expect(try String(contentsOfFile: dir + "/calls", encoding: .utf8) == "add 2\nremove cloud-1 cloud-new-2\n")
        let stdin = try String(contentsOfFile: dir + "/stdin", encoding: .utf8).split(separator: "\n").map { Data($0.utf8) }
        #expect(try JSONDecoder().decode(ProviderContext.self, from: stdin[0]).count == 2)
        let removed = try JSONDecoder().decode(ProviderContext.self, from: stdin[1])
        #expect(removed.remove == ["cloud-1", "cloud-new-2"] && removed.coordinator == "tcp://10.0.0.1:7070" && removed.workers == ["cloud-1"])
    }

    @Test func aFailingOrHangingCommandIsAClearError() throws {
        let (fails, dir1) = try script("echo 'quota exceeded for instances' >&2; exit 3\n")
        defer { try? FileManager.default.removeItem(atPath: dir1) }
        #expect(throws: ProviderError.self) { try CommandProvider(run: fails, timeoutMs: 10_000).add(1, context) }
        do { _ = try CommandProvider(run: fails, timeoutMs: 10_000).add(1, context) } catch {
            #expect("\(error)" == "\(fails) add 1 failed with exit code 3: quota exceeded for instances")
        }
        let (hangs, dir2) = try script("sleep 30\n")
        defer { try? FileManager.default.removeItem(atPath: dir2) }
        do { try CommandProvider(run: hangs, timeoutMs: 300).remove(["w"], context); Issue.record("no error") } catch {
            #expect("\(error)".contains("did not finish within 0 s; killed"))
        }
        do { _ = try CommandProvider(run: "/nonexistent/scale", timeoutMs: 1000).add(1, context); Issue.record("no error") } catch {
            #expect("\(error)".hasPrefix("cannot run the autoscale command /nonexistent/scale"))
        }
    }
}
