@testable import Execution
import Testing

/// The word-at-a-time CSV scanner must split exactly as the byte-at-a-time one:
/// random rows with quoted fields, doubled quotes, newlines and delimiters in
/// quotes, CRLF, empty fields and stray quotes inside unquoted fields.
struct CSVScannerTests {
    struct Rng { var s: UInt64; mutating func next(_ n: Int) -> Int { s = s &* 6364136223846793005 &+ 1442695040888963407; return Int((s >> 33) % UInt64(n)) } }

    func randomField(_ r: inout Rng) -> String {
        let plain = ["", "a", "12.50", "1996-03-13", "DELIVER IN PERSON", "x\"y", "-5", "long text without commas at all"]
        switch r.next(5) {
        case 0: return "\"" + ["q", "a,b", "say \"\"hi\"\"", "two\nlines", ""][r.next(5)] + "\""
        default: return plain[r.next(plain.count)]
        }
    }

    @Test func fastAndSlowPathsSplitTheSame() {
        var r = Rng(s: 42)
        for round in 0..<300 {
            var text = ""
            for _ in 0..<(1 + r.next(6)) {
                text += (0..<(1 + r.next(7))).map { _ in randomField(&r) }.joined(separator: ",")
                if r.next(5) == 0 { text += "," }   // a trailing delimiter
                text += r.next(4) == 0 ? "\r\n" : "\n"
            }
            let bytes = Array(text.utf8)
            let s = CSVScanner(delimiter: 44, quote: 34, escape: 34)
            // Recording only the first `keep` fields of a row must not change where it
            // ends, how many fields it has, or the fields it does record.
            for keep in [1, 2, 3, Int.max] {
                var pos = 0
                bytes.withUnsafeBytes { p in
                    while pos < p.count {
                        let fast = FieldTable(capacity: 8), slow = FieldTable(capacity: 8)
                        let a = s.scan(p, from: pos, atEOF: true, into: fast, keep: keep)
                        let b = s.scanSlow(p, from: pos, atEOF: true, into: slow)
                        switch (a, b) {
                        case (.row(let e1, let n1, let fields, let lastEmpty), .row(let e2, let n2, _, _)):
                            let last = slow.count - 1
                            let slowEmpty = slow.count > 0 && slow.starts[last] == slow.ends[last] && slow.flags[last] == 0
                            #expect(e1 == e2 && n1 == n2, "round \(round) keep \(keep): row end \(e1)/\(e2)")
                            #expect(fields == slow.count && lastEmpty == slowEmpty, "round \(round) keep \(keep): \(fields) fields, \(slow.count) expected")
                            #expect(fast.count == slow.count || fast.count == min(keep, slow.count), "round \(round) keep \(keep): \(fast.count) recorded")
                            for k in 0..<min(fast.count, slow.count) {
                                #expect(fast.starts[k] == slow.starts[k] && fast.ends[k] == slow.ends[k] && fast.flags[k] == slow.flags[k], "round \(round) field \(k)")
                            }
                            pos = e1
                        case (.malformed(_, let e1, _), .malformed(_, let e2, _)):
                            #expect(e1 == e2)
                            pos = e1
                        default:
                            Issue.record("round \(round) keep \(keep): outcomes differ at \(pos)")
                            return
                        }
                    }
                }
            }
        }
    }
}

import Foundation

/// A data file that shrinks while it is read is an error that names it, never a crash.
@Suite struct TruncatedFileTests {
    @Test func aFileTruncatedWhileItIsReadIsAnErrorNamingIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-trunc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/big.csv"
        let line = Array("1,abcdefghijklmnopqrstuvwxyz,3.5\n".utf8)
        var data: [UInt8] = []
        let chunk = 1 << 20
        while data.count < 3 * chunk { data += line }
        try Data(data).write(to: URL(fileURLWithPath: path))
        let source = try ByteSource(path: path, chunkSize: chunk)
        var buffer: [UInt8] = []
        #expect(try source.read(into: &buffer))
        // Another process cuts the file short mid-read.
        #expect(truncate(path, off_t(chunk + 100)) == 0)
        do {
            while try source.read(into: &buffer) {}
            Issue.record("a truncated file read to its end without an error")
        } catch {
            #expect("\(error)".contains("big.csv"))
            #expect("\(error)".contains("truncated while it was read"))
        }
    }

    @Test func aRangeOfATruncatedFileIsAnErrorNamingIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-trunc-range-\(UUID().uuidString).csv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(repeating: 65, count: 1000).write(to: URL(fileURLWithPath: path))
        #expect(try ByteSource.read(path, range: 100..<1000).count == 900)
        do {
            _ = try ByteSource.read(path, range: 500..<2000)
            Issue.record("read past the end of the file")
        } catch {
            #expect("\(error)".contains("truncated while it was read"), "\(error)")
        }
    }

    @Test func readAllStopsAtItsLimit() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-limit-\(UUID().uuidString).txt").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(repeating: 65, count: 10_000).write(to: URL(fileURLWithPath: path))
        #expect(try ByteSource.readAll(path, limit: 1234).count == 1234)
        #expect(try ByteSource.readAll(path).count == 10_000)
    }
}
