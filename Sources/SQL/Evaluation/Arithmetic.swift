import Columnar

/// Numeric and temporal arithmetic. Integers and decimals are exact and overflow
/// is an error (DuckDB's rule); doubles follow IEEE (x/0 is inf, as in DuckDB).
enum Arithmetic {
    static func int64s(_ c: Column) -> [Int64] { c.int64Values() }
    static func int128s(_ c: Column) -> [Int128] { c.int128Values() }
    static func doubles(_ c: Column) -> [Double] { c.doubleValues() }

    static func column(_ values: [Int128], _ t: DataType, _ validity: Bitmap?) -> Column {
        switch t.physical {
        case .int128: return Column(type: t, data: .int128(values), validity: validity)
        case .int32: return Column(type: t, data: .int32(values.map { Int32(truncatingIfNeeded: $0) }), validity: validity)
        default: return Column(type: t, data: .int64(values.map { Int64(truncatingIfNeeded: $0) }), validity: validity)
        }
    }

    static let opNames: [ScalarFunction: (String, String)] = [.add: ("addition", "+"), .subtract: ("subtraction", "-"), .multiply: ("multiplication", "*"),
                          .intDivide: ("division", "//"), .modulo: ("modulo", "%"), .divide: ("division", "/")]

    /// The values an exact type holds, as integers (a DECIMAL's unscaled ones); nil for others.
    static func exactRange(_ t: DataType) -> ClosedRange<Int128>? {
        if let r = t.integerRange { return r }
        if case .decimal(let p, _) = t { let m = Decimal128.maxUnscaled(precision: p); return -m...m }
        return nil
    }

    static func overflow(_ name: ScalarFunction, _ t: DataType, _ x: Int128, _ y: Int128) -> SQLError {
        let (word, sym) = opNames[name] ?? (name.rawValue, name.symbol ?? name.rawValue)
        var hint = ""
        if case .decimal = t { hint = ". You might want to add an explicit cast to a bigger DECIMAL" }
        return .execution("Out of Range Error: Overflow in \(word) of \(t) (\(x) \(sym) \(y))\(hint)")
    }

    static func binary(_ name: ScalarFunction, _ a: Column, _ b: Column, _ t: DataType) throws(SQLError) -> Column {
        let n = a.count
        let validity = Compare.validity(a, b)
        if a.type == .null || b.type == .null { return Column.constant(.null, type: t, count: n) }
        switch (a.type, b.type) {
        case (.date, .interval), (.interval, .date), (.timestamp, .interval), (.interval, .timestamp), (.interval, .interval),
             (.date, .date), (.timestamp, .timestamp):
            return try temporal(name, a, b, t, validity)
        case (.date, _) where b.type.isIntegral, (_, .date) where a.type.isIntegral:
            return try temporal(name, a, b, t, validity)
        default: break
        }
        if t == .double {
            let x = doubles(a), y = doubles(b)
            var out = [Double](repeating: 0, count: n)
            switch name {
            case .add: for i in 0..<n { out[i] = x[i] + y[i] }
            case .subtract: for i in 0..<n { out[i] = x[i] - y[i] }
            case .multiply: for i in 0..<n { out[i] = x[i] * y[i] }
            case .divide: for i in 0..<n { out[i] = x[i] / y[i] }
            case .intDivide: for i in 0..<n { out[i] = (x[i] / y[i]).rounded(.towardZero) }
            default: for i in 0..<n { out[i] = fmod(x[i], y[i]) }
            }
            return Column(type: .double, data: .double(out), validity: validity)
        }
        guard let range = exactRange(t) else { throw SQLError.execution("internal error: arithmetic to \(t)") }
        @inline(__always) func valid(_ i: Int) -> Bool { validity.map { $0[i] } ?? true }
        // A decimal quotient keeps the dividend's scale.
        let quotientScale = a.type.decimalScale > 0 ? Decimal128.pow10(t.decimalScale) : 1
        // 64-bit fast path: both inputs and the result fit in 64 bits.
        if a.type.physical != .int128, b.type.physical != .int128, t.physical != .int128 {
            let x = int64s(a), y = int64s(b)
            let lo = Int64(range.lowerBound), hi = Int64(range.upperBound), m = Int64(quotientScale)
            var out = [Int64](repeating: 0, count: n)
            var failed = -1
            x.withUnsafeBufferPointer { x in y.withUnsafeBufferPointer { y in out.withUnsafeMutableBufferPointer { o in
                switch name {
                case .add:
                    for i in 0..<n { let (r, f) = x[i].addingReportingOverflow(y[i]); o[i] = r; if f || r > hi || r < lo { if valid(i) { failed = i; break } } }
                case .subtract:
                    for i in 0..<n { let (r, f) = x[i].subtractingReportingOverflow(y[i]); o[i] = r; if f || r > hi || r < lo { if valid(i) { failed = i; break } } }
                case .multiply:
                    for i in 0..<n { let (r, f) = x[i].multipliedReportingOverflow(by: y[i]); o[i] = r; if f || r > hi || r < lo { if valid(i) { failed = i; break } } }
                default:
                    for i in 0..<n where valid(i) {
                        if y[i] == 0 { failed = -2 - i; break }
                        // Int64.min / -1 overflows; so can a quotient of a narrow type (TINYINT -128 // -1).
                        // x % -1 is 0 even for the most negative x.
                        let (q, f1) = name == .modulo ? (y[i] == -1 ? (0, false) : x[i].remainderReportingOverflow(dividingBy: y[i])) : x[i].dividedReportingOverflow(by: y[i])
                        let (r, f2) = q.multipliedReportingOverflow(by: m)
                        o[i] = r
                        if f1 || f2 || r > hi || r < lo { failed = i; break }
                    }
                }
            } } }
            if failed >= 0 { throw overflow(name, t, Int128(x[failed]), Int128(y[failed])) }
            if failed < -1 { throw divisionByZero(name, Int128(x[-2 - failed])) }
            if t.physical == .int32 { return Column(type: t, data: .int32(out.map { Int32(truncatingIfNeeded: $0) }), validity: validity) }
            return Column(type: t, data: .int64(out), validity: validity)
        }
        let x = int128s(a), y = int128s(b)
        var out = [Int128](repeating: 0, count: n)
        for i in 0..<n where valid(i) {
            var r: Int128, f: Bool
            switch name {
            case .add: (r, f) = x[i].addingReportingOverflow(y[i])
            case .subtract: (r, f) = x[i].subtractingReportingOverflow(y[i])
            case .multiply: (r, f) = x[i].multipliedReportingOverflow(by: y[i])
            default:
                guard y[i] != 0 else { throw divisionByZero(name, x[i]) }
                (r, f) = name == .modulo ? (y[i] == -1 ? (0, false) : x[i].remainderReportingOverflow(dividingBy: y[i])) : x[i].dividedReportingOverflow(by: y[i])
                if !f { (r, f) = r.multipliedReportingOverflow(by: quotientScale) }
            }
            if f || !range.contains(r) { throw overflow(name, t, x[i], y[i]) }
            out[i] = r
        }
        return column(out, t, validity)
    }

    static func outOfRange(_ x: Int128, _ what: String, _ t: DataType) -> SQLError {
        .execution("Out of Range Error: \(what) of \(x) is out of the range of \(t)")
    }

    static func divisionByZero(_ name: ScalarFunction, _ x: Int128) -> SQLError {
        .execution("Invalid Input Error: Division by zero in expression (\(x) \(opNames[name]?.1 ?? "/") 0)")
    }

    static func temporal(_ name: ScalarFunction, _ a: Column, _ b: Column, _ t: DataType, _ validity: Bitmap?) throws(SQLError) -> Column {
        let n = a.count
        func intervals(_ c: Column) -> [Interval] { if case .interval(let v) = c.data { return v.array }; return [] }
        switch (a.type, b.type) {
        case (.date, .interval), (.timestamp, .interval), (.interval, .date), (.interval, .timestamp):
            let (base, iv) = a.type == .interval ? (b, intervals(a)) : (a, intervals(b))
            let sign: Int32 = name == .subtract ? -1 : 1
            let raw = int64s(base)
            var out = [Int64](repeating: 0, count: n)
            for i in 0..<n {
                let d = Interval(months: iv[i].months * sign, days: iv[i].days * sign, micros: iv[i].micros * Int64(sign))
                out[i] = base.type == .date ? Dates.add(d, toDate: Int32(raw[i])) : Dates.add(d, toTimestamp: raw[i])
            }
            return Column(type: .timestamp, data: .int64(out), validity: validity)
        case (.interval, .interval):
            let x = intervals(a), y = intervals(b), s: Int32 = name == .subtract ? -1 : 1
            return Column(type: .interval, data: .interval((0..<n).map {
                Interval(months: x[$0].months + s * y[$0].months, days: x[$0].days + s * y[$0].days, micros: x[$0].micros + Int64(s) * y[$0].micros)
            }), validity: validity)
        case (.date, .date):
            let x = int64s(a), y = int64s(b)
            return Column(type: .bigint, data: .int64((0..<n).map { x[$0] - y[$0] }), validity: validity)
        case (.timestamp, .timestamp):
            let x = int64s(a), y = int64s(b)
            return Column(type: .interval, data: .interval((0..<n).map { i in
                let d = x[i] - y[i]
                return Interval(months: 0, days: Int32(d / Dates.microsPerDay), micros: d % Dates.microsPerDay)
            }), validity: validity)
        default:
            // date ± integer days
            let (dates, days) = a.type == .date ? (int64s(a), int64s(b)) : (int64s(b), int64s(a))
            let s: Int128 = name == .subtract ? -1 : 1
            var out = [Int32](repeating: 0, count: n)
            for i in 0..<n where validity.map({ $0[i] }) ?? true {
                guard let d = Int32(exactly: Int128(dates[i]) + s * Int128(days[i])) else {
                    throw SQLError.execution("Out of Range Error: date \(name == .subtract ? "-" : "+") \(days[i]) days is out of range")
                }
                out[i] = d
            }
            return Column(type: .date, data: .int32(out), validity: validity)
        }
    }

    static func negate(_ a: Column) throws(SQLError) -> Column {
        if let range = a.type.integerRange {
            // -x leaves the range for the most negative value (and for every positive unsigned one).
            let x = int128s(a)
            var out = [Int128](repeating: 0, count: a.count)
            for i in 0..<a.count where !a.isNull(i) {
                let (y, f) = Int128(0).subtractingReportingOverflow(x[i])
                guard !f, range.contains(y) else { throw outOfRange(x[i], "negation", a.type) }
                out[i] = y
            }
            return column(out, a.type, a.validity)
        }
        switch a.data {
        case .int32(let x): return Column(type: a.type, data: .int32(x.map { 0 &- $0 }), validity: a.validity)
        case .int64(let x): return Column(type: a.type, data: .int64(x.map { 0 &- $0 }), validity: a.validity)
        case .int128(let x): return Column(type: a.type, data: .int128(x.map { 0 &- $0 }), validity: a.validity)
        case .double(let x): return Column(type: a.type, data: .double(x.map { -$0 }), validity: a.validity)
        case .interval(let x): return Column(type: a.type, data: .interval(x.map { Interval(months: -$0.months, days: -$0.days, micros: -$0.micros) }), validity: a.validity)
        default: return a
        }
    }

    static func math(_ name: ScalarFunction, _ cols: [Column], _ t: DataType) throws(SQLError) -> Column {
        let a = cols[0]
        let n = a.count
        if a.type == .null { return Column.constant(.null, type: t, count: n) }
        if t == .double || a.type == .double {
            let x = doubles(a)
            let digits = cols.count > 1 ? Int(int64s(cols[1]).first ?? 0) : 0
            let f: (Double) -> Double
            switch name {
            case .abs: f = { Swift.abs($0) }
            case .round:
                let m = pow(10.0, Double(digits))
                f = { ($0 * m).rounded() / m }
            case .floor: f = { $0.rounded(.down) }
            case .ceil: f = { $0.rounded(.up) }
            case .trunc: f = { $0.rounded(.towardZero) }
            case .sqrt: f = { $0.squareRoot() }
            case .ln: f = { Foundation.log($0) }
            case .log10: f = { Foundation.log10($0) }
            case .log2: f = { Foundation.log2($0) }
            case .exp: f = { Foundation.exp($0) }
            case .power:
                let y = doubles(cols[1])
                return Column(type: .double, data: .double((0..<n).map { Foundation.pow(x[$0], y[$0]) }), validity: Compare.validity(a, cols[1]))
            default: throw SQLError.execution("unknown function \(name)")
            }
            return Column(type: .double, data: .double(x.map(f)), validity: a.validity)
        }
        // Integers and decimals.
        let x = int128s(a)
        let s = a.type.decimalScale, ts = t.decimalScale
        let out: [Int128]
        switch name {
        case .abs:
            var r = x
            for i in 0..<n where x[i] < 0 && !a.isNull(i) {
                let (y, f) = Int128(0).subtractingReportingOverflow(x[i])
                guard !f, t.integerRange?.contains(y) ?? true else { throw outOfRange(x[i], "abs", t) }
                r[i] = y
            }
            out = r
        case .round:
            let digits = cols.count > 1 ? int64s(cols[1]).first ?? 0 : 0
            guard digits < 0 else {
                var r: [Int128] = []
                for v in x {
                    guard let y = Decimal128.rescale(v, from: s, to: ts) else { throw SQLError.execution("Out of Range Error: round() result does not fit \(t)") }
                    r.append(y)
                }
                out = r
                break
            }
            // To tens, hundreds, ...: half away from zero, as DuckDB; a result wider than the type is an error.
            // From the value as it is (rounding to units first would round twice: 1234.5678 to 1240).
            let k = digits < -38 ? 38 : Int(-digits)
            let limit: Int128? = if case .decimal(let p, _) = t { Decimal128.pow10(p) } else { nil }
            var rounded: [Int128] = []
            rounded.reserveCapacity(n)
            for v in x {
                guard s + k <= 38 else { rounded.append(0); continue }   // |v| < 10^38: nearer 0 than the unit
                let m = Decimal128.pow10(s + k)
                let (q, r) = v.quotientAndRemainder(dividingBy: m)
                let away = (r < 0 ? -r : r) * 2 >= m
                let (y, overflow) = (away ? (r < 0 ? q - 1 : q + 1) : q).multipliedReportingOverflow(by: Decimal128.pow10(k))
                if overflow || limit.map({ y >= $0 || y <= -$0 }) == true || t.integerRange.map({ !$0.contains(y) }) == true {
                    throw SQLError.execution("Conversion Error: round(\(digits)) of a \(a.type) is out of the range of \(t)")
                }
                rounded.append(y)
            }
            out = rounded
        case .floor, .ceil, .trunc:
            let d = Decimal128.pow10(s)
            out = x.map { v in
                let (q, r) = v.quotientAndRemainder(dividingBy: d)
                let adjusted = name == .floor && r < 0 ? q - 1 : (name == .ceil && r > 0 ? q + 1 : q)
                return adjusted * Decimal128.pow10(ts)
            }
        default: throw SQLError.execution("\(name)() needs a DOUBLE")
        }
        return column(out, t, a.validity)
    }
}

import Foundation
