/// Left-aligned text columns for terminal output.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }

    mutating func add(_ row: String...) { rows.append(row) }

    func render() -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0.indices.contains(i) ? $0[i].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// 512B, 3.4K, 120M, 2.5G (binary units).
func bytes(_ n: UInt64) -> String {
    let d = Double(n)
    if n < 1024 { return "\(n)B" }
    if n < 1 << 20 { return String(format: "%.1fK", d / 1024) }
    if n < 1 << 30 { return String(format: "%.0fM", d / 1_048_576) }
    return String(format: "%.1fG", d / 1_073_741_824)
}

func age(_ ms: Int64) -> String {
    ms < 0 ? "-" : ms < 10_000 ? String(format: "%.1fs", Double(ms) / 1000) : "\(ms / 1000)s"
}

/// "42s", "3m", "2h", "4d": how long something has been so.
func duration(_ ms: Int64) -> String {
    let s = max(ms, 0) / 1000
    if s < 120 { return "\(s)s" }
    if s < 7200 { return "\(s / 60)m" }
    if s < 172_800 { return "\(s / 3600)h" }
    return "\(s / 86400)d"
}
