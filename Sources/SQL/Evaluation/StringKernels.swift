import Columnar

/// String functions on UTF-8 bytes; ASCII takes byte-level fast paths.
enum StringKernels {
    static func strings(_ c: Column) -> StringArray {
        if case .string(let s) = c.data { return s }
        return StringArray(offsets: [Int](repeating: 0, count: c.count + 1), bytes: [])
    }

    static func validity(_ cols: [Column]) -> Bitmap? {
        cols.dropFirst().reduce(cols.first?.validity) { acc, c in
            switch (acc, c.validity) {
            case (nil, let v): return v
            case (let a?, nil): return a
            case (let a?, let b?): return a & b
            }
        }
    }

    static func call(_ name: ScalarFunction, _ cols: [Column], _ args: [BoundExpr], _ n: Int) throws(SQLError) -> Column {
        if cols.contains(where: { $0.type == .null }) {
            let t: DataType = [.length, .strlen, .strpos].contains(name) ? .bigint
                : [.startsWith, .endsWith, .contains, .like, .ilike].contains(name) ? .boolean : .varchar
            return Column.constant(.null, type: t, count: n)
        }
        let valid = validity(cols)
        let s = strings(cols[0])
        func mapStrings(_ f: (UnsafeRawBufferPointer, inout [UInt8]) -> Void) -> Column {
            var out = StringArrayBuilder()
            out.offsets.reserveCapacity(n + 1)
            out.bytes.reserveCapacity(s.usedBytes.count)
            var scratch: [UInt8] = []
            s.bytes.withUnsafeBytes { raw in
                for i in 0..<n {
                    scratch.removeAll(keepingCapacity: true)
                    f(UnsafeRawBufferPointer(rebasing: raw[s.range(i)]), &scratch)
                    out.append(utf8: scratch)
                }
            }
            return Column(type: .varchar, data: .string(out.finish()), validity: valid)
        }
        func ints(_ c: Column) -> [Int64] { Arithmetic.int64s(c) }
        switch name {
        case .upper, .lower:
            let up = name == .upper
            return mapStrings { b, out in
                if b.allSatisfy({ $0 < 128 }) {
                    for c in b { out.append(up ? (c >= 97 && c <= 122 ? c - 32 : c) : (c >= 65 && c <= 90 ? c + 32 : c)) }
                } else {
                    let str = String(decoding: b, as: UTF8.self)
                    out.append(contentsOf: (up ? str.uppercased() : str.lowercased()).utf8)
                }
            }
        case .length, .strlen:
            let out = (0..<n).map { i -> Int64 in
                let r = s.range(i)
                if name == .strlen { return Int64(r.count) }
                var k: Int64 = 0
                for j in r where s.bytes[j] & 0xC0 != 0x80 { k += 1 }
                return k
            }
            return Column(type: .bigint, data: .int64(out), validity: valid)
        case .trim, .ltrim, .rtrim:
            let chars: Set<UInt8> = cols.count > 1 ? Set(strings(cols[1]).bytes) : [32]
            return mapStrings { b, out in
                var lo = 0, hi = b.count
                if name != .rtrim { while lo < hi, chars.contains(b[lo]) { lo += 1 } }
                if name != .ltrim { while hi > lo, chars.contains(b[hi - 1]) { hi -= 1 } }
                out.append(contentsOf: b[lo..<hi])
            }
        case .concat:
            let t = strings(cols[1])
            var out = StringArrayBuilder()
            out.bytes.reserveCapacity(s.usedBytes.count + t.usedBytes.count)
            s.bytes.withUnsafeBufferPointer { sb in t.bytes.withUnsafeBufferPointer { tb in
                for i in 0..<n {
                    out.bytes.append(contentsOf: sb[s.range(i)])
                    out.bytes.append(contentsOf: tb[t.range(i)])
                    out.offsets.append(out.bytes.count)
                }
            } }
            return Column(type: .varchar, data: .string(out.finish()), validity: valid)
        case .replace:
            let from = strings(cols[1]), to = strings(cols[2])
            var i = 0
            return mapStrings { b, out in
                let f = Array(from.bytes[from.range(i)]), r = Array(to.bytes[to.range(i)])
                i += 1
                guard !f.isEmpty else { out.append(contentsOf: b); return }
                var k = 0
                while k < b.count {
                    if k + f.count <= b.count, b[k] == f[0], (0..<f.count).allSatisfy({ b[k + $0] == f[$0] }) {
                        out.append(contentsOf: r); k += f.count
                    } else { out.append(b[k]); k += 1 }
                }
            }
        case .substring, .left, .right:
            let a1 = ints(cols[1]), a2 = cols.count > 2 ? ints(cols[2]) : nil
            var i = 0
            return mapStrings { b, out in
                defer { i += 1 }
                let ascii = b.allSatisfy { $0 < 128 }
                let units: [Range<Int>]   // byte range of each character
                if ascii { units = [] } else {
                    var u: [Range<Int>] = [], k = 0
                    while k < b.count { var e = k + 1; while e < b.count, b[e] & 0xC0 == 0x80 { e += 1 }; u.append(k..<e); k = e }
                    units = u
                }
                let len = ascii ? b.count : units.count
                var begin: Int, end: Int
                switch name {
                case .left:
                    let k = Int(a1[i]); begin = 0; end = k >= 0 ? k : len + k
                case .right:
                    let k = Int(a1[i]); end = len; begin = k >= 0 ? len - k : -k
                default:
                    let start = Int(a1[i])
                    begin = start > 0 ? start - 1 : (start == 0 ? -1 : len + start)
                    end = a2.map { begin + Int($0[i]) } ?? len
                    if let l = a2?[i], l < 0 { (begin, end) = (end, begin) }
                }
                begin = max(0, min(begin, len)); end = max(begin, min(end, len))
                if ascii { out.append(contentsOf: b[begin..<end]) }
                else if begin < end { out.append(contentsOf: b[units[begin].lowerBound..<units[end - 1].upperBound]) }
            }
        case .strpos:
            let needles = strings(cols[1])
            let out = (0..<n).map { i -> Int64 in
                let h = Array(s.bytes[s.range(i)]), nd = Array(needles.bytes[needles.range(i)])
                guard let at = find(nd, in: h[...], from: 0) else { return 0 }
                return Int64(h[0..<at].filter { $0 & 0xC0 != 0x80 }.count + 1)
            }
            return Column(type: .bigint, data: .int64(out), validity: valid)
        case .startsWith, .endsWith, .contains:
            let other = strings(cols[1])
            let out = (0..<n).map { i -> Bool in
                let h = s.bytes[s.range(i)], nd = Array(other.bytes[other.range(i)])
                switch name {
                case .startsWith: return h.starts(with: nd)
                case .endsWith: return h.reversed().starts(with: nd.reversed())
                default: return find(nd, in: h, from: h.startIndex) != nil
                }
            }
            return Column(type: .boolean, data: .bool(out), validity: valid)
        case .like, .ilike:
            let ci = name == .ilike
            let patterns = strings(cols[1])
            var escape: UInt8? = nil
            if args.count > 2 {
                guard case .literal(.string(let e), _) = args[2], e.utf8.count <= 1 else {
                    throw SQLError.execution("the ESCAPE of LIKE must be one constant character")
                }
                escape = e.utf8.first
            }
            var compiled: LikePattern? = nil
            if case .literal(.string(let p), _) = args[1] { compiled = try LikePattern(Array(p.utf8), caseInsensitive: ci, escape: escape) }
            // A pattern per row when it is not a constant (compiled first: a bad one is an error).
            var perRow: [LikePattern] = []
            if compiled == nil {
                for i in 0..<n { perRow.append(try LikePattern(Array(patterns.bytes[patterns.range(i)]), caseInsensitive: ci, escape: escape)) }
            }
            let out = s.bytes.withUnsafeBytes { raw in
                (0..<n).map { i -> Bool in (compiled ?? perRow[i]).matches(UnsafeRawBufferPointer(rebasing: raw[s.range(i)])) }
            }
            return Column(type: .boolean, data: .bool(out), validity: valid)
        case .repeatString:
            let k = ints(cols[1])
            var i = 0
            return mapStrings { b, out in for _ in 0..<max(0, Int(k[i])) { out.append(contentsOf: b) }; i += 1 }
        case .reverse:
            return mapStrings { b, out in out.append(contentsOf: String(String(decoding: b, as: UTF8.self).reversed()).utf8) }
        default:
            throw SQLError.execution("unknown function \(name)()")
        }
    }

    static func find<C: Collection>(_ needle: [UInt8], in hay: C, from: C.Index) -> C.Index? where C.Element == UInt8, C.Index == Int {
        if needle.isEmpty { return from }
        guard hay.count >= needle.count else { return nil }
        var i = from
        while i <= hay.endIndex - needle.count {
            if hay[i] == needle[0] {
                var ok = true
                for k in 1..<needle.count where hay[i + k] != needle[k] { ok = false; break }
                if ok { return i }
            }
            i += 1
        }
        return nil
    }
}

/// A compiled LIKE pattern: `%` any run, `_` one character (no escape character,
/// as in DuckDB without an ESCAPE clause).
struct LikePattern {
    /// Pieces between `%`s; `nil` bytes in a piece stand for `_`.
    let pieces: [[UInt8?]]
    let anchoredStart: Bool
    let anchoredEnd: Bool
    let caseInsensitive: Bool
    /// Each piece's bytes when it has no `_` (searched with memmem).
    let literals: [[UInt8]?]

    /// `escape` makes the byte after it literal (`10\%` matches "10%"); a pattern may not end with it.
    init(_ p: [UInt8], caseInsensitive: Bool, escape: UInt8? = nil) throws(SQLError) {
        var pieces: [[UInt8?]] = [[]]
        var i = 0
        var startsWild = false, endsWild = false
        while i < p.count {
            let c = p[i]
            endsWild = false
            if let escape, c == escape {
                guard i + 1 < p.count else { throw SQLError.execution("Like pattern must not end with escape character!") }
                pieces[pieces.count - 1].append(LikePattern.fold(p[i + 1], caseInsensitive))
                i += 2
                continue
            }
            if c == UInt8(ascii: "%") {
                pieces.append([])
                if i == 0 { startsWild = true }
                endsWild = true
            }
            else if c == UInt8(ascii: "_") { pieces[pieces.count - 1].append(nil) }
            else { pieces[pieces.count - 1].append(LikePattern.fold(c, caseInsensitive)) }
            i += 1
        }
        anchoredStart = !startsWild
        anchoredEnd = !endsWild
        self.pieces = pieces
        self.caseInsensitive = caseInsensitive
        literals = pieces.map { p in p.contains(where: { $0 == nil }) || p.isEmpty ? nil : p.map { $0! } }
    }

    /// First offset of `needle` in s[from..<to]: memchr for its first byte, memcmp for the rest.
    static func search(_ needle: [UInt8], in s: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        let m = needle.count
        guard to - from >= m else { return nil }
        return needle.withUnsafeBytes { nd -> Int? in
            var at = from
            let base = s.baseAddress!
            while to - at >= m {
                guard let hit = memchr(base + at, Int32(nd[0]), to - at - m + 1) else { return nil }
                let k = base.distance(to: UnsafeRawPointer(hit))
                if m == 1 || memcmp(base + k + 1, nd.baseAddress! + 1, m - 1) == 0 { return k }
                at = k + 1
            }
            return nil
        }
    }

    @inline(__always) static func fold(_ c: UInt8, _ ci: Bool) -> UInt8 { ci && c >= 65 && c <= 90 ? c + 32 : c }

    /// Matches `piece` at byte `at` of s; returns the end offset or nil. `_` eats one UTF-8 character.
    func matchPiece(_ piece: [UInt8?], _ s: UnsafeRawBufferPointer, at: Int) -> Int? {
        var k = at
        for pc in piece {
            guard k < s.count else { return nil }
            if let b = pc {
                guard LikePattern.fold(s[k], caseInsensitive) == b else { return nil }
                k += 1
            } else {
                k += 1
                while k < s.count, s[k] & 0xC0 == 0x80 { k += 1 }
            }
        }
        return k
    }

    func matches(_ s: UnsafeRawBufferPointer) -> Bool {
        if pieces.count == 1 {
            guard let e = matchPiece(pieces[0], s, at: 0) else { return false }
            return e == s.count
        }
        var pos = 0
        var first = 0, last = pieces.count - 1
        if anchoredStart {
            guard let e = matchPiece(pieces[0], s, at: 0) else { return false }
            pos = e; first = 1
        }
        var endLimit = s.count
        if anchoredEnd {
            // The last piece must sit at the very end; try its only possible start.
            let piece = pieces[last]
            var start = s.count
            var chars = piece.count
            while chars > 0, start > 0 {
                start -= 1
                if s[start] & 0xC0 != 0x80 { chars -= 1 }
            }
            guard chars == 0, start >= pos, matchPiece(piece, s, at: start) == s.count else { return false }
            endLimit = start; last -= 1
        }
        if first > last { return pos <= endLimit }
        for k in first...last {
            let piece = pieces[k]
            if piece.isEmpty { continue }
            if !caseInsensitive, let literal = literals[k] {
                // No `_` in the piece: a plain substring search.
                guard pos <= endLimit, let hit = LikePattern.search(literal, in: s, from: pos, to: endLimit) else { return false }
                pos = hit + literal.count
                continue
            }
            var found = false
            var at = pos
            while at <= endLimit - piece.count {
                if let e = matchPiece(piece, s, at: at), e <= endLimit { pos = e; found = true; break }
                at += 1
            }
            if !found { return false }
        }
        return true
    }
}
import Foundation
