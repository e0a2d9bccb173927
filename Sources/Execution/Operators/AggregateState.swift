import Columnar
import SQL

/// The running state of one aggregate for every group, in arrays indexed by group id.
final class AggregateState {
    let call: AggregateCall
    private var counts: [Int64] = []
    private var sums: [Int128] = []          // exact sums (integers, decimals)
    private var dsums: [Double] = []         // double sums; Welford means
    private var m2: [Double] = []
    private var extremes: [Value] = []       // min / max / any_value
    private var values: [[Value]] = []       // median
    private var seen: [Set<Value>] = []      // DISTINCT
    private var flags: [Bool] = []           // bool_and / bool_or
    private var keys: [Value] = []           // arg_min / arg_max: the key of the value held in `extremes`
    private var pairs: [PairMoments] = []    // covar_*, corr, regr_*
    private var sketches: [HyperLogLog] = [] // approx_count_distinct
    /// With ORDER BY: each group's rows, fed in that order to a state without it when finished.
    private var held: [[HeldRow]] = []
    private struct HeldRow { var arg: Value; var extra: Value; var keys: [Value] }

    init(_ call: AggregateCall) { self.call = call }

    var argType: DataType { call.argument?.type ?? .bigint }
    var exact: Bool { argType.physical != .double && argType != .null }

    func resize(_ n: Int) {
        let grow = n - counts.count
        guard grow > 0 else { return }
        counts.append(contentsOf: repeatElement(0, count: grow))
        if !call.orderBy.isEmpty { held.append(contentsOf: repeatElement([], count: grow)); return }
        switch call.kind {
        case .sum, .avg:
            if exact { sums.append(contentsOf: repeatElement(0, count: grow)) } else { dsums.append(contentsOf: repeatElement(0, count: grow)) }
        case .stddev, .stddevPop, .varianceSamp, .variancePop:
            dsums.append(contentsOf: repeatElement(0, count: grow)); m2.append(contentsOf: repeatElement(0, count: grow))
        case .min, .max, .any_value, .first, .last: extremes.append(contentsOf: repeatElement(.null, count: grow))
        case .median, .stringAgg, .mode, .quantileCont, .quantileDisc: values.append(contentsOf: repeatElement([], count: grow))
        case .argMin, .argMax:
            extremes.append(contentsOf: repeatElement(.null, count: grow)); keys.append(contentsOf: repeatElement(.null, count: grow))
        case .bool_and, .bool_or: flags.append(contentsOf: repeatElement(call.kind == .bool_and, count: grow))
        case .count, .countStar: break
        case .approxCountDistinct: sketches.append(contentsOf: repeatElement(HyperLogLog(), count: grow))
        default: pairs.append(contentsOf: repeatElement(PairMoments(), count: grow))   // the pair statistics
        }
        if call.distinct { seen.append(contentsOf: repeatElement([], count: grow)) }
    }

    /// Adds `rows` rows, row `i` to group `ids[i]`; `orderKeys` are the values of the call's ORDER BY keys.
    func update(_ ids: [Int32], _ arg: Column?, extra: Column? = nil, orderKeys: [Column] = [], rows: Int) throws(SQLError) {
        if !call.orderBy.isEmpty {
            for i in 0..<rows {
                held[Int(ids[i])].append(HeldRow(arg: arg?.value(at: i) ?? .null, extra: extra?.value(at: i) ?? .null, keys: orderKeys.map { $0.value(at: i) }))
            }
            return
        }
        if call.kind == .first || call.kind == .last, let arg {
            // NULLs count: first(x) is the first row's x, whatever it is (DuckDB).
            for i in 0..<rows {
                let g = Int(ids[i])
                if call.kind == .last || counts[g] == 0 { extremes[g] = arg.value(at: i) }
                counts[g] += 1
            }
            return
        }
        if call.kind == .argMin || call.kind == .argMax, let arg, let extra {
            // The row with the least (greatest) key wins, the first of equal ones; rows with a NULL key or value do not count (DuckDB).
            let want = call.kind == .argMin ? -1 : 1
            guard extra.type != .null, arg.type != .null else { return }
            for i in 0..<rows where !extra.isNull(i) && !arg.isNull(i) {
                let g = Int(ids[i])
                let k = extra.value(at: i)
                if counts[g] == 0 || ValueOrder.compare(k, keys[g]) == want {
                    keys[g] = k
                    extremes[g] = arg.value(at: i)
                }
                counts[g] += 1
            }
            return
        }
        if call.kind.isPairStatistic, let arg, let extra {
            let y = arg.doubleValues(), x = extra.doubleValues()
            for i in 0..<rows where !arg.isNull(i) && !extra.isNull(i) && arg.type != .null && extra.type != .null {
                pairs[Int(ids[i])].add(y: y[i], x: x[i])
            }
            return
        }
        guard let arg else {
            for id in ids { counts[Int(id)] += 1 }   // count(*)
            return
        }
        let n = rows
        // The common case, no NULLs and no DISTINCT, runs without a selection.
        if arg.validity == nil, arg.type != .null, !call.distinct {
            switch (call.kind, arg.data) {
            case (.count, _):
                counts.withUnsafeMutableBufferPointer { c in for i in 0..<n { c[Int(ids[i])] += 1 } }
                return
            case (.sum, .int64(let a)) where exact, (.avg, .int64(let a)) where exact:
                sums.withUnsafeMutableBufferPointer { s in counts.withUnsafeMutableBufferPointer { c in
                    a.withUnsafeBufferPointer { a in ids.withUnsafeBufferPointer { ids in
                        for i in 0..<n { let g = Int(ids[i]); s[g] &+= Int128(a[i]); c[g] += 1 }
                    } }
                } }
                return
            case (.sum, .double(let a)), (.avg, .double(let a)):
                dsums.withUnsafeMutableBufferPointer { s in counts.withUnsafeMutableBufferPointer { c in
                    for i in 0..<n { let g = Int(ids[i]); s[g] += a[i]; c[g] += 1 }
                } }
                return
            default: break
            }
        }
        var live = [Bool](repeating: true, count: n)
        if let v = arg.validity { for i in 0..<n where !v[i] { live[i] = false } }
        if arg.type == .null { live = [Bool](repeating: false, count: n) }
        if call.distinct {
            for i in 0..<n where live[i] {
                if !seen[Int(ids[i])].insert(arg.value(at: i)).inserted { live[i] = false }
            }
        }
        switch call.kind {
        case .countStar, .count:
            for i in 0..<n where live[i] { counts[Int(ids[i])] += 1 }
        case .sum, .avg:
            if exact {
                switch arg.data {
                case .int64(let a):
                    sums.withUnsafeMutableBufferPointer { s in counts.withUnsafeMutableBufferPointer { c in
                        for i in 0..<n where live[i] { let g = Int(ids[i]); s[g] &+= Int128(a[i]); c[g] += 1 }
                    } }
                case .int32(let a): for i in 0..<n where live[i] { let g = Int(ids[i]); sums[g] += Int128(a[i]); counts[g] += 1 }
                case .int128(let a):
                    for i in 0..<n where live[i] {
                        let g = Int(ids[i])
                        let (r, o) = sums[g].addingReportingOverflow(a[i])
                        if o { throw SQLError.execution("Out of Range Error: Overflow in \(call.type) addition: \(sums[g]) + \(a[i])") }
                        sums[g] = r; counts[g] += 1
                    }
                default: break
                }
            } else {
                let a = arg.doubleValues()
                for i in 0..<n where live[i] { let g = Int(ids[i]); dsums[g] += a[i]; counts[g] += 1 }
            }
        case .stddev, .stddevPop, .varianceSamp, .variancePop:
            let a = arg.doubleValues()
            for i in 0..<n where live[i] {
                let g = Int(ids[i])
                counts[g] += 1
                let delta = a[i] - dsums[g]
                dsums[g] += delta / Double(counts[g])
                m2[g] += delta * (a[i] - dsums[g])
            }
        case .min, .max:
            let wantLess = call.kind == .min
            for i in 0..<n where live[i] {
                let g = Int(ids[i])
                let v = arg.value(at: i)
                if extremes[g].isNull || ValueOrder.compare(v, extremes[g]) == (wantLess ? -1 : 1) { extremes[g] = v }
                counts[g] += 1
            }
        case .any_value:
            for i in 0..<n where live[i] { let g = Int(ids[i]); if extremes[g].isNull { extremes[g] = arg.value(at: i) } }
        case .median, .stringAgg, .mode, .quantileCont, .quantileDisc:
            for i in 0..<n where live[i] { values[Int(ids[i])].append(arg.value(at: i)) }
        case .bool_and, .bool_or:
            guard case .bool(let a) = arg.data else { break }
            for i in 0..<n where live[i] {
                let g = Int(ids[i])
                flags[g] = call.kind == .bool_and ? flags[g] && a[i] : flags[g] || a[i]
                counts[g] += 1
            }
        case .approxCountDistinct:
            let hashes = Keys([arg]).hashes
            for i in 0..<n where live[i] { sketches[Int(ids[i])].add(hashes[i]) }
        default:
            break   // arg_min, arg_max and the pair statistics, above
        }
    }

    func finish(_ groups: Int) throws(SQLError) -> Column {
        if !call.orderBy.isEmpty { return try finishOrdered(groups) }
        var b = ColumnBuilder(type: call.type, capacity: groups)
        for g in 0..<groups {
            switch call.kind {
            case .countStar, .count: b.append(int64: counts[g])
            case .sum:
                if counts[g] == 0 { b.appendNull(); continue }
                if !exact { b.append(double: dsums[g]); continue }
                if call.type == .bigint {
                    guard let v = Int64(exactly: sums[g]) else { throw SQLError.execution("Out of Range Error: sum overflowed BIGINT") }
                    b.append(int64: v)
                } else { b.append(.wide(sums[g])) }
            case .avg:
                if counts[g] == 0 { b.appendNull(); continue }
                if exact {
                    let scale = Double(Decimal128.pow10(argType.decimalScale))
                    // Divide exactly first so large sums keep their precision.
                    let (q, r) = sums[g].quotientAndRemainder(dividingBy: Int128(counts[g]))
                    b.append(double: (Double(q) + Double(r) / Double(counts[g])) / scale)
                } else { b.append(double: dsums[g] / Double(counts[g])) }
            case .stddev, .stddevPop, .varianceSamp, .variancePop:
                let c = Double(counts[g])
                let sample = call.kind == .stddev || call.kind == .varianceSamp
                if counts[g] == 0 || (sample && counts[g] < 2) { b.appendNull(); continue }
                let variance = m2[g] / (sample ? c - 1 : c)
                b.append(double: call.kind == .stddev || call.kind == .stddevPop ? variance.squareRoot() : variance)
            case .min, .max, .any_value:
                b.append(extremes[g])
            case .first, .last:
                b.append(counts[g] == 0 ? .null : extremes[g])
            case .median:
                b.append(median(values[g]))
            case .stringAgg:
                guard !values[g].isEmpty else { b.appendNull(); continue }
                var separator = ","
                if case .literal(.string(let s), _)? = call.extra { separator = s }
                b.append(.string(values[g].map { if case .string(let s) = $0 { s } else { "" } }.joined(separator: separator)))
            case .argMin, .argMax:
                b.append(counts[g] == 0 ? .null : extremes[g])
            case .mode:
                b.append(mode(values[g]))
            case .quantileCont, .quantileDisc:
                b.append(quantile(values[g]))
            case .bool_and, .bool_or:
                if counts[g] == 0 { b.appendNull() } else { b.append(bool: flags[g]) }
            case .approxCountDistinct:
                b.append(int64: sketches[g].estimate)
            default:
                b.append(pairs[g].statistic(call.kind))
            }
        }
        return b.finish()
    }

    /// Each group's held rows sorted by the call's keys (ties in the order they came), run through the call without them.
    private func finishOrdered(_ groups: Int) throws(SQLError) -> Column {
        var plain = call
        plain.orderBy = []
        let inner = AggregateState(plain)
        inner.resize(groups)
        let keys = call.orderBy
        for g in 0..<groups where !held[g].isEmpty {
            let rows = held[g].enumerated().sorted { x, y in
                for (k, key) in keys.enumerated() {
                    let a = x.element.keys[k], b = y.element.keys[k]
                    if a.isNull || b.isNull {
                        if a.isNull && b.isNull { continue }
                        return a.isNull == key.nullsFirst
                    }
                    let c = ValueOrder.compare(a, b)
                    if c != 0 { return key.ascending ? c < 0 : c > 0 }
                }
                return x.offset < y.offset
            }.map(\.element)
            var args = ColumnBuilder(type: argType, capacity: rows.count)
            var extras = ColumnBuilder(type: call.extra?.type ?? .null, capacity: rows.count)
            for r in rows { args.append(r.arg); extras.append(r.extra) }
            try inner.update([Int32](repeating: Int32(g), count: rows.count), call.argument == nil ? nil : args.finish(),
                             extra: call.extra == nil ? nil : extras.finish(), rows: rows.count)
        }
        return try inner.finish(groups)
    }

    /// The most frequent value; among equally frequent ones, the first met.
    private func mode(_ vs: [Value]) -> Value {
        var counts: [Value: Int] = [:]
        var best: Value = .null, most = 0
        for v in vs {
            let c = counts[v, default: 0] + 1
            counts[v] = c
            if c > most { most = c; best = v }
        }
        return best
    }

    /// quantile_disc: the value at position ceil(n q) - 1 in order; quantile_cont:
    /// the value interpolated at (n - 1) q, as DuckDB.
    private func quantile(_ vs: [Value]) -> Value {
        guard !vs.isEmpty else { return .null }
        var q = 0.5
        if case .literal(.double(let x), _)? = call.extra { q = x }
        let sorted = vs.sorted { ValueOrder.compare($0, $1) < 0 }
        let n = sorted.count
        if call.kind == .quantileDisc {
            return sorted[min(n - 1, max(0, Int((Double(n) * q).rounded(.up)) - 1))]
        }
        let p = Double(n - 1) * q
        let lo = Int(p.rounded(.down)), hi = min(n - 1, lo + 1)
        func number(_ v: Value) -> Double {
            switch v {
            case .int(let x): return Double(x)
            case .wide(let x): return Double(x)
            case .double(let x): return x
            default: return 0
            }
        }
        let a = number(sorted[lo]), b = number(sorted[hi])
        let x = a + (p - Double(lo)) * (b - a)
        switch call.type {
        // A DECIMAL's interpolation is cut to its scale (toward zero), as DuckDB's.
        case .decimal: return call.type.physical == .int128 ? .wide(Int128(x.rounded(.towardZero))) : .int(Int64(x.rounded(.towardZero)))
        default: return .double(x)
        }
    }

    /// The middle value, or the mean of the two middle values (DuckDB's quantile_cont).
    private func median(_ vs: [Value]) -> Value {
        guard !vs.isEmpty else { return .null }
        let sorted = vs.sorted { ValueOrder.compare($0, $1) < 0 }
        let mid = sorted.count / 2
        let odd = sorted.count % 2 == 1
        switch call.type {
        case .double:
            let d = sorted.map { v -> Double in
                switch v {
                case .double(let x): return x
                case .int(let x): return Double(x) / Double(Decimal128.pow10(argType.decimalScale))
                case .wide(let x): return Double(x)
                default: return 0
                }
            }
            return .double(odd ? d[mid] : d[mid - 1] + (d[mid] - d[mid - 1]) / 2)
        default:
            if odd { return sorted[mid] }
            guard let a = sorted[mid - 1].integer, let c = sorted[mid].integer else { return sorted[mid] }
            let s = a + c
            let half = s >= 0 ? (s + 1) / 2 : (s - 1) / 2   // round half away from zero
            return call.type.physical == .int128 ? .wide(half) : .int(Int64(half))
        }
    }
}

/// Running moments of (Y, X) pairs (Welford's updates): counts, means, sums of
/// squared deviations and the co-moment, from which covariance, correlation
/// and the least-squares line come.
struct PairMoments {
    var n = 0.0, meanX = 0.0, meanY = 0.0, m2x = 0.0, m2y = 0.0, c = 0.0

    mutating func add(y: Double, x: Double) {
        n += 1
        let dx = x - meanX, dy = y - meanY
        meanX += dx / n
        meanY += dy / n
        c += dx * (y - meanY)
        m2x += dx * (x - meanX)
        m2y += dy * (y - meanY)
    }

    func statistic(_ kind: AggregateKind) -> Value {
        if kind == .regrCount { return .int(Int64(n)) }
        guard n > 0 else { return .null }
        switch kind {
        case .covarPop: return .double(c / n)
        case .covarSamp: return n > 1 ? .double(c / (n - 1)) : .null
        case .corr: return .double(c / (m2x * m2y).squareRoot())
        case .regrSlope: return .double(c / m2x)   // 0 / 0 is NaN for one X value, as DuckDB
        case .regrIntercept: return m2x == 0 ? .null : .double(meanY - c / m2x * meanX)
        case .regrR2:
            if m2x == 0 { return .null }
            if m2y == 0 { return .double(1) }
            return .double(c * c / (m2x * m2y))
        case .regrAvgX: return .double(meanX)
        case .regrAvgY: return .double(meanY)
        case .regrSXX: return .double(m2x)
        case .regrSYY: return .double(m2y)
        case .regrSXY: return .double(c)
        default: return .null
        }
    }
}

/// A total order on values of one type (NULLs are handled by callers).
enum ValueOrder {
    static func compare(_ a: Value, _ b: Value) -> Int {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y ? -1 : (x > y ? 1 : 0)
        case (.wide(let x), .wide(let y)): return x < y ? -1 : (x > y ? 1 : 0)
        case (.int(let x), .wide(let y)): return Int128(x) < y ? -1 : (Int128(x) > y ? 1 : 0)
        case (.wide(let x), .int(let y)): return x < Int128(y) ? -1 : (x > Int128(y) ? 1 : 0)
        case (.double(let x), .double(let y)): return x < y ? -1 : (x > y ? 1 : 0)
        case (.string(var x), .string(var y)):
            return x.withUTF8 { a in y.withUTF8 { b in compareBytes(UnsafeRawBufferPointer(a), UnsafeRawBufferPointer(b)) } }
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        case (.interval(let x), .interval(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.null, .null): return 0
        case (.null, _): return 1
        case (_, .null): return -1
        default: return 0
        }
    }
}
