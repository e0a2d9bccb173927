import CPCRE2

/// A compiled regular expression (PCRE2 over UTF-8). Immutable
/// once made, so one pattern serves every thread; each thread matches
/// through a `Matcher` of its own, which holds the match buffers.
public final class Pattern: @unchecked Sendable {
    public struct Options: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let caseless = Options(rawValue: PCRE2_CASELESS)
        /// `.` matches a newline too.
        public static let dotAll = Options(rawValue: PCRE2_DOTALL)
        /// `^` and `$` match at every line's start and end.
        public static let multiline = Options(rawValue: PCRE2_MULTILINE)
        /// The pattern is plain text, no metacharacters.
        public static let literal = Options(rawValue: PCRE2_LITERAL)
    }

    let code: OpaquePointer
    public let source: String
    /// Capture groups in the pattern (group 0, the whole match, not counted).
    public let groups: Int

    public init(_ pattern: String, options: Options = []) throws(PatternError) {
        var errorCode: Int32 = 0
        var errorOffset = 0
        var p = pattern
        // UTF-8 (a dot is a character, case folds across Unicode) but \w, \d and \b ASCII, as RE2 and so DuckDB.
        let flags = PCRE2_UTF | options.rawValue
        let compiled = p.withUTF8 { bytes in
            pcre2_compile_8(bytes.baseAddress ?? UnsafePointer(bitPattern: 1), bytes.count, flags,
                            &errorCode, &errorOffset, nil)
        }
        guard let compiled else {
            throw PatternError(message: "\(Self.message(errorCode)) at offset \(errorOffset) of /\(pattern)/")
        }
        code = compiled
        source = pattern
        // The JIT makes matching several times faster; without it (a host that forbids it) the interpreter runs.
        _ = pcre2_jit_compile_8(compiled, PCRE2_JIT_COMPLETE)
        var count: UInt32 = 0
        _ = pcre2_pattern_info_8(compiled, UInt32(PCRE2_INFO_CAPTURECOUNT), &count)
        groups = Int(count)
    }

    deinit { pcre2_code_free_8(code) }

    public func matcher() -> Matcher { Matcher(self) }

    static func message(_ code: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = pcre2_get_error_message_8(code, &buffer, buffer.count)
        return n > 0 ? String(decoding: buffer.prefix(Int(n)), as: UTF8.self) : "regular expression error \(code)"
    }
}

public struct PatternError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Matches one pattern against strings, reusing its buffers: one per thread.
public final class Matcher {
    public let pattern: Pattern
    private let data: OpaquePointer

    init(_ pattern: Pattern) {
        self.pattern = pattern
        data = pcre2_match_data_create_from_pattern_8(pattern.code, nil)
    }

    deinit { pcre2_match_data_free_8(data) }

    /// Byte ranges of the whole match (index 0) and each group (nil where a group took no part), from byte `start` on.
    func match(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, options: UInt32 = 0) throws(PatternError) -> [Range<Int>?]? {
        let rc = pcre2_match_8(pattern.code, bytes.baseAddress ?? UnsafePointer(bitPattern: 1), bytes.count, start, options, data, nil)
        if rc == PCRE2_ERROR_NOMATCH { return nil }
        guard rc > 0 else { throw PatternError(message: "matching /\(pattern.source)/ failed: \(Pattern.message(rc))") }
        guard let ovector = pcre2_get_ovector_pointer_8(data) else { throw PatternError(message: "matching /\(pattern.source)/ gave no match data") }
        var out: [Range<Int>?] = []
        for g in 0...pattern.groups {
            let a = ovector[2 * g], b = ovector[2 * g + 1]
            out.append(g < Int(rc) && a >= 0 && a <= b ? Int(a)..<Int(b) : nil)
        }
        return out
    }

    /// `body` over the UTF-8 bytes of `s`.
    private func utf8<R>(_ s: String, _ body: (UnsafeBufferPointer<UInt8>) throws(PatternError) -> R) throws(PatternError) -> R {
        var s = s
        var failure: PatternError?
        let r = s.withUTF8 { b -> R? in
            do throws(PatternError) { return try body(b) } catch { failure = error; return nil }
        }
        guard let r else { throw failure ?? PatternError(message: "matching /\(pattern.source)/ failed") }
        return r
    }

    /// Whether the pattern matches somewhere in `s`.
    public func contains(_ s: String) throws(PatternError) -> Bool {
        try utf8(s) { (b) throws(PatternError) in try match(b, from: 0) != nil }
    }

    /// Whether the pattern matches all of `s`.
    public func matchesWhole(_ s: String) throws(PatternError) -> Bool {
        try utf8(s) { (b) throws(PatternError) in try match(b, from: 0, options: PCRE2_ANCHORED | PCRE2_ENDANCHORED) != nil }
    }

    /// Group `group` of the first match (0: the whole match); "" when nothing
    /// matches, the group took no part or the pattern has no such group (as DuckDB).
    public func extract(_ s: String, group: Int) throws(PatternError) -> String {
        guard group >= 0 else { throw PatternError(message: "a group number cannot be negative (\(group))") }
        guard group <= pattern.groups else { return "" }
        return try utf8(s) { (b) throws(PatternError) -> String in
            guard let m = try match(b, from: 0), let r = m[group] else { return "" }
            return String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self)
        }
    }

    /// `s` with the first match (every match when `global`) replaced by
    /// `template`, where `\0`...`\9` stand for the groups and `\\` for a backslash (RE2's syntax, as DuckDB).
    public func replace(_ s: String, with template: String, global: Bool) throws(PatternError) -> String {
        let pieces = Array(template.utf8)
        return try utf8(s) { (b) throws(PatternError) -> String in
            var out: [UInt8] = []
            out.reserveCapacity(b.count)
            var at = 0
            while at <= b.count, let m = try match(b, from: at), let whole = m[0] {
                out.append(contentsOf: b[at..<whole.lowerBound])
                var i = 0
                while i < pieces.count {
                    let c = pieces[i]
                    if c == UInt8(ascii: "\\"), i + 1 < pieces.count {
                        let n = pieces[i + 1]
                        if n >= UInt8(ascii: "0"), n <= UInt8(ascii: "9") {
                            let g = Int(n - UInt8(ascii: "0"))
                            guard g <= pattern.groups else {
                                throw PatternError(message: "the replacement names group \(g), but /\(pattern.source)/ has \(pattern.groups)")
                            }
                            if let r = m[g] { out.append(contentsOf: b[r]) }
                            i += 2
                            continue
                        }
                        if n == UInt8(ascii: "\\") { out.append(n); i += 2; continue }
                    }
                    out.append(c)
                    i += 1
                }
                if whole.isEmpty {
                    // An empty match: copy one character and look again after it.
                    guard whole.upperBound < b.count else { at = b.count + 1; break }
                    var next = whole.upperBound + 1
                    while next < b.count, b[next] & 0xC0 == 0x80 { next += 1 }
                    out.append(contentsOf: b[whole.upperBound..<next])
                    at = next
                } else {
                    at = whole.upperBound
                }
                if !global { break }
            }
            if at < b.count { out.append(contentsOf: b[at...]) }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
