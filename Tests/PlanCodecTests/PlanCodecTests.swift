import Columnar
@testable import Execution
import Foundation
import PlanCodec
import SQL
import Testing

/// Plans survive their wire form: every node kind, expression kind, value and
/// type of real queries round-trips and runs to the same rows; decoding
/// refuses truncated, corrupt, too deep and inconsistent plans with an error,
/// never a trap.
@Suite(.serialized)
final class PlanCodecTests {
    /// A scratch folder of small CSV, JSON Lines and partitioned files, one per test.
    let dir: String

    init() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-plancodec-\(getpid())-\(UUID().uuidString)").path
        let d = dir
        try? FileManager.default.createDirectory(atPath: d + "/parts/day=1", withIntermediateDirectories: true)
        try? FileManager.default.createDirectory(atPath: d + "/parts/day=2", withIntermediateDirectories: true)
        var csv = "a;b;price\n"
        for i in 0..<40 { csv += "\(i);\(["x", "y", "z", ""][i % 4]);\(i).25\n" }
        try? csv.write(toFile: d + "/t.csv", atomically: true, encoding: .utf8)
        try? "a,b\n1,p\n2,q\n".write(toFile: d + "/parts/day=1/f.csv", atomically: true, encoding: .utf8)
        try? "a,b\n3,r\n".write(toFile: d + "/parts/day=2/f.csv", atomically: true, encoding: .utf8)
        var json = ""
        for i in 0..<10 { json += "{\"a\": \(i), \"c\": \"j\(i)\"}\n" }
        try? json.write(toFile: d + "/j.jsonl", atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    /// Queries that between them plan every node kind and expression kind, on four threads.
    var queries: [String] {
        let t = "read_csv('\(dir)/t.csv', delim=';', on_error='skip')"
        return [
            "SELECT a + 1 AS n, upper(b) AS u, CAST(price AS DOUBLE) AS d FROM \(t) WHERE a > 3 AND b IN ('x', 'y')",
            "SELECT b, sum(a) AS s, avg(price) AS p, count(*) AS n FROM \(t) GROUP BY b HAVING sum(a) > 10 ORDER BY b",
            "SELECT b, count(DISTINCT a) AS n, median(a) AS m, string_agg(a::VARCHAR, ',' ORDER BY a DESC) AS s FROM \(t) GROUP BY b ORDER BY b",
            "SELECT x.a, y.c FROM \(t) x JOIN '\(dir)/j.jsonl' y ON x.a = y.a ORDER BY x.a",
            "SELECT x.a, y.a AS b FROM \(t) x FULL JOIN '\(dir)/j.jsonl' y ON x.a = y.a + 30 ORDER BY 1, 2",
            "SELECT x.a, y.a AS b FROM (SELECT a FROM \(t) LIMIT 3) x JOIN (SELECT a FROM \(t) LIMIT 3) y ON x.a < y.a ORDER BY 1, 2",
            "SELECT a, CASE WHEN a % 2 = 0 THEN 'even' WHEN a > 30 THEN NULL ELSE 'odd' END AS k FROM \(t) ORDER BY a DESC LIMIT 5 OFFSET 1",
            "SELECT * FROM \(t) LIMIT 7",
            "SELECT a FROM \(t) WHERE a > (SELECT avg(a) FROM '\(dir)/j.jsonl') AND a IN (SELECT a * 4 FROM '\(dir)/j.jsonl')",
            "WITH c AS (SELECT b, max(a) AS m FROM \(t) GROUP BY b) SELECT x.b, y.m FROM c x JOIN c y ON x.b = y.b ORDER BY 1",
            "SELECT i, s, d + INTERVAL 3 DAY AS later, iv FROM (VALUES (1, 'one', DATE '2026-01-02', INTERVAL 3 DAY), (2, NULL, NULL, NULL)) v(i, s, d, iv)",
            "SELECT 12345678901234567890123.5::DECIMAL(38,1) AS w, 1.5::DOUBLE AS f, TRUE AS t, NULL AS z, TIMESTAMP '2026-01-01 10:00:00' AS ts",
            "SELECT a, day FROM '\(dir)/parts/*/*.csv' WHERE day = 2",
            "SELECT a, c FROM '\(dir)/copy.sluice' WHERE a BETWEEN 2 AND 5",
            "SELECT a, b FROM \(t) WHERE a < 5 UNION ALL SELECT a, 'j' FROM '\(dir)/j.jsonl' EXCEPT SELECT 1, 'x' ORDER BY 1, 2",
            "SELECT a, b, row_number() OVER (PARTITION BY b ORDER BY a) AS rn, sum(a) OVER (ORDER BY a ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE CURRENT ROW) AS s, count(*) OVER (ORDER BY a RANGE BETWEEN 3 PRECEDING AND CURRENT ROW) AS c, lag(a, 2, 0) OVER (ORDER BY a) AS l FROM \(t) ORDER BY a",
            "SELECT a, a IN (SELECT y.a FROM '\(dir)/j.jsonl' y WHERE y.c = x.b) AS m FROM \(t) x WHERE EXISTS (SELECT 1 FROM '\(dir)/j.jsonl' y WHERE y.a = x.a) AND NOT EXISTS (SELECT 1 FROM \(t) z WHERE z.a = x.a + 1) ORDER BY a",
            "SELECT a::TINYINT AS t, a::SMALLINT + 1 AS s, a::UTINYINT AS ut, a::USMALLINT AS us, a::UINTEGER * 2 AS ui, a::UBIGINT AS ub, 170141183460469231731687303715884105727 - a AS h FROM \(t) WHERE a::TINYINT < 9 ORDER BY a",
            "WITH RECURSIVE r(n, b) AS (SELECT a, b FROM \(t) WHERE a < 3 UNION SELECT x.a, x.b FROM r JOIN \(t) x ON x.a = r.n + 5) SELECT n, b FROM r ORDER BY n",
        ]
    }

    func session(partitionedJoins: Bool = false) throws -> Session {
        let s = Session()
        try s.setThreads(4)
        if partitionedJoins { s.broadcastLimit = 0 }
        _ = try s.execute("COPY (SELECT * FROM '\(dir)/j.jsonl') TO '\(dir)/copy.sluice' (FORMAT sluice)")
        return s
    }

    func plan(_ s: Session, _ sql: String) throws -> PhysicalQuery {
        guard case .query(let q) = try Parser.parse(sql).last! else { throw SQLError.execution("not a query") }
        return try s.physical(q)
    }

    func rows(_ q: PhysicalQuery) throws -> [[Value]] {
        try QueryRun(q, partitions: 4, cancel: Cancellation()).run().flatMap { b in (0..<b.rowCount).map { b.row($0) } }
    }

    @Test func realPlansRoundTripAndRunTheSame() throws {
        let shared = try session(), partitioned = try session(partitionedJoins: true)
        var nodes = Set<String>(), exprs = Set<String>(), values = Set<String>(), types = Set<String>()
        for (k, sql) in queries.enumerated() {
            // Every other query with partitioned hash joins (as a cluster plans large ones).
            let original = try plan(k % 2 == 0 ? shared : partitioned, sql)
            let bytes = try PlanCodec.encode(original)
            let decoded = try PlanCodec.decode(bytes)
            #expect(try PlanCodec.encode(decoded) == bytes, "\(sql)")
            #expect(PlanText.render(decoded) == PlanText.render(original), "\(sql)")
            #expect(try rows(decoded) == rows(original), "\(sql)")
            Self.census(decoded, &nodes, &exprs, &values, &types)
            // The same plan cut into stages, each sent as a `sql` task's payload, runs the same.
            var stages: [QueryStage] = []
            for planned in try StageCutter(partitions: 3, scanTasks: 2).cut(original).stages {
                var stage = planned
                // Every other query's shuffle readers get a layout (as adaptive execution sets): one task
                // reads buckets 0 and 1 of every input, another bucket 2.
                let shuffled = stage.plan.shuffledStageInputs
                if k % 2 == 1, !shuffled.isEmpty {
                    stage.layout = [shuffled.map { InputSlice(stage: $0, buckets: 0..<2) }, shuffled.map { InputSlice(stage: $0, buckets: 2..<3, producers: nil) }]
                    stage.tasks = 2
                }
                let bytes = try PlanCodec.encode(stage)
                let back = try PlanCodec.decodeStage(bytes)
                #expect(try PlanCodec.encode(back) == bytes, "\(sql) stage \(stage.id)")
                #expect(PlanText.render(StagePlan(stages: [back])) == PlanText.render(StagePlan(stages: [stage])), "\(sql) stage \(stage.id)")
                Self.census(PhysicalQuery(root: back.plan), &nodes, &exprs, &values, &types)
                stages.append(back)
            }
            let staged = try StagedQuery.run(StagePlan(stages: stages), threads: 2, cancel: Cancellation()).rows
            #expect(staged.flatMap { b in (0..<b.rowCount).map { b.row($0) } } == (try rows(original)), "\(sql) in stages")
        }
        // A COPY's write node, as the cluster plans one, survives the trip.
        let source = try plan(shared, queries[0])
        var write = PhysicalPlan(.write(WriteSpec(directory: "/data/out.sluice-staging-1", format: "csv", partitionBy: [source.root.schema.fields[0].name],
                                                  header: true, delimiter: "|", fileName: "")),
                                 inputs: [source.root], schema: WriteSpec.summarySchema)
        write.id = (source.root.allNodes.map(\.id).max() ?? 0) + 1
        let writing = PhysicalQuery(root: write, subqueries: source.subqueries, ctes: source.ctes)
        let writeBytes = try PlanCodec.encode(writing)
        let writeBack = try PlanCodec.decode(writeBytes)
        #expect(try PlanCodec.encode(writeBack) == writeBytes)
        #expect(PlanText.render(writeBack) == PlanText.render(writing))
        Self.census(writeBack, &nodes, &exprs, &values, &types)
        // Between them the queries used every kind: a new kind needs a query here.
        #expect(nodes == Set(Self.allNodeKinds), "missing: \(Set(Self.allNodeKinds).subtracting(nodes))")
        #expect(exprs == Set(Self.allExprKinds), "missing: \(Set(Self.allExprKinds).subtracting(exprs))")
        #expect(values == ["null", "bool", "int", "wide", "double", "string", "interval"], "\(values)")
        let allTypes: Set<String> = ["BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
                                     "DOUBLE", "DECIMAL", "VARCHAR", "DATE", "TIMESTAMP", "INTERVAL", "NULL"]
        #expect(types == allTypes, "missing: \(allTypes.subtracting(types))")
    }

    static let allNodeKinds = ["scan csv", "scan json", "scan sluice", "values", "cteScan", "filter", "project", "union",
                               "aggregate single", "aggregate partial", "aggregate final", "hashJoin shared", "hashJoin partitioned",
                               "nestedLoopJoin", "sort", "topN", "limit", "repartition", "gather any", "gather preserve",
                               "gather merge", "broadcast", "stageInput", "write", "window", "recursiveCTE", "workingTable"]
    static let allExprKinds = ["column", "literal", "call", "cast", "caseWhen", "inList", "subqueryValue", "inSubqueryRows"]

    /// Which kinds of node, expression, value and type a query holds.
    static func census(_ q: PhysicalQuery, _ nodes: inout Set<String>, _ exprs: inout Set<String>, _ values: inout Set<String>, _ types: inout Set<String>) {
        func type(_ t: DataType) { types.insert(t.description.hasPrefix("DECIMAL") ? "DECIMAL" : t.description) }
        func expr(_ e: BoundExpr) {
            switch e {
            case .column(_, let t): exprs.insert("column"); type(t)
            case .literal(let v, let t):
                exprs.insert("literal"); type(t)
                switch v {
                case .null: values.insert("null")
                case .bool: values.insert("bool")
                case .int: values.insert("int")
                case .wide: values.insert("wide")
                case .double: values.insert("double")
                case .string: values.insert("string")
                case .interval: values.insert("interval")
                }
            case .call: exprs.insert("call")
            case .cast: exprs.insert("cast")
            case .caseWhen: exprs.insert("caseWhen")
            case .inList: exprs.insert("inList")
            case .subqueryValue: exprs.insert("subqueryValue")
            case .inSubqueryRows: exprs.insert("inSubqueryRows")
            default: exprs.insert("logical")
            }
            e.children.forEach(expr)
        }
        for tree in [q.root] + q.subqueries + q.ctes {
            for p in tree.allNodes {
                p.schema.fields.forEach { type($0.type) }
                p.node.expressions.forEach(expr)
                switch p.node {
                case .scan(let s):
                    switch s.format {
                    case .csv: nodes.insert("scan csv")
                    case .json: nodes.insert("scan json")
                    case .sluice: nodes.insert("scan sluice")
                    }
                case .values: nodes.insert("values")
                case .cteScan: nodes.insert("cteScan")
                case .filter: nodes.insert("filter")
                case .project: nodes.insert("project")
                case .aggregate(_, _, let phase): nodes.insert("aggregate \(phase.rawValue)")
                case .hashJoin(_, _, _, _, let b): nodes.insert("hashJoin \(b.rawValue)")
                case .nestedLoopJoin: nodes.insert("nestedLoopJoin")
                case .sort: nodes.insert("sort")
                case .topN: nodes.insert("topN")
                case .limit: nodes.insert("limit")
                case .exchange(.repartition): nodes.insert("repartition")
                case .exchange(.gather(.any)): nodes.insert("gather any")
                case .exchange(.gather(.preserve)): nodes.insert("gather preserve")
                case .exchange(.gather(.merge)): nodes.insert("gather merge")
                case .exchange(.broadcast): nodes.insert("broadcast")
                case .stageInput: nodes.insert("stageInput")
                case .write: nodes.insert("write")
                case .union: nodes.insert("union")
                case .window: nodes.insert("window")
                case .recursiveCTE: nodes.insert("recursiveCTE")
                case .workingTable: nodes.insert("workingTable")
                }
            }
        }
    }

    // MARK: refusals

    /// A small plan: VALUES of one BIGINT column, projected.
    func tiny(_ exprs: [BoundExpr] = [.call(.add, [.column(0, .bigint), .literal(.int(1), .bigint)], .bigint)],
              schema: Schema = Schema([Field("n", .bigint)])) -> PhysicalQuery {
        var b = ColumnBuilder(type: .bigint)
        for i in 0..<3 { b.append(int64: Int64(i)) }
        let values = PhysicalPlan(.values([RecordBatch(schema: Schema([Field("a", .bigint)]), columns: [b.finish()])]), schema: Schema([Field("a", .bigint)]))
        return PhysicalQuery(root: PhysicalPlan(.project(exprs), inputs: [values], schema: schema).numbered())
    }

    func refused(_ q: PhysicalQuery, _ why: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        do {
            _ = try PlanCodec.decode(try PlanCodec.encode(q))
            Issue.record("decoded a plan that should be refused for \(why)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.message.contains(why), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    func patched(_ bytes: [UInt8], _ from: [UInt8], _ to: [UInt8]) -> [UInt8] {
        var out = bytes
        guard let i = (0...(bytes.count - from.count)).first(where: { Array(bytes[$0..<($0 + from.count)]) == from }) else { return bytes }
        out.replaceSubrange(i..<(i + from.count), with: to)
        return out
    }

    func decodeError(_ bytes: [UInt8]) -> String? {
        do { _ = try PlanCodec.decode(bytes); return nil } catch { return error.message }
    }

    @Test func inconsistentPlansAreRefusedBeforeTheyRun() throws {
        #expect(try rows(try PlanCodec.decode(try PlanCodec.encode(tiny()))) == [[.int(1)], [.int(2)], [.int(3)]])
        refused(tiny([.column(5, .bigint)]), "column #5 of 1")
        refused(tiny([.column(0, .varchar)], schema: Schema([Field("n", .varchar)])), "column #0 is BIGINT, not VARCHAR")
        refused(tiny([.column(0, .bigint), .column(0, .bigint)]), "declares columns")
        // A narrow integer held in a wider word: a literal outside its type's range is damage.
        refused(tiny([.literal(.int(300), .tinyint)], schema: Schema([Field("n", .tinyint)])), "literal 300 is out of range for TINYINT")
        refused(tiny([.literal(.wide(-1), .ubigint)], schema: Schema([Field("n", .ubigint)])), "literal -1 is out of range for UBIGINT")
        refused(tiny([.call(.add, [.column(0, .bigint)], .bigint)]), "add() with 1 arguments")
        refused(tiny([.subqueryValue(0, .bigint)]), "subquery 1 is not available")
        refused(tiny([.literal(.string("x"), .bigint)]), "constant holds")
        var wrongInputs = tiny()
        wrongInputs.root.inputs = []
        refused(wrongInputs, "0 inputs where 1 are needed")
        var cte = tiny()
        cte.root = PhysicalPlan(.cteScan(id: 3), schema: Schema([Field("a", .bigint)]))
        refused(cte, "CTE 4 does not exist")

        let good = try PlanCodec.encode(tiny())
        #expect(decodeError(patched(good, Array("add".utf8), Array("adx".utf8)))?.contains("unknown function adx()") == true)
        #expect(decodeError(patched(good, [0x08, 0x01], [0x08, 0x07]))?.contains("version 7") == true)
        let decimal = try PlanCodec.encode(tiny([.literal(.null, .decimal(precision: 38, scale: 2))], schema: Schema([Field("d", .decimal(precision: 38, scale: 2))])))
        #expect(decodeError(patched(decimal, [0x10, 0x26, 0x18, 0x02], [0x10, 0x63, 0x18, 0x02]))?.contains("DECIMAL(99,2) is out of range") == true)
        for n in 0..<good.count { #expect(decodeError(Array(good.prefix(n))) != nil, "a prefix of \(n) bytes decoded") }
    }

    @Test func inconsistentStagesAreRefusedBeforeTheyRun() throws {
        let schema = Schema([Field("a", .bigint)])
        func stage(_ plan: PhysicalPlan, id: Int = 2, output: StageOutput = .single, tasks: Int = 1, dependsOn: [Int] = [1],
                   shares: [[ScanShare]]? = nil) -> QueryStage {
            QueryStage(id: id, plan: plan.numbered(), output: output, combine: .any, tasks: tasks, dependsOn: dependsOn, subqueries: [],
                       subqueryTypes: [], scanShares: shares)
        }
        func refusedStage(_ s: QueryStage, _ why: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            do {
                _ = try PlanCodec.decodeStage(try PlanCodec.encode(s))
                Issue.record("decoded a stage that should be refused for \(why)", sourceLocation: sourceLocation)
            } catch {
                #expect(error.message.contains(why), "\(error.message)", sourceLocation: sourceLocation)
            }
        }
        let input = PhysicalPlan(.stageInput(stage: 1, exchange: .repartition(keys: [.column(0, .bigint)])), schema: schema)
        let good = stage(input, output: .hash(keys: [.column(0, .bigint)], partitions: 4), tasks: 3)
        let bytes = try PlanCodec.encode(good)
        #expect(try PlanCodec.encode(try PlanCodec.decodeStage(bytes)) == bytes)
        refusedStage(stage(input, dependsOn: []), "reads stage 1 without depending on it")
        refusedStage(stage(PhysicalPlan(.stageInput(stage: 5, exchange: .broadcast), schema: schema), dependsOn: [5]), "not earlier")
        refusedStage(stage(input, output: .hash(keys: [.column(3, .bigint)], partitions: 4)), "column #3 of 1")
        refusedStage(stage(input, output: .hash(keys: [.column(0, .bigint)], partitions: 1_000_000)), "1000000 buckets")
        refusedStage(stage(input, tasks: 0), "has 0 tasks")
        refusedStage(stage(input, tasks: 2, shares: [[ScanShare(file: 0)]]), "among 1 tasks, not 2")
        // Layouts (adaptive execution's): one per task, of inputs read by key, within bounds.
        func laidOut(_ layout: [[InputSlice]], tasks: Int = 2) -> QueryStage { var s = stage(input, tasks: tasks); s.layout = layout; return s }
        let slice = InputSlice(stage: 1, buckets: 0..<4, producers: 2..<5)
        #expect(try PlanCodec.decodeStage(try PlanCodec.encode(laidOut([[slice], []]))).layout == [[slice], []])
        refusedStage(laidOut([[slice]]), "lays out reads for 1 tasks, not 2")
        refusedStage(laidOut([[InputSlice(stage: 0, buckets: 0..<1)], []]), "slices of stage 0, which it does not read by key")
        refusedStage(laidOut([[InputSlice(stage: 1, buckets: 0..<4_000_000)], []]), "buckets 0..<4000000")
        refusedStage(laidOut([[InputSlice(stage: 1, buckets: 0..<1, producers: 4_000_000_000..<4_000_000_001)], []]), "of producers")
        refusedStage(stage(PhysicalPlan(.stageInput(stage: 1, exchange: .broadcast), schema: schema)
            .withNewInputs([]), dependsOn: [1]).withSubquery(), "subquery")
        for n in 0..<bytes.count {
            do { _ = try PlanCodec.decodeStage(Array(bytes.prefix(n))); Issue.record("a prefix of \(n) bytes decoded") } catch {}
        }
        // A task index the stage does not have is an error, not a trap.
        #expect(throws: SQLError.self) { try StageTask.run(good, task: 7, threads: 1, reader: NoInputs(), cancel: Cancellation()) }
    }

    struct NoInputs: StageReader {
        func read(_ slices: [InputSlice]) throws(SQLError) -> [[RecordBatch]] { [] }
    }

    /// Length-delimited field `number` holding `body`.
    func field(_ number: Int, _ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        func varint(_ v: Int) { var x = UInt64(v); while x >= 0x80 { out.append(UInt8(x & 0x7F) | 0x80); x >>= 7 }; out.append(UInt8(x)) }
        varint(number << 3 | 2)
        varint(body.count)
        return out + body
    }

    @Test func deepNestingIsRefusedWithoutRecursion() {
        // Query.root = Node{filter: Filter{predicate: Expr{cast: Cast{input: Expr{cast: ...}}}}}, 100,000 levels.
        var expr = field(1, [])                       // Expr.column, empty
        for _ in 0..<50_000 { expr = field(4, field(1, expr)) }   // Expr.cast = Cast{input = expr}
        let bytes = [0x08, 0x01] + field(2, field(4, field(1, expr)))
        #expect(decodeError(bytes)?.contains("nested more than") == true)
    }

    @Test func corruptedPlansFailCleanlyOrRun() throws {
        let s = try session()
        var seeds: [[UInt8]] = []
        for sql in queries { seeds.append(try PlanCodec.encode(try plan(s, sql))) }
        var r: UInt64 = 99
        func next(_ n: Int) -> Int { r = r &* 6364136223846793005 &+ 1442695040888963407; return Int((r >> 33) % UInt64(n)) }
        var decoded = 0
        for round in 0..<3000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<(1 + next(3)) {
                switch next(3) {
                case 0: bytes[next(bytes.count)] = UInt8(next(256))
                case 1: bytes[next(bytes.count)] ^= UInt8(1 << next(8))
                default: bytes.removeSubrange(next(bytes.count)..<bytes.count)
                }
                if bytes.isEmpty { break }
            }
            guard let q = try? PlanCodec.decode(bytes) else { continue }
            decoded += 1
            // What decodes passed the checks: it runs to rows or to an error, never a trap.
            _ = try? QueryRun(q, partitions: 4, cancel: Cancellation()).run()
        }
        #expect(decoded > 0, "no corrupted plan decoded, so none ran")
    }
}

extension QueryStage {
    /// This stage with a projection of subquery 1's value on top, listing no subqueries.
    func withSubquery() -> QueryStage {
        var s = self
        s.plan = PhysicalPlan(.project([.subqueryValue(0, .bigint)]), inputs: [plan], schema: Schema([Field("v", .bigint)])).numbered()
        return s
    }
}
