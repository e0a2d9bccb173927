import Foundation

/// DuckDB 2.0.1's answers to the TPC-H queries at SF0.1 (committed in
/// Tests/EngineTests/tpch-sf0.1/, made by Benchmarks/tpch/answers.py), and
/// the check of an answer from `sluice query --format csv` against them:
/// DECIMAL and every other non-DOUBLE column exactly, DOUBLE to 1e-9 relative.
public enum TPCHAnswers {
    /// The queries Sluice answers.
    public static let queries = (1...22).map { String(format: "q%02d", $0) }

    /// What differs between `csv` and DuckDB's answer to `query` (empty when they agree); at most `limit` cells are listed.
    public static func differences(_ query: String, csv: String, repo: String, limit: Int = 5) throws -> [String] {
        let answer = try String(contentsOfFile: repo + "/Tests/EngineTests/tpch-sf0.1/\(query).csv", encoding: .utf8)
        var lines = answer.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let types = columnTypes(String(lines.removeFirst().dropFirst("#types:".count)))
        let expected = CSVText.parse(lines.joined(separator: "\n"))
        let actual = CSVText.parse(csv)
        var out: [String] = []
        if actual.first != expected.first { out.append("\(query): column names \(actual.first ?? []), DuckDB has \(expected.first ?? [])") }
        if actual.count != expected.count { out.append("\(query): \(actual.count - 1) rows, DuckDB has \(expected.count - 1)") }
        for (i, (a, e)) in zip(actual, expected).enumerated().dropFirst() {
            for (c, (x, y)) in zip(a, e).enumerated() where !same(x, y, double: c < types.count && types[c] == "DOUBLE") {
                if out.count < limit { out.append("\(query) row \(i) column \(expected[0][c]): Sluice \(x), DuckDB \(y)") }
            }
        }
        return out
    }

    static func same(_ a: String, _ b: String, double: Bool) -> Bool {
        if a == b { return true }
        guard double, let x = Double(a), let y = Double(b) else { return false }
        return abs(x - y) <= 1e-9 * max(abs(x), abs(y))
    }

    /// `DECIMAL(38,2),BIGINT` -> ["DECIMAL(38,2)", "BIGINT"].
    static func columnTypes(_ s: String) -> [String] {
        var out: [String] = [], cur = "", depth = 0
        for ch in s {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if ch == ",", depth == 0 { out.append(cur); cur = "" } else { cur.append(ch) }
        }
        out.append(cur)
        return out
    }
}

/// CSV text as rows of fields (RFC 4180 quoting).
public enum CSVText {
    public static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var inQuotes = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if inQuotes {
                if c == "\"" {
                    if chars.first == "\"" { field.append("\""); chars = chars.dropFirst() } else { inQuotes = false }
                } else { field.append(c) }
            } else if c == "\"" { inQuotes = true }
            else if c == "," { row.append(field); field = "" }
            else if c == "\n" { row.append(field); rows.append(row); row = []; field = "" }
            else { field.append(c) }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
