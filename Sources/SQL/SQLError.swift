/// An error in a SQL statement, with where it happened when known. `render(in:)`
/// prints the offending line with a caret under the spot.
public enum SQLError: Error, Equatable, Sendable, CustomStringConvertible {
    case syntax(String, SourceLocation)
    case binder(String, SourceLocation)     // unknown names, type errors
    case execution(String)                  // runtime: overflow, bad casts, I/O
    case unsupported(String, SourceLocation)

    public var message: String {
        switch self {
        case .syntax(let m, _): return "Syntax error: \(m)"
        case .binder(let m, _): return "Binder error: \(m)"
        case .execution(let m): return m
        case .unsupported(let m, _): return "Not supported: \(m)"
        }
    }

    public var location: SourceLocation? {
        switch self {
        case .syntax(_, let l), .binder(_, let l), .unsupported(_, let l): return l.offset >= 0 ? l : nil
        case .execution: return nil
        }
    }

    public var description: String { message }

    /// The message followed by the line of `sql` it points at and a caret.
    public func render(in sql: String) -> String {
        guard let l = location else { return message }
        let lines = sql.split(separator: "\n", omittingEmptySubsequences: false)
        guard l.line >= 1, l.line <= lines.count else { return message }
        let text = String(lines[l.line - 1])
        let pad = String(text.prefix(max(0, l.column - 1)).map { $0 == "\t" ? "\t" : " " })
        return "\(message)\nLINE \(l.line): \(text)\n" + String(repeating: " ", count: "LINE \(l.line): ".count) + pad + "^"
    }
}

/// The closest candidate by edit distance, if it is close enough to be a likely typo.
public func nearestName(to name: String, among candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var prev = Array(0...b.count), cur = prev
        for i in 1...a.count {
            cur[0] = i
            for j in 1...max(1, b.count) where !b.isEmpty {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            if b.isEmpty { cur[0] = i }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
    let target = Array(name.lowercased())
    let scored = candidates.map { ($0, distance(target, Array($0.lowercased()))) }.min { $0.1 < $1.1 }
    guard let (best, d) = scored, d <= max(2, target.count / 3) else { return nil }
    return best
}
