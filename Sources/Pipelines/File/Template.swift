/// `{{name}}` placeholders in a model's SQL. They are found by a scan that
/// knows SQL's quoting, and each is replaced by its value's typed literal,
/// never by raw text: a placeholder inside quotes or an identifier is an
/// error, because there it could only be spliced.
public enum Template {
    public struct Placeholder: Sendable, Equatable {
        public var name: String
        /// UTF-8 offsets of `{{` and just past `}}`.
        public var range: Range<Int>
        /// 1-based, inside the SQL.
        public var line: Int
        public var column: Int
    }

    public struct Problem: Error, Sendable, Equatable {
        public var message: String
        public var line: Int
        public var column: Int
    }

    /// Every placeholder in `sql`, in order.
    public static func placeholders(in sql: String) throws(Problem) -> [Placeholder] {
        let b = Array(sql.utf8)
        var found: [Placeholder] = []
        var i = 0, line = 1, lineStart = 0
        func problem(_ m: String, at p: Int) -> Problem { Problem(message: m, line: line, column: p - lineStart + 1) }
        func newline(_ p: Int) { line += 1; lineStart = p + 1 }
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\n") { newline(i); i += 1; continue }
            if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                // A quoted string or identifier; a doubled quote stays inside it.
                var j = i + 1
                while j < b.count {
                    if b[j] == c { if j + 1 < b.count && b[j + 1] == c { j += 2; continue }; break }
                    if b[j] == UInt8(ascii: "{") && j + 1 < b.count && b[j + 1] == UInt8(ascii: "{") {
                        throw problem("a {{parameter}} inside quotes would be pasted in as text; write it bare and it becomes a typed literal (DATE '…', 'text', 42)",
                                      at: j)
                    }
                    if b[j] == UInt8(ascii: "\n") { newline(j) }
                    j += 1
                }
                i = j + 1
                continue
            }
            if c == UInt8(ascii: "-") && i + 1 < b.count && b[i + 1] == UInt8(ascii: "-") {
                while i < b.count && b[i] != UInt8(ascii: "\n") { i += 1 }
                continue
            }
            if c == UInt8(ascii: "/") && i + 1 < b.count && b[i + 1] == UInt8(ascii: "*") {
                i += 2
                while i + 1 < b.count && !(b[i] == UInt8(ascii: "*") && b[i + 1] == UInt8(ascii: "/")) {
                    if b[i] == UInt8(ascii: "\n") { newline(i) }
                    i += 1
                }
                i += 2
                continue
            }
            if c == UInt8(ascii: "{") && i + 1 < b.count && b[i + 1] == UInt8(ascii: "{") {
                var j = i + 2
                while j + 1 < b.count && !(b[j] == UInt8(ascii: "}") && b[j + 1] == UInt8(ascii: "}")) && b[j] != UInt8(ascii: "\n") { j += 1 }
                guard j + 1 < b.count, b[j] == UInt8(ascii: "}") else { throw problem("`{{` without a closing `}}`", at: i) }
                let name = String(decoding: b[(i + 2)..<j], as: UTF8.self).trimmingSpaces
                guard isName(name) else { throw problem("`{{\(name)}}` is not a parameter name (letters, digits and _)", at: i) }
                found.append(Placeholder(name: name, range: i..<(j + 2), line: line, column: i - lineStart + 1))
                i = j + 2
                continue
            }
            i += 1
        }
        return found
    }

    /// `sql` with every placeholder replaced by its value's literal.
    /// `values` must hold every name `placeholders` finds.
    public static func render(_ sql: String, _ values: [String: ParamValue]) throws(Problem) -> String {
        let b = Array(sql.utf8)
        var out: [UInt8] = []
        var at = 0
        for p in try placeholders(in: sql) {
            guard let v = values[p.name] else { throw Problem(message: "parameter '\(p.name)' has no value", line: p.line, column: p.column) }
            out += b[at..<p.range.lowerBound]
            out += Array(v.sqlLiteral.utf8)
            at = p.range.upperBound
        }
        out += b[at...]
        return String(decoding: out, as: UTF8.self)
    }

    /// A value written in a partition spec: a constant, or exactly one placeholder.
    public static func partitionValue(_ text: String, _ values: [String: ParamValue]) -> String? {
        guard text.hasPrefix("{{"), text.hasSuffix("}}"), text.count >= 4 else { return text }
        return values[String(text.dropFirst(2).dropLast(2)).trimmingSpaces]?.description
    }

    /// The parameter a partition value names, if it is a placeholder.
    public static func placeholderName(_ text: String) -> String? {
        guard text.hasPrefix("{{"), text.hasSuffix("}}"), text.count >= 4 else { return nil }
        return String(text.dropFirst(2).dropLast(2)).trimmingSpaces
    }

    static func isName(_ s: String) -> Bool {
        guard let f = s.utf8.first, f == UInt8(ascii: "_") || (f | 0x20) >= UInt8(ascii: "a") && (f | 0x20) <= UInt8(ascii: "z") else { return false }
        return s.utf8.allSatisfy { $0 == UInt8(ascii: "_") || ($0 | 0x20) >= UInt8(ascii: "a") && ($0 | 0x20) <= UInt8(ascii: "z") || ($0 >= 48 && $0 <= 57) }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
