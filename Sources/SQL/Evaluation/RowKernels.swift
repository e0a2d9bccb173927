import Columnar
import Crypto
import Foundation

/// Functions evaluated a row at a time over values (lpad, rpad, split_part,
/// make_date, last_day, strftime, strptime, digests): small ones whose cost
/// is in what they build, not in walking the column. A NULL argument gives NULL.
enum RowKernels {
    static func evaluate(_ name: ScalarFunction, _ args: [Column], _ t: DataType, rows: Int) throws(SQLError) -> Column {
        var b = ColumnBuilder(type: t, capacity: rows)
        var formats: [String: DateFormat] = [:]   // strftime/strptime: each format read once per batch
        for i in 0..<rows {
            let vs = args.map { $0.value(at: i) }
            if vs.contains(where: \.isNull) { b.appendNull(); continue }
            b.append(try one(name, vs, &formats))
        }
        return b.finish()
    }

    static func one(_ name: ScalarFunction, _ v: [Value], _ formats: inout [String: DateFormat]) throws(SQLError) -> Value {
        func text(_ k: Int) -> String { if case .string(let s) = v[k] { return s }; return "" }
        func int(_ k: Int) -> Int64 { if case .int(let x) = v[k] { return x }; return 0 }
        func format(_ k: Int) throws(SQLError) -> DateFormat {
            if let f = formats[text(k)] { return f }
            let f = try DateFormat(text(k))
            formats[text(k)] = f
            return f
        }
        func hexDigits(_ bytes: some Sequence<UInt8>, upper: Bool = false) -> String {
            let digits = Array((upper ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
            var out: [UInt8] = []
            for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
            return String(decoding: out, as: UTF8.self)
        }
        switch name {
        case .strftime:
            return .string(try format(1).format(micros: int(0)))
        case .strptime, .tryStrptime:
            let f = try format(1)
            if let ts = f.parse(text(0)) { return .int(ts) }
            if name == .tryStrptime { return .null }
            throw SQLError.execution("Invalid Input Error: Could not parse string \"\(text(0))\" according to format specifier \"\(f.text)\"")
        case .timestampFromMillis:
            let (us, overflow) = int(0).multipliedReportingOverflow(by: 1000)
            guard !overflow else { throw SQLError.execution("Conversion Error: epoch_ms \(int(0)) is out of the TIMESTAMP range") }
            return .int(us)
        case .md5:
            return .string(hexDigits(Insecure.MD5.hash(data: Data(text(0).utf8))))
        case .sha256:
            return .string(hexDigits(SHA256.hash(data: Data(text(0).utf8))))
        case .hex:
            if case .int(let x) = v[0] { return .string(String(UInt64(bitPattern: x), radix: 16, uppercase: true)) }
            return .string(hexDigits(text(0).utf8, upper: true))
        case .lpad, .rpad:
            // Cut to the width, or filled with the pad string repeated (DuckDB's, by characters).
            let s = Array(text(0)), width = Int(clamping: max(0, int(1))), fill = Array(text(2))
            guard width <= 1 << 24 else { throw SQLError.execution("\(name.rawValue)() width \(width) is too large") }
            if s.count >= width { return .string(String(s.prefix(width))) }
            guard !fill.isEmpty else { throw SQLError.execution("Insufficient padding in \(name.rawValue.uppercased())") }
            let pad = (0..<(width - s.count)).map { fill[$0 % fill.count] }
            return .string(String(name == .lpad ? pad + s : s + pad))
        case .splitPart:
            let s = text(0), sep = text(1), index = int(2)
            let parts = sep.isEmpty ? s.map(String.init) : s.components(separatedBy: sep)
            // 1-based; negative from the end; out of range is the empty string.
            let k = index > 0 ? Int(index) - 1 : index < 0 ? parts.count + Int(clamping: index) : -1
            return .string(k >= 0 && k < parts.count ? parts[k] : "")
        case .makeDate:
            let y = int(0), m = int(1), d = int(2)
            guard (1...12).contains(m), y > -290_000, y < 290_000, d >= 1, d <= Int64(Dates.daysIn(year: Int(y), month: Int(m))) else {
                throw SQLError.execution("Conversion Error: Date out of range: \(y)-\(m)-\(d)")
            }
            return .int(Int64(Dates.days(year: Int(y), month: Int(m), day: Int(d))))
        case .lastDay:
            let days: Int32
            if case .int(let x) = v[0] { days = Int32(truncatingIfNeeded: x) } else { return .null }
            let c = Dates.civil(days)
            return .int(Int64(Dates.days(year: c.year, month: c.month, day: Dates.daysIn(year: c.year, month: c.month))))
        default:
            throw SQLError.execution("internal error: \(name.rawValue) is not a row kernel")
        }
    }
}
