import Foundation
import Yams

/// What is wrong with a pipeline file, and where: `file:line:column: message`.
/// One error type for the module; `position` is nil when the fault is the
/// file as a whole (it cannot be read, a flag given on the command line).
public struct PipelineError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var position: FilePosition?
    public var message: String

    public init(file: String, _ position: FilePosition?, _ message: String) {
        self.file = file
        self.position = position
        self.message = message
    }

    public var description: String { "\(file)" + (position.map { ":\($0)" } ?? "") + ": \(message)" }
}

/// Every problem a validation found, in file order.
public struct PipelineErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public var all: [PipelineError]
    public var description: String { all.map(\.description).joined(separator: "\n") }
}

/// Reads a pipeline file (YAML, with Yams) into a `Pipeline`, checking its
/// shape: every key known, every value of its kind. Whether the SQL parses
/// and the DAG holds is `PipelineValidator`'s job.
///
///     name: shop
///     params: { date: { type: date } }
///     sources:
///       raw_sales: { path: lake/raw/sales/*.csv, format: csv, on_error: quarantine }
///     models:
///       daily_sales:
///         sql: SELECT ... FROM raw_sales WHERE sale_date = {{date}}
///         output: { dataset: daily_sales, partition: { date: "{{date}}" } }
///     schedule: { cron: "0 2 * * *", timezone: UTC }
public enum PipelineFile {
    public static func load(_ path: String) throws(PipelineError) -> (pipeline: Pipeline, text: String) {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw PipelineError(file: path, nil, "cannot read the pipeline file")
        }
        return (try parse(text, file: path), text)
    }

    public static func parse(_ text: String, file: String) throws(PipelineError) -> Pipeline {
        let reader = Reader(file: file, lines: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw reader.yamlError(e)
        } catch {
            throw PipelineError(file: file, nil, "not valid YAML: \(error)")
        }
        guard let root, let top = root.mapping else { throw PipelineError(file: file, nil, "a pipeline file is a map with name, params, sources and models") }
        return try reader.pipeline(root, top)
    }
}

private struct Reader {
    let file: String
    let lines: [String]

    func at(_ node: Node?) -> FilePosition? { node?.mark.map { FilePosition(line: $0.line, column: $0.column) } }
    func fail(_ node: Node?, _ message: String) -> PipelineError { PipelineError(file: file, at(node), message) }

    func yamlError(_ e: YamlError) -> PipelineError {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return PipelineError(file: file, FilePosition(line: mark.line, column: mark.column), "not valid YAML: \(problem)")
        default:
            return PipelineError(file: file, nil, "not valid YAML: \(e)")
        }
    }

    func keys(_ node: Node, _ map: Node.Mapping, allowed: [String], what: String) throws(PipelineError) {
        for k in map.keys {
            guard let s = k.string, allowed.contains(s) else {
                throw fail(k, "unknown key '\(k.string ?? "?")' in \(what) (\(allowed.joined(separator: ", ")))")
            }
        }
    }

    func name(_ node: Node, what: String) throws(PipelineError) -> String {
        guard let s = node.string, Template.isName(s) else { throw fail(node, "\(what) name '\(node.string ?? "?")' is not a name (letters, digits and _)") }
        return s
    }

    func pipeline(_ root: Node, _ top: Node.Mapping) throws(PipelineError) -> Pipeline {
        try keys(root, top, allowed: ["name", "params", "sources", "models", "schedule", "sla", "catchup"], what: "the pipeline")
        guard let nameNode = top["name"] else { throw fail(root, "the pipeline needs a `name`") }
        let pipelineName = try name(nameNode, what: "the pipeline")
        var p = Pipeline(name: pipelineName, params: [], sources: [], models: [], schedule: nil, sla: nil, catchup: false)
        if let params = top["params"] {
            guard let m = params.mapping else { throw fail(params, "`params` is a map of name to { type: date|int|string|timestamp, default: … }") }
            for (k, v) in m { p.params.append(try param(k, v)) }
        }
        if let sources = top["sources"] {
            guard let m = sources.mapping else { throw fail(sources, "`sources` is a map of name to { dataset: … } or { path: …, format: … }") }
            for (k, v) in m { p.sources.append(try source(k, v)) }
        }
        guard let models = top["models"], let m = models.mapping, !m.isEmpty else {
            throw fail(top["models"] ?? root, "the pipeline needs `models`: a map of name to { sql: … }")
        }
        for (k, v) in m { p.models.append(try model(k, v)) }
        var seen: [String: String] = [:]
        for (n, what) in p.sources.map({ ($0.name, "source") }) + p.models.map({ ($0.name, "model") }) {
            if let other = seen[n.lowercased()] {
                let node = (models.mapping?.keys.first { $0.string == n }) ?? top["sources"]
                throw fail(node, "'\(n)' names both a \(other) and a \(what); models and sources share one namespace")
            }
            seen[n.lowercased()] = what
        }
        if let s = top["schedule"] { p.schedule = try schedule(s) }
        if let s = top["sla"] { p.sla = try sla(s) }
        if let c = top["catchup"] {
            guard let b = c.bool else { throw fail(c, "`catchup` is true or false") }
            p.catchup = b
        }
        return p
    }

    func param(_ k: Node, _ v: Node) throws(PipelineError) -> Param {
        let n = try name(k, what: "a parameter")
        let kinds = Param.Kind.allCases.map(\.rawValue).joined(separator: ", ")
        var typeNode = v, defaultNode: Node?
        if let m = v.mapping {
            try keys(v, m, allowed: ["type", "default"], what: "parameter '\(n)'")
            guard let t = m["type"] else { throw fail(v, "parameter '\(n)' needs a `type` (\(kinds))") }
            typeNode = t
            defaultNode = m["default"]
        }
        guard let t = typeNode.string, let kind = Param.Kind(rawValue: t.lowercased()) else {
            throw fail(typeNode, "parameter '\(n)' has type '\(typeNode.string ?? "?")'; the types are \(kinds)")
        }
        var value: ParamValue?
        if let d = defaultNode {
            guard let text = d.string, let parsed = ParamValue.parse(text, as: kind) else {
                throw fail(d, "the default of parameter '\(n)' is not a \(kind.rawValue)")
            }
            value = parsed
        }
        return Param(name: n, kind: kind, defaultValue: value, at: at(k) ?? FilePosition(line: 0, column: 0))
    }

    func source(_ k: Node, _ v: Node) throws(PipelineError) -> Source {
        let n = try name(k, what: "a source")
        let where_ = at(k) ?? FilePosition(line: 0, column: 0)
        if let d = v.string { return Source(name: n, origin: .dataset(d), at: where_) }
        guard let m = v.mapping else { throw fail(v, "source '\(n)' is a dataset name, { dataset: … } or { path: …, format: … }") }
        try keys(v, m, allowed: ["dataset", "path", "format", "schema", "on_error"], what: "source '\(n)'")
        if let d = m["dataset"] {
            guard m.count == 1, let s = d.string, !s.isEmpty else { throw fail(v, "source '\(n)' is either a `dataset` or a `path`, not both") }
            return Source(name: n, origin: .dataset(s), at: where_)
        }
        guard let path = m["path"]?.string, !path.isEmpty else { throw fail(v, "source '\(n)' needs a `dataset` or a `path`") }
        let format = m["format"]?.string ?? (path.hasSuffix(".csv") || path.hasSuffix(".csv.gz") ? "csv" : path.hasSuffix(".jsonl") ? "json" : "")
        guard ["csv", "json", "sluice"].contains(format) else { throw fail(m["format"] ?? v, "source '\(n)' needs `format: csv|json|sluice`") }
        let onError = m["on_error"]?.string
        if let e = onError, !["fail", "skip", "quarantine"].contains(e) { throw fail(m["on_error"], "`on_error` is fail, skip or quarantine") }
        if onError != nil && format == "sluice" { throw fail(m["on_error"], "`on_error` applies to csv and json sources") }
        return Source(name: n, origin: .files(path: path, format: format, schema: m["schema"]?.string, onError: onError), at: where_)
    }

    func model(_ k: Node, _ v: Node) throws(PipelineError) -> Model {
        let n = try name(k, what: "a model")
        guard let m = v.mapping else { throw fail(v, "model '\(n)' is a map with sql, output, retries and timeout") }
        try keys(v, m, allowed: ["sql", "output", "retries", "timeout"], what: "model '\(n)'")
        guard let sqlNode = m["sql"], let scalar = sqlNode.scalar, !scalar.string.allSatisfy(\.isWhitespace) else {
            throw fail(m["sql"] ?? v, "model '\(n)' needs `sql`: one SELECT")
        }
        let model = Model(name: n, sql: scalar.string, sqlAt: placement(sqlNode, scalar), output: nil, retries: 0, timeoutMs: nil,
                          at: at(k) ?? FilePosition(line: 0, column: 0))
        var out = model
        if let o = m["output"] { out.output = try output(o, model: n) }
        if let r = m["retries"] {
            guard let i = r.int, i >= 0, i <= 100 else { throw fail(r, "`retries` is a whole number from 0 to 100") }
            out.retries = i
        }
        if let t = m["timeout"] {
            guard let s = t.string, let ms = Durations.milliseconds(s), ms > 0 else { throw fail(t, "`timeout` is a duration such as 90s, 10m or 2h") }
            out.timeoutMs = ms
        }
        return out
    }

    /// Block scalars start on the next line at the indentation of their
    /// first line; inline ones start at the mark (after an opening quote).
    func placement(_ node: Node, _ scalar: Node.Scalar) -> SQLPlacement {
        let mark = at(node) ?? FilePosition(line: 1, column: 1)
        switch scalar.style {
        case .literal, .folded:
            var line = mark.line + 1
            while line <= lines.count && lines[line - 1].allSatisfy(\.isWhitespace) { line += 1 }
            let indent = line <= lines.count ? lines[line - 1].prefix { $0 == " " }.count : 0
            return SQLPlacement(firstLine: line, firstColumn: indent + 1, block: true)
        case .singleQuoted, .doubleQuoted:
            return SQLPlacement(firstLine: mark.line, firstColumn: mark.column + 1, block: false)
        default:
            return SQLPlacement(firstLine: mark.line, firstColumn: mark.column, block: false)
        }
    }

    func output(_ v: Node, model: String) throws(PipelineError) -> Output {
        var o = Output(dataset: "", partition: [], format: "sluice", mode: .replace, at: at(v) ?? FilePosition(line: 0, column: 0))
        if let d = v.string { o.dataset = d; return o }
        guard let m = v.mapping else { throw fail(v, "the output of '\(model)' is a dataset name or { dataset, partition, format, mode }") }
        try keys(v, m, allowed: ["dataset", "partition", "format", "mode"], what: "the output of '\(model)'")
        guard let d = m["dataset"]?.string, !d.isEmpty else { throw fail(v, "the output of '\(model)' needs a `dataset`") }
        o.dataset = d
        if let p = m["partition"] {
            guard let pm = p.mapping, !pm.isEmpty else { throw fail(p, "`partition` is a map of column to value, such as { date: \"{{date}}\" }") }
            for (pk, pv) in pm {
                guard let c = pk.string, Template.isName(c), let value = pv.string ?? pv.int.map(String.init) else {
                    throw fail(pk, "a partition entry is a column name and a value")
                }
                o.partition.append((c, value))
            }
        }
        if let f = m["format"] {
            guard let s = f.string, ["csv", "json", "sluice"].contains(s) else { throw fail(f, "`format` is csv, json or sluice") }
            o.format = s
        }
        if let md = m["mode"] {
            guard let s = md.string, let mode = Output.Mode(rawValue: s) else {
                throw fail(md, "`mode` is \(Output.Mode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            o.mode = mode
        } else {
            o.mode = o.partition.isEmpty ? .replace : .overwritePartition
        }
        if o.mode == .overwritePartition && o.partition.isEmpty { throw fail(m["mode"], "mode overwrite_partition needs a `partition`") }
        if o.mode != .overwritePartition && !o.partition.isEmpty { throw fail(m["partition"], "a `partition` is written with mode overwrite_partition") }
        if o.mode != .overwritePartition && o.format != "sluice" {
            throw fail(m["format"], "modes append and replace write Sluice's format; csv and json are for overwrite_partition outputs")
        }
        return o
    }

    func schedule(_ v: Node) throws(PipelineError) -> Schedule {
        var cronNode = v, zone = "UTC", zoneNode: Node?
        if let m = v.mapping {
            try keys(v, m, allowed: ["cron", "timezone"], what: "the schedule")
            guard let c = m["cron"] else { throw fail(v, "the schedule needs `cron`, such as \"0 2 * * *\"") }
            cronNode = c
            if let z = m["timezone"] { zoneNode = z; zone = z.string ?? "" }
        }
        guard let text = cronNode.string, let cron = Cron(text) else {
            throw fail(cronNode, "'\(cronNode.string ?? "?")' is not a cron expression (minute hour day month weekday, or @daily, @hourly, …)")
        }
        guard TimeZone(identifier: zone) != nil else { throw fail(zoneNode, "unknown time zone '\(zone)' (an IANA name such as UTC or Europe/Berlin)") }
        return Schedule(cron: cron, timezone: zone)
    }

    func sla(_ v: Node) throws(PipelineError) -> SLA {
        guard let m = v.mapping, m.count == 1, let (k, value) = m.first, let key = k.string else {
            throw fail(v, "`sla` is { finish_by: \"06:00\" } or { max_duration: 45m }")
        }
        switch key {
        case "finish_by":
            let parts = (value.string ?? "").split(separator: ":")
            guard parts.count == 2, let h = Int(parts[0]), let mi = Int(parts[1]), (0...23).contains(h), (0...59).contains(mi) else {
                throw fail(value, "`finish_by` is a time of day, HH:MM")
            }
            return .finishBy(minuteOfDay: h * 60 + mi)
        case "max_duration":
            guard let s = value.string, let ms = Durations.milliseconds(s), ms > 0 else { throw fail(value, "`max_duration` is a duration such as 45m or 2h") }
            return .maxDurationMs(ms)
        default:
            throw fail(k, "unknown sla key '\(key)' (finish_by, max_duration)")
        }
    }
}

/// Durations as the project's files write them (pipelines, alert rules, autoscaling).
public enum Durations {
    /// `500ms`, `30s`, `5m`, `2h`, `1d` in milliseconds; nil for anything else or an overflow.
    public static func milliseconds(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let n = Int64(text.dropLast(suffix.count)), n >= 0, n <= Int64.max / scale { return n * scale }
        }
        return nil
    }
}
