import Columnar
@testable import Execution
import Foundation
import SQL
import Testing

/// A CSV or JSON Lines file read in byte ranges must give exactly what one
/// sequential read gives: the same rows in the same order, the same rejected
/// rows with the same line numbers, the same first error. Random CSV documents
/// with quoted fields holding newlines, delimiters and doubled (or escaped)
/// quotes, CRLF, blank lines, stray quotes, rows with too many or too few
/// fields and values that do not parse, split at every offset; JSON Lines
/// with blank, malformed and mistyped lines likewise.
struct RangeReadTests {
    struct Rng {
        var s: UInt64
        mutating func next(_ n: Int) -> Int {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Int((s >> 33) % UInt64(n))
        }
    }

    let schema = Schema([Field("id", .bigint), Field("name", .varchar), Field("note", .varchar)])

    func document(_ r: inout Rng, escape: Character) -> String {
        let q = escape == "\"" ? "\"\"" : "\\\""
        let quoted = ["\"two\nlines\"", "\"a,b\"", "\"say \(q)hi\(q)\"", "\"\"", "\"\n\n\"", "\"end\(q)\"", "\"x\ny,\nz\"",
                      "\"\(q)\n\(q),\n\"", "\"a \(q)b\(q)\nc\"", "\"\(q)\(q)\n\""]
        let plain = ["", "abc", "5\" pipe", "tail\r", "DELIVER IN PERSON"]
        var text = "id,name,note\n"
        for i in 0..<(4 + r.next(8)) {
            switch r.next(12) {
            case 0: text += "\n"                                        // blank line
            case 1: text += "\(i),only two\n"                           // too few fields
            case 2: text += "\(i),a,b,c,d\n"                            // too many
            case 3: text += "x\(i),\(quoted[r.next(quoted.count)]),n\n"  // id does not parse
            default:
                let fields = [String(i), r.next(2) == 0 ? quoted[r.next(quoted.count)] : plain[r.next(plain.count)],
                              r.next(2) == 0 ? quoted[r.next(quoted.count)] : plain[r.next(plain.count)]]
                text += fields.joined(separator: ",") + (r.next(4) == 0 ? "\r\n" : "\n")
            }
        }
        if r.next(3) == 0 { text.removeLast() }   // no newline at the end
        return text
    }

    /// Rows as text, the quarantined (line, reason, row) triples, and the error if the read failed.
    struct Outcome: Equatable {
        var rows: [[String]] = []
        var rejected: [String] = []
        var error: String?
    }

    func dialect(_ policy: ErrorPolicy, escape: Character) -> CSVDialect {
        CSVDialect(delimiter: 44, quote: 34, escape: escape.asciiValue!, header: true, nullString: "", onError: policy)
    }

    func rows(_ b: RecordBatch) -> [[String]] {
        (0..<b.rowCount).map { r in b.columns.indices.map { c in Columnar.render(b.columns[c].value(at: r), as: schema.fields[c].type) ?? "NULL" } }
    }

    /// The quarantine file's records, sorted (ranges read in parallel append in any order).
    func quarantined(_ path: String, of file: String) -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        // Every record starts with the data file's quoted path; rows inside may hold newlines.
        return text.components(separatedBy: "\"" + file + "\",").dropFirst().sorted()
    }

    /// Reads `file` whole, or in ranges split at `bounds` (range k read after
    /// range k-1 handed its state on; with `staggered`, each range's first
    /// batch is taken before the later ranges are read, so they run ahead of it).
    func read(_ file: DataFile, _ d: CSVDialect, quarantine: String?, bounds: [Int]?, staggered: Bool = false) -> Outcome {
        var out = Outcome()
        let q = quarantine.map { Quarantine(path: $0) }
        do {
            guard let bounds else {
                let r = try CSVReader(file: file, schema: schema, columns: [0, 1, 2], dialect: d, quarantine: q)
                while let b = try r.next() { out.rows += rows(b) }
                return out
            }
            let split = FileSplit(path: file.path, bounds: bounds, context: RunContext(cancel: Cancellation(), partitions: 2), fileSize: file.size)
            var readers: [CSVReader] = []
            var firsts: [[[String]]] = []
            for k in 0..<split.parts {
                let r = try CSVReader(file: file, schema: schema, columns: [0, 1, 2], dialect: d, quarantine: q, range: FileRange(split: split, part: k))
                readers.append(r)
                if staggered {
                    firsts.append(try r.next().map(rows) ?? [])
                } else {
                    while let b = try r.next() { out.rows += rows(b) }
                }
            }
            if staggered {
                // Later ranges first: an error there must still be reported as the first in the file.
                var parts: [[[String]]] = Array(repeating: [], count: readers.count)
                for k in readers.indices.reversed() {
                    parts[k] = firsts[k]
                    while let b = try readers[k].next() { parts[k] += rows(b) }
                }
                out.rows = parts.flatMap { $0 }
            }
        } catch {
            out.error = error.message
            out.rows = []   // which rows came before the error depends on the batches
        }
        return out
    }

    @Test(arguments: ["\"", "\\"])
    func everySplitReadsLikeOneReader(escape: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-parallel-csv-\(getpid())-\(escape == "\"" ? "q" : "b")").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var r = Rng(s: escape == "\"" ? 7 : 11)
        let esc = Character(escape)
        for round in 0..<12 {
            let path = dir + "/doc\(round).csv"
            try document(&r, escape: esc).write(toFile: path, atomically: true, encoding: .utf8)
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            let file = DataFile(path: path, size: size, partitions: [])
            for policy in [ErrorPolicy.fail, .quarantine(dir + "/q.csv")] {
                let qpath: String? = if case .quarantine(let p) = policy { p } else { nil }
                func fresh() { if let qpath { try? FileManager.default.removeItem(atPath: qpath) } }
                fresh()
                var whole = read(file, dialect(policy, escape: esc), quarantine: qpath, bounds: nil)
                whole.rejected = qpath.map { quarantined($0, of: path) } ?? []
                var splits: [[Int]] = (1..<size).map { [0, $0, size] }
                for _ in 0..<20 {
                    let a = 1 + r.next(size - 1), b = 1 + r.next(size - 1)
                    if a != b { splits.append([0, min(a, b), max(a, b), size]) }
                }
                for bounds in splits {
                    for staggered in [false, true] {
                        fresh()
                        var parts = read(file, dialect(policy, escape: esc), quarantine: qpath, bounds: bounds, staggered: staggered)
                        parts.rejected = qpath.map { quarantined($0, of: path) } ?? []
                        #expect(parts == whole, "round \(round), \(policy), split at \(bounds), staggered \(staggered)")
                        if parts != whole { return }
                    }
                }
                fresh()
            }
        }
    }

    /// A file shared out to tasks at byte offsets, each task starting from a
    /// quoting state that reads as the true one (every state agreeing on the
    /// share's first row, else followed from the file's start), reads every
    /// row once: the tasks' rows, in task order, are one reader's.
    @Test(arguments: ["\"", "\\"])
    func tasksSharingAFileReadItsRowsOnce(escape: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-task-shares-\(getpid())-\(escape == "\"" ? "q" : "b")").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var r = Rng(s: escape == "\"" ? 13 : 17)
        let esc = Character(escape)
        let d = dialect(.skip, escape: esc)
        for round in 0..<10 {
            let path = dir + "/doc\(round).csv"
            try document(&r, escape: esc).write(toFile: path, atomically: true, encoding: .utf8)
            let size = Int((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0)
            let file = DataFile(path: path, size: size, partitions: [])
            let whole = read(file, d, quarantine: nil, bounds: nil)
            for cut in 1..<size {
                var got: [[String]] = []
                for share in [0..<cut, cut..<size] {
                    let state = try FileSplit.quoteState(path: path, at: share.lowerBound, before: share.upperBound, format: .csv(d))
                    let split = FileSplit(path: path, bounds: [share.lowerBound, share.upperBound],
                                          context: RunContext(cancel: Cancellation(), partitions: 1), entryState: state, fileSize: size)
                    let reader = try CSVReader(file: file, schema: schema, columns: [0, 1, 2], dialect: d, quarantine: nil,
                                               range: FileRange(split: split, part: 0))
                    while let b = try reader.next() { got += rows(b) }
                }
                #expect(got == whole.rows, "round \(round), tasks split at byte \(cut)")
                if got != whole.rows { return }
            }
        }
    }

    func jsonDocument(_ r: inout Rng) -> String {
        var text = ""
        for i in 0..<(4 + r.next(10)) {
            switch r.next(9) {
            case 0: text += "\n"
            case 1: text += "{\"id\": \(i), \"name\": \"unterminated\n"
            case 2: text += "{\"id\": \"x\(i)\", \"name\": \"n\"}\n"
            case 3: text += "  {\"name\": \"a\\nb \\\"q\\\"\", \"id\": \(i)}\r\n"
            default: text += "{\"id\": \(i), \"name\": \"v\(r.next(100))\", \"note\": \(r.next(2) == 0 ? "null" : "\"{x}\"")}\n"
            }
        }
        if r.next(3) == 0 { text.removeLast() }
        return text
    }

    func readJSON(_ file: DataFile, _ policy: ErrorPolicy, quarantine: String?, bounds: [Int]?, staggered: Bool) -> Outcome {
        var out = Outcome()
        let format = JSONFormat(onError: policy, quarantine: quarantine.map { Quarantine(path: $0) })
        do {
            guard let bounds else {
                let r = try JSONReader(file: file, schema: schema, columns: [0, 1, 2], format: format)
                while let b = try r.next() { out.rows += rows(b) }
                return out
            }
            let split = FileSplit(path: file.path, bounds: bounds, context: RunContext(cancel: Cancellation(), partitions: 2), fileSize: file.size)
            var readers: [JSONReader] = []
            var parts: [[[String]]] = []
            for k in 0..<split.parts {
                let r = try JSONReader(file: file, schema: schema, columns: [0, 1, 2], format: format, range: FileRange(split: split, part: k))
                readers.append(r)
                parts.append(staggered ? (try r.next().map(rows) ?? []) : [])
                if !staggered { while let b = try r.next() { parts[k] += rows(b) } }
            }
            if staggered { for k in readers.indices.reversed() { while let b = try readers[k].next() { parts[k] += rows(b) } } }
            out.rows = parts.flatMap { $0 }
        } catch {
            out.error = error.message
            out.rows = []
        }
        return out
    }

    @Test func jsonLinesSplitAnywhereReadLikeOneReader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-parallel-json-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var r = Rng(s: 5)
        for round in 0..<12 {
            let path = dir + "/doc\(round).jsonl"
            try jsonDocument(&r).write(toFile: path, atomically: true, encoding: .utf8)
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            let file = DataFile(path: path, size: size, partitions: [])
            for policy in [ErrorPolicy.fail, .quarantine(dir + "/q.csv")] {
                let qpath: String? = if case .quarantine(let p) = policy { p } else { nil }
                func fresh() { if let qpath { try? FileManager.default.removeItem(atPath: qpath) } }
                fresh()
                var whole = readJSON(file, policy, quarantine: qpath, bounds: nil, staggered: false)
                whole.rejected = qpath.map { quarantined($0, of: path) } ?? []
                for x in 1..<size {
                    for staggered in [false, true] {
                        fresh()
                        var parts = readJSON(file, policy, quarantine: qpath, bounds: [0, x, size], staggered: staggered)
                        parts.rejected = qpath.map { quarantined($0, of: path) } ?? []
                        #expect(parts == whole, "round \(round), \(policy), split at \(x), staggered \(staggered)")
                        if parts != whole { return }
                    }
                }
                fresh()
            }
        }
    }
}
