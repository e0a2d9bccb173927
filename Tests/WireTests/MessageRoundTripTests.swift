import Foundation
import Testing
@testable import Wire

@Suite struct MessageRoundTripTests {
    @Test func everyMessageSurvivesEncodeAndDecode() throws {
        #expect(try roundTripFailures() == [])
    }

    @Test func everyMessageOfTheProtoHasASample() throws {
        let proto = try String(contentsOfFile: repoRoot + "/proto/sluice.proto", encoding: .utf8)
        let declared = proto.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("message ") else { return nil }
            return String(line.dropFirst("message ".count).prefix { $0 != " " && $0 != "{" })
        }
        #expect(declared.sorted() == allMessageNames.sorted())
    }

    @Test(arguments: [
        [UInt8](), [0xFF], [0x0A, 0x05, 0x41], [0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
        Array(repeating: 0xFF, count: 64),
    ])
    func garbageIsRefusedOrHarmless(bytes: [UInt8]) {
        // Either a clear error or a value; never a crash.
        if let env = try? Envelope(decoding: bytes) { _ = env.encoded() }
    }

    @Test func truncatedEncodingsAreRefused() throws {
        let full = RegisterWorker.sample.encoded()
        var refused = 0
        for n in 1..<full.count {
            if (try? RegisterWorker(decoding: Array(full.prefix(n)))) == nil { refused += 1 }
        }
        // Every cut inside a length-delimited field must fail; cuts at field boundaries may decode.
        #expect(refused > full.count / 2)
        #expect(throws: WireError.self) { try RegisterWorker(decoding: Array(full.prefix(5))) }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? Envelope(decoding: bytes)
            _ = try? SyncReply(decoding: bytes)
            _ = try? JobSpec(decoding: bytes)
        }
    }
}

let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
    }
    fatalError("cannot find the repository root from \(#filePath)")
}()
