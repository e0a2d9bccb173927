import Columnar

/// CAST between types, with DuckDB's rounding (half away from zero) and errors.
public enum Cast {
    /// The same rows typed as `t`; used where the binder already made types agree
    /// except for NULL-typed constants.
    static func retype(_ c: Column, _ t: DataType) -> Column {
        if c.type == t { return c }
        if c.type == .null { return Column.constant(.null, type: t, count: c.count) }
        return (try? column(c, to: t)) ?? Column.constant(.null, type: t, count: c.count)
    }

    static func failure(_ text: String, _ t: DataType) -> SQLError {
        .execution("Conversion Error: Could not convert string '\(text)' to \(t)")
    }
    static func outOfRange(_ v: String, _ from: DataType, _ t: DataType) -> SQLError {
        .execution("Conversion Error: \(from) value \(v) is out of range for \(t)")
    }

    public static func column(_ c: Column, to t: DataType) throws(SQLError) -> Column {
        if c.type == t { return c }
        let n = c.count
        if c.type == .null { return Column.constant(.null, type: t, count: n) }
        @inline(__always) func valid(_ i: Int) -> Bool { !c.isNull(i) }

        // Numeric to numeric, the common case, without per-row boxing.
        if c.type.isNumeric, t.isNumeric {
            if t == .double { return Column(type: .double, data: .double(Arithmetic.doubles(c)), validity: c.validity) }
            let targetScale = t.decimalScale
            let range = Arithmetic.exactRange(t) ?? 0...0
            var out = [Int128](repeating: 0, count: n)
            if case .double(let d) = c.data {
                let m = Double(Decimal128.pow10(targetScale))
                for i in 0..<n where valid(i) {
                    let r = (d[i] * m).rounded()
                    guard r.isFinite, abs(r) < 1.7e38, range.contains(Int128(r)) else {
                        throw outOfRange(formatDouble(d[i]), c.type, t)
                    }
                    out[i] = Int128(r)
                }
            } else {
                let x = Arithmetic.int128s(c), s = c.type.decimalScale
                for i in 0..<n where valid(i) {
                    guard let r = Decimal128.rescale(x[i], from: s, to: targetScale), range.contains(r) else {
                        throw outOfRange(Decimal128.format(x[i], scale: s), c.type, t)
                    }
                    out[i] = r
                }
            }
            return Arithmetic.column(out, t, c.validity)
        }
        var b = ColumnBuilder(type: t, capacity: n)
        switch (c.type, t) {
        case (_, .varchar):
            // A DECIMAL with no integer digits has no leading zero as text (DuckDB: '.100').
            var bare = false
            if case .decimal(let p, let s) = c.type, p == s { bare = true }
            for i in 0..<n {
                guard var s = render(c.value(at: i), as: c.type) else { b.appendNull(); continue }
                if bare { s = s.hasPrefix("-0.") ? "-" + s.dropFirst(2) : s.hasPrefix("0.") ? String(s.dropFirst()) : s }
                b.append(string: s)
            }
        case (.varchar, _):
            guard case .string(let strings) = c.data else { break }
            for i in 0..<n {
                guard valid(i) else { b.appendNull(); continue }
                let text = strings[i]
                guard let v = parse(text, as: t) else { throw failure(text, t) }
                b.append(v)
            }
        case (.date, .timestamp):
            for i in 0..<n { if case .int(let d) = c.value(at: i) { b.append(int64: d * Dates.microsPerDay) } else { b.appendNull() } }
        case (.timestamp, .date):
            for i in 0..<n {
                if case .int(let ts) = c.value(at: i) {
                    var d = ts / Dates.microsPerDay
                    if ts % Dates.microsPerDay < 0 { d -= 1 }
                    b.append(int32: Int32(d))
                } else { b.appendNull() }
            }
        case (.boolean, _) where t.isNumeric:
            for i in 0..<n {
                guard case .bool(let x) = c.value(at: i) else { b.appendNull(); continue }
                let v: Int128 = x ? Decimal128.pow10(t.decimalScale) : 0
                if t == .double { b.append(double: x ? 1 : 0) } else if t.physical == .int128 { b.append(int128: v) } else { b.append(.int(Int64(v))) }
            }
        case (_, .boolean) where c.type.isNumeric:
            let d = Arithmetic.doubles(c)
            for i in 0..<n { if valid(i) { b.append(bool: d[i] != 0) } else { b.appendNull() } }
        default:
            throw SQLError.execution("Conversion Error: cannot cast \(c.type) to \(t)")
        }
        return b.finish()
    }

    /// `0x1F` (no spaces around it, as DuckDB) as an unsigned number.
    static func hex(_ s: String) -> UInt64? {
        guard s.count > 2, s.hasPrefix("0x") || s.hasPrefix("0X") else { return nil }
        return UInt64(s.dropFirst(2), radix: 16)
    }

    /// Parses text as a value of `t` (CSV reading and casts share this).
    public static func parse(_ text: String, as t: DataType) -> Value? {
        let s = text.trimmingCharacters(in: .whitespaces)
        switch t {
        case .boolean:
            switch s.lowercased() {
            case "true", "t", "1", "yes", "y": return .bool(true)
            case "false", "f", "0", "no", "n": return .bool(false)
            default: return nil
            }
        case .tinyint, .smallint, .integer, .bigint, .hugeint, .utinyint, .usmallint, .uinteger, .ubigint:
            // Text like '1.5' or '1e2' rounds, half away from zero, as DuckDB.
            let rounded = Double(s).flatMap { $0.isFinite && abs($0) < 1e38 && !s.lowercased().hasPrefix("0x") ? Int128($0.rounded()) : nil }
            guard let v = Int128(s) ?? hex(text).map({ Int128($0) }) ?? rounded, let range = t.integerRange, range.contains(v) else { return nil }
            return t.physical == .int128 ? .wide(v) : .int(Int64(v))
        case .double:
            switch s.lowercased() {
            case "inf", "infinity", "+inf": return .double(.infinity)
            case "-inf", "-infinity": return .double(-.infinity)
            case "nan": return .double(.nan)
            default: return Double(s).map { .double($0) }
            }
        case .decimal(let p, let sc):
            guard let v = Decimal128.parse(s, scale: sc), v.magnitude <= Decimal128.maxUnscaled(precision: p).magnitude else { return nil }
            return p <= 18 ? .int(Int64(v)) : .wide(v)
        case .varchar: return .string(text)
        case .date: return Dates.parseDate(s).map { .int(Int64($0)) }
        case .timestamp: return Dates.parseTimestamp(s).map { .int($0) }
        case .interval: return Intervals.parse(s, unit: nil).map { .interval($0) }
        case .null: return .null
        }
    }
}

import Foundation
