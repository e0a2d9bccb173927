import Foundation
import SQL

/// A text file read in byte ranges by several readers at once, and what they
/// must agree on. Range k is bytes [b_k, b_k+1); its rows are those that
/// start after b_k and at or before b_k+1 (the first range also has the row at
/// 0), so every row belongs to exactly one range, however the ranges fall.
///
/// Where rows start depends on the quoting before them: a newline inside a
/// quoted field does not end a row. Each reader learns the quoting state at
/// its start from the range before (`state(before:)`), follows it through its
/// own bytes, which is a fast scan, and hands the state on (`handOn`) before
/// it parses, so the chain runs well ahead of the parsing. Line numbers, which
/// only error messages need, are counted on the first error.
final class FileSplit: @unchecked Sendable, Wakeable {
    let path: String
    /// b_0 = 0, ..., b_n = the file's size.
    let bounds: [Int]
    private let condition = NSCondition()
    private let context: RunContext
    // Guarded by `condition`.
    private var states: [UInt8?]
    private var firstRows: [Int?]
    private var ends: [Int?]
    private var newlines: [Int?]

    /// Whether the last range ends at the end of the file (else it is a task's share of it).
    private let reachesEnd: Bool

    /// `entryState`: the quoting state at `bounds[0]` (0 at the start of a file).
    init(path: String, bounds: [Int], context: RunContext, entryState: UInt8 = 0, fileSize: Int) {
        self.path = path
        self.bounds = bounds
        self.context = context
        reachesEnd = bounds.last == fileSize
        let n = bounds.count - 1
        states = Array(repeating: nil, count: n + 1)
        states[0] = entryState
        firstRows = Array(repeating: nil, count: n)
        ends = Array(repeating: nil, count: n)
        newlines = Array(repeating: nil, count: n)
        context.register(self)
    }

    var parts: Int { bounds.count - 1 }
    func range(_ k: Int) -> Range<Int> { bounds[k]..<bounds[k + 1] }

    /// The quoting state at the start of range `k`, once range k-1 handed it on.
    func state(before k: Int) throws(SQLError) -> UInt8 {
        condition.lock()
        defer { condition.unlock() }
        while states[k] == nil {
            if context.isStopped {
                condition.unlock()
                defer { condition.lock() }
                try context.check()
                throw SQLError.stopped
            }
            condition.wait()
        }
        return states[k]!
    }

    /// Range `k` found its first row at `firstRow` (nil: none starts in it) and ends in `state`.
    func handOn(_ k: Int, state: UInt8, firstRow: Int?) {
        condition.lock()
        states[k + 1] = state
        firstRows[k] = firstRow
        condition.broadcast()
        condition.unlock()
    }

    /// Range `k` was read to its end: its last row ended at `end`, where the
    /// next range with a row must have found its first. The last range to
    /// finish checks them all: a disagreement would mean the quoting followed
    /// between ranges differs from the parser's, and is an error, never wrong rows.
    func finished(_ k: Int, end: Int) throws(SQLError) {
        condition.lock()
        ends[k] = end
        let all = (0..<parts).allSatisfy { j in self.states[j + 1] != nil && (self.firstRows[j] == nil || self.ends[j] != nil) }
        let (ends, firstRows) = (self.ends, self.firstRows)
        condition.unlock()
        guard all else { return }
        // A share of a file ends inside it: its last row runs past the share, to where the next share's first row starts.
        var next: Int? = reachesEnd ? bounds[parts] : nil
        for j in stride(from: parts - 1, through: 0, by: -1) {
            if let e = ends[j], let next, e != next {
                throw SQLError.execution("Error in file \"\(path)\": read in parallel, the rows before byte \(bounds[j + 1]) end at byte \(e) but the next rows start at byte \(next); read it with SET threads = 1")
            }
            if let f = firstRows[j] { next = f }
        }
    }

    /// Whether range `k` was read to its end.
    func isFinished(_ k: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return ends[k] != nil
    }

    /// The first error in the ranges before `k` that are not read to their end
    /// yet, found by reading them again with `read` (one reader failing on a bad
    /// row must report the first bad row of the file, as a single reader would).
    func firstFailure(before k: Int, read: (FileRange) throws(SQLError) -> Void) -> SQLError? {
        for j in 0..<k where !isFinished(j) {
            do { try read(FileRange(split: self, part: j)) } catch { return error }
        }
        return nil
    }

    /// The line number of byte `offset`, which lies in range `k` (1 + the newlines before it).
    func line(at offset: Int, in k: Int) throws(SQLError) -> Int {
        var lines = 1
        if bounds[0] > 0 { lines += Self.countNewlines(try ByteSource.read(path, range: 0..<bounds[0])) }
        for j in 0..<k { lines += try newlineCount(j) }
        let from = bounds[k]
        if offset > from { lines += Self.countNewlines(try ByteSource.read(path, range: from..<offset)) }
        return lines
    }

    private func newlineCount(_ j: Int) throws(SQLError) -> Int {
        condition.lock()
        let known = newlines[j]
        condition.unlock()
        if let known { return known }
        let n = Self.countNewlines(try ByteSource.read(path, range: range(j)))
        condition.lock()
        newlines[j] = n
        condition.unlock()
        return n
    }

    /// Bytes after a share's start within which every possible quoting state
    /// usually agrees on where the first row starts.
    static let agreementWindow = 1 << 20

    /// A quoting state that reads a task's share of a large CSV file from byte
    /// `offset` exactly as the true state would, up to `limit` (the end of the
    /// share's first range) and past it. Tried first: start from every state
    /// the scanner has on the bytes after `offset`; when all find the same
    /// first row and end in the same state within `agreementWindow` (and
    /// `limit`), the true one does too, whichever it is, so any will do.
    /// Otherwise the state is followed from the file's start. Other formats
    /// have no state across lines.
    static func quoteState(path: String, at offset: Int, before limit: Int, format: FileFormatSpec) throws(SQLError) -> UInt8 {
        guard case .csv(let d) = format, offset > 0 else { return 0 }
        let scanner = CSVScanner(delimiter: d.delimiter, quote: d.quote, escape: d.escape)
        let end = min(limit, offset + agreementWindow)
        if end > offset {
            let bytes = try ByteSource.read(path, range: (offset - 1)..<end)
            if bytes.count == end - offset + 1 {
                let outcomes = bytes.withUnsafeBytes { p in
                    (CSVScanner.Quoting.outside...CSVScanner.Quoting.malformed).map { s in
                        scanner.follow(p, from: 1, to: p.count, state: s, previous: p[0])
                    }
                }
                if outcomes[0].firstRow != nil, outcomes.allSatisfy({ $0 == outcomes[0] }) { return CSVScanner.Quoting.outside }
            }
        }
        return try followedFromStart(path: path, at: offset, scanner: scanner)
    }

    /// The quoting state at byte `offset`, followed from the file's start.
    static func followedFromStart(path: String, at offset: Int, scanner: CSVScanner) throws(SQLError) -> UInt8 {
        var state: UInt8 = 0, previous: UInt8 = 10, at = 0
        let chunk = 8 << 20
        while at < offset {
            let bytes = try ByteSource.read(path, range: at..<min(offset, at + chunk))
            guard !bytes.isEmpty else { break }
            state = bytes.withUnsafeBytes { p in scanner.follow(p, from: 0, to: p.count, state: state, previous: previous).state }
            previous = bytes[bytes.count - 1]
            at += bytes.count
        }
        return state
    }

    static func countNewlines(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { p in
            var n = 0, i = 0
            while i < p.count, let hit = memchr(p.baseAddress! + i, 10, p.count - i) {
                n += 1
                i = p.baseAddress!.distance(to: UnsafeRawPointer(hit)) + 1
            }
            return n
        }
    }

    func wake() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }
}

/// Which part of a file a reader reads: all of it, or range `part` of a split.
struct FileRange: Sendable {
    let split: FileSplit
    let part: Int
    var bytes: Range<Int> { split.range(part) }
}
