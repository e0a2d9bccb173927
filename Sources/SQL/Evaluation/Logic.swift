import Columnar

/// Three-valued AND, OR and NOT.
enum Logic {
    static func bools(_ c: Column) -> [Bool] {
        if case .bool(let a) = c.data { return a.array }
        return [Bool](repeating: false, count: c.count)   // a NULL-typed column
    }

    static func andOr(_ isAnd: Bool, _ a: Column, _ b: Column) throws(SQLError) -> Column {
        let x = bools(a), y = bools(b)
        let n = x.count
        if a.validity == nil && b.validity == nil && a.type != .null && b.type != .null {
            var out = [Bool](repeating: false, count: n)
            if isAnd { for i in 0..<n { out[i] = x[i] && y[i] } } else { for i in 0..<n { out[i] = x[i] || y[i] } }
            return Column(type: .boolean, data: .bool(out))
        }
        var out = [Bool](repeating: false, count: n)
        var valid = Bitmap(count: n, allSet: true)
        let aNullType = a.type == .null, bNullType = b.type == .null
        for i in 0..<n {
            let an = aNullType || a.isNull(i), bn = bNullType || b.isNull(i)
            if isAnd {
                if (!an && !x[i]) || (!bn && !y[i]) { out[i] = false }
                else if an || bn { valid[i] = false }
                else { out[i] = true }
            } else {
                if (!an && x[i]) || (!bn && y[i]) { out[i] = true }
                else if an || bn { valid[i] = false }
                else { out[i] = false }
            }
        }
        return Column(type: .boolean, data: .bool(out), validity: valid)
    }

    static func not(_ a: Column) -> Column {
        if a.type == .null { return a }
        return Column(type: .boolean, data: .bool(bools(a).map { !$0 }), validity: a.validity)
    }
}
