/// Where a token starts in the SQL text; errors point at it with a caret.
public struct SourceLocation: Hashable, Sendable {
    public var offset: Int
    public var line: Int
    public var column: Int
    public static let unknown = SourceLocation(offset: -1, line: 0, column: 0)
}

public enum TokenKind: Equatable, Sendable {
    case identifier(String)        // bare words, keywords included (case kept)
    case quotedIdentifier(String)  // "Name"
    case string(String)            // 'text'
    case number(String)
    case symbol(String)            // operators and punctuation
    case parameter(Int)            // $1
    case end
}

public struct Token: Sendable {
    public var kind: TokenKind
    public var location: SourceLocation
    /// The keyword spelling (upper case) of a bare word, for grammar checks.
    public var keyword: String? { if case .identifier(let s) = kind { return s.uppercased() }; return nil }
}

/// Splits SQL text into tokens. Comments (`--` and `/* */`) are skipped.
public struct Lexer {
    public static func tokenize(_ text: String) throws(SQLError) -> [Token] {
        let b = Array(text.utf8)
        var tokens: [Token] = []
        var i = 0, line = 1, lineStart = 0
        func loc(_ at: Int) -> SourceLocation { SourceLocation(offset: at, line: line, column: at - lineStart + 1) }
        func isIdentStart(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c >= 128 }
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        while i < b.count {
            let c = b[i]
            if c == 10 { i += 1; line += 1; lineStart = i; continue }
            if c == 32 || c == 9 || c == 13 { i += 1; continue }
            if c == UInt8(ascii: "-"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "-") {
                while i < b.count, b[i] != 10 { i += 1 }
                continue
            }
            if c == UInt8(ascii: "/"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "*") {
                let start = loc(i)
                i += 2
                while i + 1 < b.count, !(b[i] == UInt8(ascii: "*") && b[i + 1] == UInt8(ascii: "/")) {
                    if b[i] == 10 { line += 1; lineStart = i + 1 }
                    i += 1
                }
                guard i + 1 < b.count else { throw SQLError.syntax("unterminated /* comment", start) }
                i += 2
                continue
            }
            let start = loc(i)
            if c | 0x20 == UInt8(ascii: "e"), i + 1 < b.count, b[i + 1] == 39 {
                // E'...': a string with backslash escapes (\n, \t, \r, \\, \'), as PostgreSQL and DuckDB.
                var j = i + 2
                var bytes: [UInt8] = []
                var closed = false
                while j < b.count {
                    if b[j] == 39 {
                        if j + 1 < b.count, b[j + 1] == 39 { bytes.append(39); j += 2; continue }
                        closed = true; j += 1; break
                    }
                    if b[j] == UInt8(ascii: "\\"), j + 1 < b.count {
                        let escapes: [UInt8: UInt8] = [UInt8(ascii: "n"): 10, UInt8(ascii: "t"): 9, UInt8(ascii: "r"): 13, UInt8(ascii: "b"): 8, UInt8(ascii: "f"): 12]
                        bytes.append(escapes[b[j + 1]] ?? b[j + 1])
                        j += 2
                        continue
                    }
                    if b[j] == 10 { line += 1; lineStart = j + 1 }
                    bytes.append(b[j]); j += 1
                }
                guard closed else { throw SQLError.syntax("unterminated string literal", start) }
                tokens.append(Token(kind: .string(String(decoding: bytes, as: UTF8.self)), location: start))
                i = j
            } else if isIdentStart(c) {
                var j = i
                while j < b.count, isIdentStart(b[j]) || isDigit(b[j]) || b[j] == UInt8(ascii: "$") { j += 1 }
                tokens.append(Token(kind: .identifier(String(decoding: b[i..<j], as: UTF8.self)), location: start))
                i = j
            } else if isDigit(c) || (c == UInt8(ascii: ".") && i + 1 < b.count && isDigit(b[i + 1])) {
                var j = i
                while j < b.count, isDigit(b[j]) || b[j] == UInt8(ascii: ".") || b[j] == UInt8(ascii: "_") { j += 1 }
                if j < b.count, b[j] == UInt8(ascii: "e") || b[j] == UInt8(ascii: "E") {
                    var k = j + 1
                    if k < b.count, b[k] == UInt8(ascii: "+") || b[k] == UInt8(ascii: "-") { k += 1 }
                    if k < b.count, isDigit(b[k]) { j = k; while j < b.count, isDigit(b[j]) { j += 1 } }
                }
                let textValue = String(decoding: b[i..<j], as: UTF8.self).replacingOccurrences(of: "_", with: "")
                tokens.append(Token(kind: .number(textValue), location: start))
                i = j
            } else if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                let quote = c
                var j = i + 1
                var bytes: [UInt8] = []
                var closed = false
                while j < b.count {
                    if b[j] == quote {
                        if j + 1 < b.count, b[j + 1] == quote { bytes.append(quote); j += 2; continue }
                        closed = true; j += 1; break
                    }
                    if b[j] == 10 { line += 1; lineStart = j + 1 }
                    bytes.append(b[j]); j += 1
                }
                guard closed else {
                    throw SQLError.syntax(quote == 39 ? "unterminated string literal" : "unterminated quoted identifier", start)
                }
                let s = String(decoding: bytes, as: UTF8.self)
                tokens.append(Token(kind: quote == 39 ? .string(s) : .quotedIdentifier(s), location: start))
                i = j
            } else if c == UInt8(ascii: "$"), i + 1 < b.count, isDigit(b[i + 1]) {
                var j = i + 1
                while j < b.count, isDigit(b[j]) { j += 1 }
                guard let n = Int(String(decoding: b[(i + 1)..<j], as: UTF8.self)) else { throw SQLError.syntax("parameter number is too large", start) }
                tokens.append(Token(kind: .parameter(n), location: start))
                i = j
            } else {
                let two = i + 1 < b.count ? String(decoding: b[i...(i + 1)], as: UTF8.self) : ""
                if two == "->" { throw SQLError.unsupported("JSON path extraction (-> and ->>) is not supported yet (a later release)", start) }
                if ["<=", ">=", "<>", "!=", "||", "::", "//", "==", "!~"].contains(two) {
                    tokens.append(Token(kind: .symbol(two == "!=" ? "<>" : two == "==" ? "=" : two), location: start))
                    i += 2
                } else if "+-*/%(),.;=<>[]{}:~".utf8.contains(c) {
                    tokens.append(Token(kind: .symbol(String(UnicodeScalar(c))), location: start))
                    i += 1
                } else {
                    throw SQLError.syntax("unexpected character '\(String(UnicodeScalar(c)))'", start)
                }
            }
        }
        tokens.append(Token(kind: .end, location: loc(i)))
        return tokens
    }
}
