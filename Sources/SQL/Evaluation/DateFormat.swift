import Columnar

/// strftime and strptime with DuckDB's format specifiers: %Y %y %m %d %H %I
/// %M %S %p %f (microseconds) %g (milliseconds) %n (nanoseconds) %j %a %A
/// %b %B %w %U %W %z %Z %c %x %X %%, and `%-d` style unpadded numbers.
struct DateFormat: Sendable {
    enum Piece: Sendable, Equatable {
        case literal(UInt8)
        case spec(Character, padded: Bool)
    }
    let pieces: [Piece]
    let text: String

    static let specifiers: Set<Character> = ["a", "A", "w", "d", "b", "h", "B", "m", "y", "Y", "H", "I", "p", "M", "S", "f", "g", "n", "z", "Z", "j", "U", "W", "c", "x", "X"]
    static let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    static let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]

    init(_ format: String) throws(SQLError) {
        text = format
        var out: [Piece] = []
        let b = Array(format.utf8)
        var i = 0
        while i < b.count {
            guard b[i] == UInt8(ascii: "%") else { out.append(.literal(b[i])); i += 1; continue }
            guard i + 1 < b.count else { throw Self.bad(format, "a trailing %") }
            if b[i + 1] == UInt8(ascii: "%") { out.append(.literal(b[i])); i += 2; continue }
            var padded = true
            var k = i + 1
            if b[k] == UInt8(ascii: "-") { padded = false; k += 1 }
            let c = k < b.count ? Character(Unicode.Scalar(b[k])) : "%"
            guard Self.specifiers.contains(c) else {
                throw Self.bad(format, "%" + String(decoding: b[(i + 1)...min(k, b.count - 1)], as: UTF8.self))
            }
            // %c, %x, %X are shorthands for whole layouts.
            switch c {
            case "c": out += try DateFormat("%Y-%m-%d %H:%M:%S").pieces
            case "x": out += try DateFormat("%Y-%m-%d").pieces
            case "X": out += try DateFormat("%H:%M:%S").pieces
            default: out.append(.spec(c == "h" ? "b" : c, padded: padded))
            }
            i = k + 1
        }
        pieces = out
    }

    static func bad(_ format: String, _ what: String) -> SQLError {
        .execution("Invalid Input Error: Failed to parse format specifier \(format): Unrecognized format for strftime/strptime: \(what)")
    }

    // MARK: strftime

    func format(micros ts: Int64) -> String {
        var day = ts / Dates.microsPerDay, rest = ts % Dates.microsPerDay
        if rest < 0 { rest += Dates.microsPerDay; day -= 1 }
        let days = Int32(truncatingIfNeeded: day)
        let (y, m, d) = Dates.civil(days)
        let weekday = ((Int(days) % 7) + 11) % 7            // Sunday = 0
        let yearDay = Int(days) - Int(Dates.days(year: y, month: 1, day: 1)) + 1
        let secs = Int(rest / 1_000_000), frac = Int(rest % 1_000_000)
        let hour = secs / 3600
        var out = ""
        func num(_ v: Int, _ width: Int, _ padded: Bool) {
            let s = String(abs(v))
            out += (v < 0 ? "-" : "") + (padded && s.count < width ? String(repeating: "0", count: width - s.count) + s : s)
        }
        for p in pieces {
            switch p {
            case .literal(let c): out.unicodeScalars.append(Unicode.Scalar(c))
            case .spec(let c, let padded):
                switch c {
                case "a": out += String(Self.days[weekday].prefix(3))
                case "A": out += Self.days[weekday]
                case "w": num(weekday, 1, padded)
                case "d": num(d, 2, padded)
                case "b": out += String(Self.months[m - 1].prefix(3))
                case "B": out += Self.months[m - 1]
                case "m": num(m, 2, padded)
                case "y": num(y % 100, 2, padded)
                case "Y": num(y, 4, padded)
                case "H": num(hour, 2, padded)
                case "I": num(hour % 12 == 0 ? 12 : hour % 12, 2, padded)
                case "p": out += hour < 12 ? "AM" : "PM"
                case "M": num(secs / 60 % 60, 2, padded)
                case "S": num(secs % 60, 2, padded)
                case "f": num(frac, 6, true)
                case "g": num(frac / 1000, 3, true)
                case "n": num(frac * 1000, 9, true)
                case "z": out += "+00"
                case "Z": break
                case "j": num(yearDay, 3, padded)
                case "U": num((yearDay + 6 - weekday) / 7, 2, padded)                  // weeks starting Sunday
                case "W": num((yearDay + 6 - (weekday + 6) % 7) / 7, 2, padded)        // weeks starting Monday
                default: break
                }
            }
        }
        return out
    }

    // MARK: strptime

    /// The timestamp `s` spells in this format, or nil when it does not fit it.
    func parse(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        var i = 0
        var year = 1900, month = 1, day = 1, hour = 0, minute = 0, second = 0, micros = 0, offsetMinutes = 0
        var pm: Bool? = nil
        var yearDay: Int? = nil
        func number(_ maxDigits: Int, signed: Bool = false) -> Int? {
            var neg = false
            if signed, i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") { neg = b[i] == UInt8(ascii: "-"); i += 1 }
            var v = 0, n = 0
            while i < b.count, n < maxDigits, b[i] >= 48, b[i] <= 57 { v = v * 10 + Int(b[i] - 48); i += 1; n += 1 }
            return n == 0 ? nil : (neg ? -v : v)
        }
        func name(_ names: [String]) -> Int? {
            for (k, full) in names.enumerated() {
                for candidate in [full, String(full.prefix(3))] {
                    let c = Array(candidate.lowercased().utf8)
                    if i + c.count <= b.count, zip(b[i..<(i + c.count)], c).allSatisfy({ $0 | 0x20 == $1 }) { i += c.count; return k }
                }
            }
            return nil
        }
        for p in pieces {
            switch p {
            case .literal(let c):
                if c == UInt8(ascii: " ") { while i < b.count, b[i] == UInt8(ascii: " ") { i += 1 }; continue }
                guard i < b.count, b[i] == c else { return nil }
                i += 1
            case .spec(let c, _):
                switch c {
                case "Y": guard let v = number(6, signed: true) else { return nil }; year = v
                case "y": guard let v = number(2) else { return nil }; year = v < 69 ? 2000 + v : 1900 + v
                case "m": guard let v = number(2), (1...12).contains(v) else { return nil }; month = v
                case "d": guard let v = number(2), (1...31).contains(v) else { return nil }; day = v
                case "H": guard let v = number(2), v < 24 else { return nil }; hour = v
                case "I": guard let v = number(2), (1...12).contains(v) else { return nil }; hour = v % 12
                case "M": guard let v = number(2), v < 60 else { return nil }; minute = v
                case "S": guard let v = number(2), v < 60 else { return nil }; second = v
                case "f", "g", "n":
                    let start = i
                    guard let v = number(c == "g" ? 3 : c == "f" ? 6 : 9) else { return nil }
                    let digits = i - start, width = c == "g" ? 3 : c == "f" ? 6 : 9
                    var scaled = v
                    for _ in digits..<width { scaled *= 10 }
                    micros = c == "g" ? scaled * 1000 : c == "f" ? scaled : scaled / 1000
                case "p":
                    guard i + 2 <= b.count else { return nil }
                    let t = String(decoding: b[i..<(i + 2)], as: UTF8.self).uppercased()
                    guard t == "AM" || t == "PM" else { return nil }
                    pm = t == "PM"; i += 2
                case "b", "B": guard let k = name(Self.months) else { return nil }; month = k + 1
                case "a", "A": guard name(Self.days) != nil else { return nil }
                case "w": guard number(1) != nil else { return nil }
                case "j": guard let v = number(3), (1...366).contains(v) else { return nil }; yearDay = v
                case "U", "W": guard number(2) != nil else { return nil }
                case "z":
                    guard i < b.count else { return nil }
                    if b[i] == UInt8(ascii: "Z") { i += 1; break }
                    guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") else { return nil }
                    let neg = b[i] == UInt8(ascii: "-")
                    i += 1
                    guard let h = number(2) else { return nil }
                    if i < b.count, b[i] == UInt8(ascii: ":") { i += 1 }
                    let mins = number(2) ?? 0
                    offsetMinutes = (neg ? -1 : 1) * (h * 60 + mins)
                case "Z": while i < b.count, b[i] != UInt8(ascii: " ") { i += 1 }
                default: return nil
                }
            }
        }
        guard i == b.count, year > -290_000, year < 290_000 else { return nil }
        if let pm { hour = hour % 12 + (pm ? 12 : 0) }
        var days: Int32
        if let yearDay {
            days = Dates.days(year: year, month: 1, day: 1) + Int32(yearDay - 1)
        } else {
            guard day <= Dates.daysIn(year: year, month: month) else { return nil }
            days = Dates.days(year: year, month: month, day: day)
        }
        let seconds = Int64(hour * 3600 + minute * 60 + second - offsetMinutes * 60)
        return Int64(days) * Dates.microsPerDay + seconds * 1_000_000 + Int64(micros)
    }
}
