import Columnar
import Patterns

/// DuckDB's regular expression options: `i` ignores case, `c` does not,
/// `s` lets `.` match a newline (`m`, `n`, `p`: it does not, the default),
/// `l` takes the pattern literally, `g` replaces every match.
enum RegexOptions {
    static let letters: Set<Character> = ["c", "i", "l", "m", "n", "p", "s", "g"]

    static func parse(_ text: String) -> (options: Pattern.Options, global: Bool) {
        var o: Pattern.Options = []
        for c in text {
            switch c {
            case "i": o.insert(.caseless)
            case "c": o.remove(.caseless)
            case "s": o.insert(.dotAll)
            case "m", "n", "p": o.remove(.dotAll)
            case "l": o.insert(.literal)
            default: break
            }
        }
        return (o, text.contains("g"))
    }
}

/// regexp_matches, regexp_full_match, regexp_replace and regexp_extract,
/// row by row; a pattern is compiled once per batch however many rows use it.
/// A NULL string or pattern gives NULL.
enum RegexKernels {
    static func call(_ name: ScalarFunction, _ args: [Column], _ t: DataType, rows: Int) throws(SQLError) -> Column {
        guard rows > 0 else { return Column.constant(.null, type: t, count: 0) }
        guard case .string(let optionText) = args[args.count - 1].value(at: 0) else {
            throw SQLError.execution("\(name.rawValue)() needs constant options")
        }
        let (options, global) = RegexOptions.parse(optionText)
        var matchers: [String: Matcher] = [:]
        var b = ColumnBuilder(type: t, capacity: rows)
        do throws(PatternError) {
            for i in 0..<rows {
                guard case .string(let s) = args[0].value(at: i), case .string(let p) = args[1].value(at: i) else { b.appendNull(); continue }
                let m: Matcher
                if let known = matchers[p] { m = known } else { m = try Pattern(p, options: options).matcher(); matchers[p] = m }
                switch name {
                case .regexpMatches: b.append(bool: try m.contains(s))
                case .regexpFullMatch: b.append(bool: try m.matchesWhole(s))
                case .regexpReplace:
                    guard case .string(let with) = args[2].value(at: i) else { b.appendNull(); continue }
                    b.append(.string(try m.replace(s, with: with, global: global)))
                case .regexpExtract:
                    guard case .int(let group) = args[2].value(at: i) else { b.appendNull(); continue }
                    b.append(.string(try m.extract(s, group: Int(clamping: group))))
                default:
                    throw PatternError(message: "internal error: \(name.rawValue) is not a regular expression function")
                }
            }
        } catch {
            throw SQLError.execution("Invalid Input Error: \(error.message)")
        }
        return b.finish()
    }
}
