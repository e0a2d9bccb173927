import SQL

/// A pipeline whose models parse, whose references resolve and whose DAG
/// has no cycle: what may be run.
public struct ValidPipeline: Sendable, Equatable {
    public let pipeline: Pipeline
    public let graph: PipelineGraph
    /// The `{{name}}` parameters each model's SQL uses.
    public let uses: [String: [String]]

    /// Typed values for a run: those given as text (`--param date=2026-11-01`)
    /// over the defaults. Every declared parameter a model or output uses
    /// must end with a value; an undeclared one, or text not of its type, is an error.
    public func values(_ given: [String: String], file: String) throws(PipelineError) -> [String: ParamValue] {
        var out: [String: ParamValue] = [:]
        for p in pipeline.params { if let d = p.defaultValue { out[p.name] = d } }
        for (k, text) in given.sorted(by: { $0.key < $1.key }) {
            guard let p = pipeline.param(k) else {
                let known = pipeline.params.map(\.name)
                throw PipelineError(file: file, nil, "unknown parameter '\(k)'" + (known.isEmpty ? "; the pipeline declares none" : " (declared: \(known.joined(separator: ", ")))"))
            }
            guard let v = ParamValue.parse(text, as: p.kind) else {
                throw PipelineError(file: file, nil, "parameter '\(k)' is a \(p.kind.rawValue); '\(text)' is not one" + (p.kind == .date ? " (YYYY-MM-DD)" : ""))
            }
            out[k] = v
        }
        let needed = Set(uses.values.flatMap { $0 } + pipeline.models.compactMap(\.output).flatMap { $0.partition.compactMap { Template.placeholderName($0.value) } })
        for n in needed.sorted() where out[n] == nil {
            throw PipelineError(file: file, nil, "parameter '\(n)' has no default; give it with --param \(n)=…")
        }
        return out
    }

    /// A model's SELECT with the run's values in it.
    public func sql(_ model: String, _ values: [String: ParamValue]) throws(PipelineError) -> String {
        guard let m = pipeline.model(model) else { preconditionFailure("Internal inconsistency: no model \(model) in a validated pipeline") }
        do { return try Template.render(m.sql, values) } catch {
            throw PipelineError(file: pipeline.name, m.sqlAt.position(line: error.line, column: error.column), error.message)
        }
    }

    /// A model's output partition with the run's values: column to value text.
    public func partition(_ model: String, _ values: [String: ParamValue]) -> [(column: String, value: String)] {
        (pipeline.model(model)?.output?.partition ?? []).map { ($0.column, Template.partitionValue($0.value, values) ?? $0.value) }
    }
}

/// Checks a pipeline without running it: placeholders name declared
/// parameters of a type that fits, each model's SQL is one SELECT that parses
/// (errors at their position in the file), every name a model reads is a
/// source or a model, and the models make no cycle. Every problem is
/// reported, not only the first.
public enum PipelineValidator {
    public static func validate(_ p: Pipeline, file: String) throws(PipelineErrors) -> ValidPipeline {
        var errors: [PipelineError] = []
        var references: [String: [String]] = [:], uses: [String: [String]] = [:]
        var referenceAt: [String: [String: FilePosition]] = [:]
        for m in p.models {
            func at(_ line: Int, _ column: Int) -> FilePosition { m.sqlAt.position(line: line, column: column) }
            let placeholders: [Template.Placeholder]
            do { placeholders = try Template.placeholders(in: m.sql) } catch {
                errors.append(PipelineError(file: file, at(error.line, error.column), "model '\(m.name)': \(error.message)"))
                continue
            }
            var probe: [String: ParamValue] = [:]
            var bad = false
            for ph in placeholders where probe[ph.name] == nil {
                guard let param = p.param(ph.name) else {
                    let hint = nearestName(to: ph.name, among: p.params.map(\.name)).map { "; did you mean '\($0)'?" } ?? "; declare it under `params`"
                    errors.append(PipelineError(file: file, at(ph.line, ph.column), "model '\(m.name)' uses parameter '\(ph.name)', which is not declared\(hint)"))
                    bad = true
                    continue
                }
                probe[ph.name] = param.defaultValue ?? sample(param.kind)
            }
            uses[m.name] = Array(Set(placeholders.map(\.name))).sorted()
            if bad { continue }
            // Parse the SQL as it will run; map positions back through the literals' lengths.
            let rendered: String
            do { rendered = try Template.render(m.sql, probe) } catch { continue }
            let shifts = placeholders.map { ph in (line: ph.line, column: ph.column, grew: probe[ph.name]!.sqlLiteral.utf8.count - ph.range.count) }
            func original(_ l: SourceLocation) -> FilePosition {
                var col = l.column
                for s in shifts where s.line == l.line && col > s.column { col = max(s.column, col - s.grew) }
                return at(l.line, col)
            }
            do {
                let statements = try Parser.parse(rendered)
                guard statements.count == 1, case .query(let q) = statements[0] else {
                    errors.append(PipelineError(file: file, at(1, 1), "model '\(m.name)' must be one SELECT (its output says where the rows go)"))
                    continue
                }
                let refs = References.external(in: q)
                references[m.name] = refs.map(\.name)
                referenceAt[m.name] = Dictionary(refs.map { ($0.name, original($0.at)) }, uniquingKeysWith: { a, _ in a })
            } catch {
                errors.append(PipelineError(file: file, error.location.map(original) ?? at(1, 1), "model '\(m.name)': \(error.message)"))
            }
        }
        for m in p.models {
            for (column, value) in m.output?.partition ?? [] {
                guard let n = Template.placeholderName(value) else { continue }
                if p.param(n) == nil {
                    errors.append(PipelineError(file: file, m.output?.at, "the output of '\(m.name)' partitions \(column) by parameter '\(n)', which is not declared"))
                }
            }
        }
        guard errors.isEmpty else { throw PipelineErrors(all: errors) }
        switch PipelineGraph.build(models: p.models.map(\.name), sourceNames: p.sources.map(\.name), references: references) {
        case .success(let g):
            return ValidPipeline(pipeline: p, graph: g, uses: uses)
        case .failure(.unresolved(let model, let name, let suggestion)):
            let hint = suggestion.map { "; did you mean '\($0)'?" } ?? "; declare it under `sources` or add a model of that name"
            throw PipelineErrors(all: [PipelineError(file: file, referenceAt[model]?[name], "model '\(model)' reads '\(name)', which is neither a source nor a model\(hint)")])
        case .failure(.cycle(let c)):
            throw PipelineErrors(all: [PipelineError(file: file, p.model(c[0])?.at, "the models make a cycle: \(c.joined(separator: " → ")) (each feeds the next)")])
        }
    }

    /// A value of each type to parse a model with when its parameter has no default.
    public static func sample(_ kind: Param.Kind) -> ParamValue {
        switch kind {
        case .date: return .date(0)
        case .int: return .int(0)
        case .string: return .string("")
        case .timestamp: return .timestamp(0)
        }
    }
}
