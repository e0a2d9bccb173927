import Columnar

/// The table functions `range(start, stop[, step])` (stop excluded) and
/// `generate_series(start, stop[, step])` (stop included), as DuckDB: one
/// argument is `range(0, stop)`; integers make BIGINT rows, dates and
/// timestamps with an INTERVAL step make TIMESTAMP rows. The arguments must
/// be constants; the rows are made when the query is bound.
extension Binder {
    static let maxSeriesRows = 100_000_000

    func bindSeries(_ name: String, _ args: [FunctionArg], alias: String?, _ loc: SourceLocation) throws(SQLError) -> (LogicalPlan, Scope) {
        let inclusive = name == "generate_series"
        guard (1...3).contains(args.count), args.allSatisfy({ $0.name == nil }) else {
            throw SQLError.binder("\(name) takes (stop), (start, stop) or (start, stop, step)", loc)
        }
        var values: [(Value, DataType)] = []
        for a in args {
            guard case .literal(let v, let t) = try ConstantFolder.fold(try bindExpr(a.value, Scope())) else {
                throw SQLError.binder("\(name) needs constant arguments", a.value.location)
            }
            values.append((v, t))
        }
        if values.contains(where: { $0.0.isNull }) { return series(name, alias, .bigint, []) }
        let timed = values.prefix(2).contains { $0.1 == .date || $0.1 == .timestamp }
        func micros(_ x: (Value, DataType), _ at: SourceLocation) throws(SQLError) -> Int64 {
            switch (x.0, x.1) {
            case (.int(let d), .date): return d * Dates.microsPerDay
            case (.int(let m), .timestamp): return m
            default: throw SQLError.binder("\(name) over dates or timestamps needs a DATE or TIMESTAMP start and stop, not \(x.1)", at)
            }
        }
        var out: [Int64] = []
        func add(_ v: Int64) throws(SQLError) {
            guard out.count < Self.maxSeriesRows else {
                throw SQLError.binder("\(name) would make more than \(Self.maxSeriesRows) rows; use a smaller range or a larger step", loc)
            }
            out.append(v)
        }
        if timed {
            guard values.count == 3, case .interval(let step) = values[2].0 else {
                throw SQLError.binder("\(name) over dates or timestamps needs an INTERVAL step", loc)
            }
            let start = try micros(values[0], args[0].value.location), stop = try micros(values[1], args[1].value.location)
            let zero = step.months == 0 && step.days == 0 && step.micros == 0
            let forward = step.months > 0 || (step.months == 0 && (step.days > 0 || (step.days == 0 && step.micros > 0)))
            guard !zero else { throw SQLError.binder("\(name) step cannot be zero", args[2].value.location) }
            var t = start
            while forward ? (inclusive ? t <= stop : t < stop) : (inclusive ? t >= stop : t > stop) {
                try add(t)
                // Step by step, as DuckDB: Jan 31 + 1 month is Feb 28, and the next is Mar 28.
                let next = Dates.add(step, toTimestamp: t)
                guard forward ? next > t : next < t else { break }
                t = next
            }
            return series(name, alias, .timestamp, out)
        }
        var ints: [Int64] = []
        for (i, (v, t)) in values.enumerated() {
            guard case .int(let n) = v, t.isIntegral else {
                throw SQLError.binder("\(name) takes whole numbers (or dates and timestamps with an INTERVAL step), not \(t)", args[i].value.location)
            }
            ints.append(n)
        }
        let (start, stop) = ints.count == 1 ? (Int64(0), ints[0]) : (ints[0], ints[1])
        let step = ints.count == 3 ? ints[2] : 1
        guard step != 0 else { throw SQLError.binder("\(name) step cannot be zero", args[2].value.location) }
        // Count first: a huge series is refused before it is made.
        let span = Double(stop) - Double(start)
        if span / Double(step) > Double(Self.maxSeriesRows) {
            throw SQLError.binder("\(name) would make more than \(Self.maxSeriesRows) rows; use a smaller range or a larger step", loc)
        }
        var v = start
        while step > 0 ? (inclusive ? v <= stop : v < stop) : (inclusive ? v >= stop : v > stop) {
            try add(v)
            let (next, overflow) = v.addingReportingOverflow(step)
            if overflow { break }
            v = next
        }
        return series(name, alias, .bigint, out)
    }

    private func series(_ name: String, _ alias: String?, _ type: DataType, _ values: [Int64]) -> (LogicalPlan, Scope) {
        let schema = Schema([Field(name, type)])
        var batches: [RecordBatch] = []
        var i = 0
        while i < values.count {
            let n = min(8192, values.count - i)
            var b = ColumnBuilder(type: type, capacity: n)
            for v in values[i..<(i + n)] { b.append(int64: v) }
            batches.append(RecordBatch(schema: schema, columns: [b.finish()], rowCount: n))
            i += n
        }
        return scan(catalog.rows(name: alias ?? name, schema: schema, batches: batches), alias: alias ?? name)
    }
}
