import Testing
@testable import Pipelines

/// Reading and validating pipeline files: every error names the file, the
/// line and the column, and says what to do.
struct PipelineFileTests {
    static let shop = """
    name: shop
    params:
      date: { type: date }
      region: { type: string, default: EU }
    sources:
      raw_sales: { path: lake/raw/sales/*.csv, format: csv, on_error: quarantine }
      customers: { dataset: customers }
    models:
      clean_sales:
        sql: |
          SELECT id, customer_id, amount
          FROM raw_sales
          WHERE sale_date = {{date}} AND region = {{region}}
      by_customer:
        sql: SELECT c.name, sum(s.amount) AS total FROM clean_sales s JOIN customers c ON c.id = s.customer_id GROUP BY c.name
        output: { dataset: daily_by_customer, partition: { date: "{{date}}" } }
        retries: 2
        timeout: 10m
      top:
        sql: SELECT * FROM by_customer ORDER BY total DESC LIMIT 10
        output: top_customers
    schedule: { cron: "0 2 * * *", timezone: Europe/Berlin }
    sla: { finish_by: "06:00" }
    """

    func valid(_ text: String) throws -> ValidPipeline {
        try PipelineValidator.validate(PipelineFile.parse(text, file: "p.yaml"), file: "p.yaml")
    }

    func errors(_ text: String) -> [String] {
        do {
            _ = try PipelineValidator.validate(try PipelineFile.parse(text, file: "p.yaml"), file: "p.yaml")
            return []
        } catch let e as PipelineError {
            return [e.description]
        } catch let e as PipelineErrors {
            return e.all.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    @Test func readsTheExample() throws {
        let v = try valid(Self.shop)
        #expect(v.pipeline.name == "shop")
        #expect(v.pipeline.params.map(\.name) == ["date", "region"])
        #expect(v.pipeline.param("region")?.defaultValue == .string("EU"))
        #expect(v.graph.order == ["clean_sales", "by_customer", "top"])
        #expect(v.graph.upstream["by_customer"] == ["clean_sales"])
        #expect(v.graph.sources["by_customer"] == ["customers"])
        #expect(v.graph.downstream(of: "clean_sales") == ["by_customer", "top"])
        let by = try #require(v.pipeline.model("by_customer"))
        #expect(by.retries == 2 && by.timeoutMs == 600_000)
        #expect(by.output?.mode == .overwritePartition && by.output?.dataset == "daily_by_customer")
        #expect(v.pipeline.model("top")?.output?.mode == .replace)
        #expect(v.pipeline.schedule?.timezone == "Europe/Berlin")
        #expect(v.pipeline.sla == .finishBy(minuteOfDay: 360))
        let values = try v.values(["date": "2026-11-01"], file: "p.yaml")
        #expect(try v.sql("clean_sales", values).contains("WHERE sale_date = DATE '2026-11-01' AND region = 'EU'"))
        #expect(v.partition("by_customer", values).map(\.value) == ["2026-11-01"])
    }

    @Test func parametersAreTypedLiteralsNeverText() throws {
        let v = try valid(Self.shop)
        let values = try v.values(["date": "2026-11-01", "region": "EU' OR 1=1 --"], file: "p.yaml")
        #expect(try v.sql("clean_sales", values).contains("region = 'EU'' OR 1=1 --'"))
        #expect(ParamValue.int(-5).sqlLiteral == "(-5)")
        #expect(ParamValue.parse("2026-11-01 06:30:00", as: .timestamp)?.sqlLiteral == "TIMESTAMP '2026-11-01 06:30:00'")
        #expect(throws: PipelineError.self) { try v.values(["date": "yesterday"], file: "p.yaml") }
        #expect(throws: PipelineError.self) { try v.values(["dat": "2026-11-01"], file: "p.yaml") }
        #expect(throws: PipelineError.self) { try v.values([:], file: "p.yaml") }   // date has no default
        do { _ = try v.values(["date": "2026-13-01"], file: "p.yaml") } catch {
            #expect(error.description == "p.yaml: parameter 'date' is a date; '2026-13-01' is not one (YYYY-MM-DD)")
        }
    }

    @Test func invalidYAMLNamesTheLine() {
        let e = errors("name: shop\nmodels:\n  a:\n    sql: [SELECT 1\n")
        #expect(e.count == 1)
        #expect(e.first?.hasPrefix("p.yaml:5:") == true && e.first?.contains("not valid YAML") == true, "\(e)")
    }

    @Test func unknownKeysAndBadValuesNameTheirLine() {
        #expect(errors("name: shop\nmodels:\n  a:\n    sq: SELECT 1\n") == ["p.yaml:4:5: unknown key 'sq' in model 'a' (sql, output, retries, timeout)"])
        #expect(errors("name: shop\nparams:\n  d: { type: day }\nmodels:\n  a:\n    sql: SELECT 1\n")
            == ["p.yaml:3:14: parameter 'd' has type 'day'; the types are date, int, string, timestamp"])
        #expect(errors("name: shop\nmodels:\n  a:\n    sql: SELECT 1\n    retries: -1\n") == ["p.yaml:5:14: `retries` is a whole number from 0 to 100"])
        #expect(errors("name: shop\nmodels:\n  a:\n    sql: SELECT 1\nschedule: \"61 * * * *\"\n").first?.contains("is not a cron expression") == true)
        #expect(errors("name: shop\nmodels:\n  a:\n    sql: SELECT 1\nschedule: { cron: \"@daily\", timezone: Mars/Base }\n").first?.contains("unknown time zone 'Mars/Base'") == true)
        #expect(errors("name: shop\n").first == "p.yaml:1:1: the pipeline needs `models`: a map of name to { sql: … }")
        #expect(errors("name: shop\nmodels:\n  a:\n    sql: SELECT 1\n    output: { dataset: d, format: csv }\n")
            == ["p.yaml:5:35: modes append and replace write Sluice's format; csv and json are for overwrite_partition outputs"])
    }

    @Test func sqlErrorsPointIntoTheFile() {
        // A block scalar: line 5 of the file is the SQL's second line.
        let e = errors("name: shop\nmodels:\n  a:\n    sql: |\n      SELECT 1\n      FROM t WHERE WHERE\n")
        #expect(e.count == 1)
        #expect(e.first?.hasPrefix("p.yaml:6:20: model 'a': Syntax error") == true, "\(e)")
        // An inline one, after a placeholder whose literal is longer than itself.
        let inline = errors("name: shop\nparams: { d: { type: date } }\nmodels:\n  a:\n    sql: SELECT {{d}} + FROM x\n")
        #expect(inline.first?.hasPrefix("p.yaml:5:25: model 'a': Syntax error") == true, "\(inline)")
        #expect(errors("name: shop\nmodels:\n  a:\n    sql: DELETE FROM t\n") == ["p.yaml:4:10: model 'a' must be one SELECT (its output says where the rows go)"])
    }

    @Test func referencesMustResolve() {
        let e = errors("name: shop\nmodels:\n  orders:\n    sql: SELECT 1 AS x\n  b:\n    sql: SELECT * FROM ordrs\n")
        #expect(e == ["p.yaml:6:24: model 'b' reads 'ordrs', which is neither a source nor a model; did you mean 'orders'?"])
        // A CTE of the model's own is not a reference.
        #expect(errors("name: shop\nmodels:\n  b:\n    sql: WITH t AS (SELECT 1 AS x) SELECT * FROM t\n").isEmpty)
    }

    @Test func cyclesAreNamed() {
        let e = errors("""
        name: shop
        models:
          a:
            sql: SELECT * FROM c
          b:
            sql: SELECT * FROM a
          c:
            sql: SELECT * FROM b
        """)
        #expect(e == ["p.yaml:3:3: the models make a cycle: a → b → c → a (each feeds the next)"])
        #expect(errors("name: shop\nmodels:\n  a:\n    sql: SELECT * FROM a\n") == ["p.yaml:3:3: the models make a cycle: a → a (each feeds the next)"])
    }

    @Test func parametersMustBeDeclaredAndBare() {
        #expect(errors("name: shop\nparams: { date: { type: date } }\nmodels:\n  a:\n    sql: SELECT {{dat}}\n")
            == ["p.yaml:5:17: model 'a' uses parameter 'dat', which is not declared; did you mean 'date'?"])
        #expect(errors("name: shop\nparams: { date: { type: date } }\nmodels:\n  a:\n    sql: SELECT '{{date}}'\n").first?
            .hasPrefix("p.yaml:5:18: model 'a': a {{parameter}} inside quotes") == true)
        #expect(errors("name: shop\nmodels:\n  a:\n    sql: SELECT 1\n    output: { dataset: d, partition: { date: \"{{date}}\" } }\n")
            == ["p.yaml:5:13: the output of 'a' partitions date by parameter 'date', which is not declared"])
        // Every problem is reported, not only the first.
        #expect(errors("name: shop\nmodels:\n  a:\n    sql: SELECT {{x}}\n  b:\n    sql: SELECT FROM\n").count == 2)
    }

    @Test func templatesSkipCommentsAndQuotedText() throws {
        let sql = "SELECT '{not}' , \"col{x}\" -- {{ignored}}\n/* {{also}} */ {{ d }}"
        #expect(try Template.placeholders(in: sql).map(\.name) == ["d"])
        #expect(try Template.render(sql, ["d": .int(3)]).hasSuffix("*/ 3"))
        #expect(throws: Template.Problem.self) { try Template.placeholders(in: "SELECT {{d") }
        #expect(throws: Template.Problem.self) { try Template.placeholders(in: "SELECT {{1x}}") }
    }
}
