import Columnar
import Foundation
import SQL

/// EXPLAIN's text: one node a line, inputs indented under it; then each
/// subquery and CTE under a heading of its own. With statistics (EXPLAIN
/// ANALYZE), every line adds what its operators did, summed over the
/// partitions that ran it: rows and batches out, time spent in the node itself
/// (its inputs' time taken off), and how many threads ran it.
enum PlanText {
    static func render(_ q: PhysicalQuery, stats: RunStats? = nil, trees: (root: Int, subquery: (Int) -> Int, cte: (Int) -> Int)? = nil) -> [String] {
        var lines: [String] = []
        func walk(_ p: PhysicalPlan, _ depth: Int, tree: Int) {
            var line = String(repeating: "  ", count: depth) + label(p)
            if let stats { line += "  " + analysis(p, stats, tree: tree) }
            lines.append(line)
            for i in p.inputs { walk(i, depth + 1, tree: tree) }
        }
        walk(q.root, 0, tree: trees?.root ?? 0)
        for (i, s) in q.subqueries.enumerated() {
            lines.append("SUBQUERY $subquery\(i + 1):")
            walk(s, 1, tree: trees?.subquery(i) ?? 0)
        }
        for (i, c) in q.ctes.enumerated() {
            lines.append("CTE cte\(i + 1):")
            walk(c, 1, tree: trees?.cte(i) ?? 0)
        }
        return lines
    }

    /// A query cut into stages: each stage, its tasks and output, then its
    /// fragment. With figures (EXPLAIN ANALYZE), what each stage did under its heading.
    static func render(_ plan: StagePlan, figures: [StageFigures]? = nil) -> [String] {
        var lines: [String] = []
        func walk(_ p: PhysicalPlan, _ depth: Int) {
            lines.append(String(repeating: "  ", count: depth) + label(p))
            for i in p.inputs { walk(i, depth + 1) }
        }
        for s in plan.stages {
            var head = "STAGE \(s.id)\(s.id == plan.stages.count - 1 ? " (result)" : ""): \(s.tasks) task\(s.tasks == 1 ? "" : "s")"
            switch s.output {
            case .single: head += ", one output"
            case .hash(let keys, let n): head += ", output hashed into \(n) by (" + keys.map { ExpressionText.render($0, s.plan.schema) }.joined(separator: ", ") + ")"
            }
            if !s.dependsOn.isEmpty { head += ", reads stage" + (s.dependsOn.count == 1 ? " " : "s ") + s.dependsOn.map(String.init).joined(separator: ", ") }
            lines.append(head)
            if let f = figures, s.id < f.count {
                lines.append("  " + analysis(f[s.id]))
                lines += f[s.id].changes.map { "  adaptive: " + $0 }
            }
            walk(s.plan, 1)
        }
        return lines
    }

    /// `ran: rows=600572 shuffled=1.2MB time=0.412s task_time=0.770s tasks=3 on w1, w2`.
    static func analysis(_ f: StageFigures) -> String {
        "ran: rows=\(f.rows) shuffled=\(byteText(f.bytes))" + String(format: " time=%.3fs task_time=%.3fs", f.seconds, f.taskSeconds)
            + " tasks=\(f.tasks) on " + (f.workers.isEmpty ? "-" : f.workers.joined(separator: ", "))
            + (f.spilled > 0 ? " spilled=\(byteText(f.spilled))" : "")
    }

    static func byteText(_ n: UInt64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var v = Double(n), i = 0
        while v >= 1000, i < units.count - 1 { v /= 1000; i += 1 }
        return i == 0 ? "\(n)B" : String(format: "%.1f", v) + units[i]
    }

    static func label(_ p: PhysicalPlan) -> String {
        let input = p.inputs.first?.schema ?? p.schema
        func list(_ es: [BoundExpr], _ s: Schema) -> String { es.map { ExpressionText.render($0, s) }.joined(separator: ", ") }
        switch p.node {
        case .scan(let spec):
            var s = "SCAN \(spec.label) [" + p.schema.fields.map(\.name).joined(separator: ", ") + "]"
            if !spec.filters.isEmpty { s += " filters: " + spec.filters.map { ExpressionText.render($0, p.schema) }.joined(separator: " AND ") }
            return s
        case .values(let batches):
            return "VALUES (\(batches.reduce(0) { $0 + $1.rowCount }) rows)"
        case .stageInput(let stage, let e):
            return "STAGE_INPUT stage \(stage) (\(exchangeLabel(e, p.schema)))"
        case .write(let w):
            return "WRITE \(w.format) to \(w.directory)" + (w.fileName.isEmpty ? "" : "/\(w.fileName)")
                + (w.partitionBy.isEmpty ? "" : " partitioned by (" + w.partitionBy.joined(separator: ", ") + ")")
        case .recursiveCTE(let id, let distinct):
            return "RECURSIVE_CTE r\(id + 1) (\(distinct ? "UNION" : "UNION ALL")) [" + p.schema.fields.map(\.name).joined(separator: ", ") + "]"
        case .workingTable(let id):
            return "WORKING_TABLE r\(id + 1) [" + p.schema.fields.map(\.name).joined(separator: ", ") + "]"
        case .cteScan(let id):
            return "CTE_SCAN cte\(id + 1) [" + p.schema.fields.map(\.name).joined(separator: ", ") + "]"
        case .filter(let e):
            return "FILTER " + ExpressionText.render(e, input)
        case .project(let es):
            return "PROJECT " + list(es, input)
        case .aggregate(let groups, let aggregates, let phase):
            var parts: [String] = []
            if !groups.isEmpty { parts.append("keys: " + list(groups, input)) }
            if !aggregates.isEmpty {
                parts.append("aggregates: " + aggregates.map { a in
                    "\(a.kind == .countStar ? "count" : a.kind.rawValue)(\(a.distinct ? "DISTINCT " : "")\(a.argument.map { ExpressionText.render($0, input) } ?? "*"))"
                }.joined(separator: ", "))
            }
            return "HASH_AGGREGATE" + (phase == .single ? "" : " (\(phase.rawValue))") + " " + parts.joined(separator: "; ")
        case .hashJoin(let kind, let probeKeys, let buildKeys, let residual, let build):
            let conditions = zip(probeKeys, buildKeys).map { "\(ExpressionText.render($0, input)) = \(ExpressionText.render($1, p.inputs[1].schema))" }
            return "HASH_JOIN \(kind.rawValue) " + conditions.joined(separator: " AND ")
                + (residual.map { " AND \(ExpressionText.render($0, Schema(input.fields + p.inputs[1].schema.fields)))" } ?? "") + " (build: \(build.rawValue))"
        case .union:
            return "UNION_ALL"
        case .window(let partition, let order, let calls):
            var over: [String] = []
            if !partition.isEmpty { over.append("PARTITION BY " + list(partition, input)) }
            if !order.isEmpty { over.append("ORDER BY " + SortKernel.describe(order, input)) }
            return "WINDOW " + calls.map { "\($0.function.name)(\(list($0.arguments, input)))" }.joined(separator: ", ") + " OVER (" + over.joined(separator: " ") + ")"
        case .nestedLoopJoin(let kind, let condition):
            return (kind == .cross || kind == .inner ? "CROSS_PRODUCT" : "NESTED_LOOP_JOIN \(kind.rawValue)")
                + (condition.map { " " + ExpressionText.render($0, Schema(input.fields + p.inputs[1].schema.fields)) } ?? "")
        case .sort(let keys):
            return "ORDER_BY " + SortKernel.describe(keys, input)
        case .topN(let keys, let limit):
            return "TOP_N \(limit) " + SortKernel.describe(keys, input)
        case .limit(let limit, let offset):
            return "LIMIT \(limit.map(String.init) ?? "ALL")" + (offset > 0 ? " OFFSET \(offset)" : "")
        case .exchange(let e):
            return "EXCHANGE " + exchangeLabel(e, input)
        }
    }

    /// `repartition by hash(a)`, `gather merging a ASC`: over `schema` (an exchange's columns are its input's).
    static func exchangeLabel(_ e: Exchange, _ schema: Schema) -> String {
        switch e {
        case .repartition(let keys): "repartition by hash(" + keys.map { ExpressionText.render($0, schema) }.joined(separator: ", ") + ")"
        case .gather(.any): "gather"
        case .gather(.preserve): "gather (input order)"
        case .gather(.merge(let keys)): "gather merging " + SortKernel.describe(keys, schema)
        case .broadcast: "broadcast"
        }
    }

    private static func analysis(_ p: PhysicalPlan, _ stats: RunStats, tree: Int) -> String {
        let own = stats.of(tree: tree, node: p.id)
        guard !own.isEmpty else { return "(not run)" }
        let total = own.reduce(UInt64(0)) { $0 &+ $1.nanos }
        let inputs = p.inputs.flatMap { stats.of(tree: tree, node: $0.id) }.reduce(UInt64(0)) { $0 &+ $1.nanos }
        // Exchanges run their inputs on other threads: all of their time is their own (waiting included).
        let selfTime: UInt64
        if case .exchange = p.node { selfTime = total } else { selfTime = total > inputs ? total - inputs : 0 }
        var s = String(format: "(rows=%d batches=%d time=%.3fms threads=%d", own.reduce(0) { $0 + $1.rows }, own.reduce(0) { $0 + $1.batches },
                       Double(selfTime) / 1e6, own.count)
        if case .scan = p.node {
            s += " files=\(own.reduce(0) { $0 + $1.filesRead }) files_skipped=\(own.reduce(0) { $0 + $1.filesSkipped })"
            s += " bytes=\(own.reduce(0) { $0 + $1.bytesRead }) bytes_skipped=\(own.reduce(0) { $0 + $1.bytesSkipped })"
        }
        let peak = own.reduce(0) { $0 + $1.peakMemory }, spilled = own.reduce(0) { $0 + $1.spilledBytes }
        if peak > 0 || spilled > 0 {
            s += " peak_memory=\(byteText(UInt64(peak))) spilled=\(byteText(UInt64(spilled))) read_back=\(byteText(UInt64(own.reduce(0) { $0 + $1.readBackBytes })))"
        }
        return s + ")"
    }
}
