import Columnar

/// date_part / extract, date_trunc, date_diff.
enum DateKernels {
    static func call(_ name: ScalarFunction, _ part: String, _ cols: [Column], _ t: DataType) throws(SQLError) -> Column {
        let a = cols[0]
        let n = a.count
        if cols.contains(where: { $0.type == .null }) { return Column.constant(.null, type: t, count: n) }
        switch name {
        case .datePart:
            if case .interval(let iv) = a.data {
                let out = iv.map { i -> Int64 in
                    switch part {
                    case "year": return Int64(i.months / 12)
                    case "month": return Int64(i.months % 12)
                    case "day": return Int64(i.days)
                    case "hour": return i.micros / 3_600_000_000
                    case "minute": return i.micros / 60_000_000 % 60
                    case "second": return i.micros / 1_000_000 % 60
                    default: return 0
                    }
                }
                return Column(type: .bigint, data: .int64(out), validity: a.validity)
            }
            let micros = timestamps(a)
            if part == "epoch" {
                return Column(type: .double, data: .double(micros.map { Double($0) / 1e6 }), validity: a.validity)
            }
            let out = micros.map { extract(part, $0) }
            return Column(type: .bigint, data: .int64(out), validity: a.validity)
        case .dateTrunc:
            let out = timestamps(a).map { truncate(part, $0) }
            return Column(type: .timestamp, data: .int64(out), validity: a.validity)
        default:
            let x = timestamps(a), y = timestamps(cols[1])
            let out = (0..<n).map { i in difference(part, x[i], y[i], whole: name == .dateSub) }
            return Column(type: .bigint, data: .int64(out), validity: Compare.validity(a, cols[1]))
        }
    }

    /// date_part with the part read from a column: a DOUBLE per row (the epoch with its fraction).
    static func partsByRow(_ parts: Column, _ values: Column) throws(SQLError) -> Column {
        var b = ColumnBuilder(type: .double, capacity: values.count)
        let micros = timestamps(values)
        for i in 0..<values.count {
            guard case .string(let name) = parts.value(at: i), !values.isNull(i), values.type != .null else { b.appendNull(); continue }
            guard let part = DateParts.canonical(name.lowercased()) else { throw SQLError.execution("unknown date part \"\(name)\"") }
            b.append(double: part == "epoch" ? Double(micros[i]) / 1e6 : Double(extract(part, micros[i])))
        }
        return b.finish()
    }

    static func timestamps(_ c: Column) -> [Int64] {
        switch c.data {
        case .int32(let d): return d.map { Int64($0) * Dates.microsPerDay }
        case .int64(let t): return t.array
        default: return [Int64](repeating: 0, count: c.count)
        }
    }

    static func split(_ ts: Int64) -> (days: Int32, micros: Int64) {
        var d = ts / Dates.microsPerDay, r = ts % Dates.microsPerDay
        if r < 0 { r += Dates.microsPerDay; d -= 1 }
        return (Int32(d), r)
    }

    static func extract(_ part: String, _ ts: Int64) -> Int64 {
        let (days, micros) = split(ts)
        let (y, m, d) = Dates.civil(days)
        switch part {
        case "year": return Int64(y)
        case "quarter": return Int64((m - 1) / 3 + 1)
        case "month": return Int64(m)
        case "day": return Int64(d)
        case "dayofweek": return Int64(((Int(days) % 7) + 11) % 7)   // 1970-01-01 was a Thursday; Sunday = 0
        case "isodow": return Int64(((Int(days) % 7) + 10) % 7 + 1)  // Monday = 1 ... Sunday = 7
        case "isoyear": return Int64(isoYear(days))
        case "yearweek": return Int64(isoYear(days) * 100 + isoWeek(days))
        case "millennium": return Int64((y - 1) / 1000 + 1)
        case "epoch_ms": return ts / 1000 - (ts % 1000 < 0 ? 1 : 0)
        case "epoch_us": return ts
        case "dayofyear": return Int64(Int(days) - Int(Dates.days(year: y, month: 1, day: 1)) + 1)
        case "week": return Int64(isoWeek(days))
        case "hour": return micros / 3_600_000_000
        case "minute": return micros / 60_000_000 % 60
        case "second": return micros / 1_000_000 % 60
        case "millisecond": return micros / 1000 % 60_000
        case "microsecond": return micros % 60_000_000
        case "decade": return Int64(y / 10)
        case "century": return Int64((y - 1) / 100 + 1)
        default: return 0
        }
    }

    /// The year of the ISO week the day is in (the year of its week's Thursday).
    static func isoYear(_ days: Int32) -> Int {
        let dow = ((Int(days) % 7) + 10) % 7
        return Dates.civil(Int32(Int(days) - dow + 3)).year
    }

    static func isoWeek(_ days: Int32) -> Int {
        let dow = ((Int(days) % 7) + 10) % 7   // Monday = 0
        let thursday = Int(days) - dow + 3
        let (ty, _, _) = Dates.civil(Int32(thursday))
        let jan1 = Int(Dates.days(year: ty, month: 1, day: 1))
        return (thursday - jan1) / 7 + 1
    }

    static func truncate(_ part: String, _ ts: Int64) -> Int64 {
        let (days, micros) = split(ts)
        let (y, m, _) = Dates.civil(days)
        let day: Int32
        switch part {
        case "year": day = Dates.days(year: y, month: 1, day: 1)
        case "quarter": day = Dates.days(year: y, month: (m - 1) / 3 * 3 + 1, day: 1)
        case "month": day = Dates.days(year: y, month: m, day: 1)
        case "week": day = days - Int32(((Int(days) % 7) + 10) % 7)
        case "decade": day = Dates.days(year: y - ((y % 10) + 10) % 10, month: 1, day: 1)
        case "century": day = Dates.days(year: (y - 1) / 100 * 100 + 1, month: 1, day: 1)
        case "millennium": day = Dates.days(year: y / 1000 * 1000, month: 1, day: 1)   // DuckDB: 2000-01-01 for 2000 to 2999
        case "day", "dayofweek", "dayofyear": day = days
        default:
            let unit: Int64 = part == "hour" ? 3_600_000_000 : part == "minute" ? 60_000_000 : part == "second" ? 1_000_000
                : part == "millisecond" ? 1000 : 1
            return Int64(days) * Dates.microsPerDay + micros / unit * unit
        }
        return Int64(day) * Dates.microsPerDay
    }

    static func difference(_ part: String, _ a: Int64, _ b: Int64, whole: Bool) -> Int64 {
        let (da, ma) = split(a), (db, mb) = split(b)
        let (ya, mona, dya) = Dates.civil(da), (yb, monb, dyb) = Dates.civil(db)
        switch part {
        case "year", "quarter", "month", "decade", "century":
            var months = Int64((yb * 12 + monb) - (ya * 12 + mona))
            if whole {
                if months > 0, dyb < dya || (dyb == dya && mb < ma) { months -= 1 }
                if months < 0, dyb > dya || (dyb == dya && mb > ma) { months += 1 }
            }
            if !whole, part != "month" {
                switch part {
                case "year": return Int64(yb - ya)
                case "quarter": return Int64((yb * 4 + (monb - 1) / 3) - (ya * 4 + (mona - 1) / 3))
                case "decade": return Int64(yb / 10 - ya / 10)
                default: return Int64((yb - 1) / 100 - (ya - 1) / 100)
                }
            }
            switch part {
            case "year": return months / 12
            case "quarter": return months / 3
            case "decade": return months / 120
            case "century": return months / 1200
            default: return months
            }
        case "week": return whole ? (b - a) / (7 * Dates.microsPerDay) : Int64(db - da) / 7
        case "day", "dayofweek", "dayofyear": return whole ? (b - a) / Dates.microsPerDay : Int64(db - da)
        case "hour": return (whole ? (b - a) : (b / 3_600_000_000 * 3_600_000_000 - a / 3_600_000_000 * 3_600_000_000)) / 3_600_000_000
        case "minute": return (b - a) / 60_000_000
        case "second": return (b - a) / 1_000_000
        case "millisecond": return (b - a) / 1000
        default: return b - a
        }
    }
}
