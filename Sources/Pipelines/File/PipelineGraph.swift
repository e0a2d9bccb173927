import SQL

/// The DAG of a pipeline's models, inferred from the names their SQL reads
/// (as dbt does): an edge from every model a model reads to it.
public struct PipelineGraph: Sendable, Equatable {
    /// Model to the models it reads, in the order it names them.
    public let upstream: [String: [String]]
    /// Model to the sources it reads.
    public let sources: [String: [String]]
    /// Every model, each after everything it reads; ties in file order.
    public let order: [String]

    /// Models that read `model`, directly or through others.
    public func downstream(of model: String) -> Set<String> {
        var out: Set<String> = [], stack = [model]
        while let m = stack.popLast() {
            for (n, ups) in upstream where ups.contains(m) && !out.contains(n) { out.insert(n); stack.append(n) }
        }
        return out
    }

    /// Builds the graph from each model's references (lowercased names).
    /// A reference must name a source or a model; a cycle is an error naming it.
    static func build(models: [String], sourceNames: [String], references: [String: [String]]) -> Result<PipelineGraph, GraphProblem> {
        let byKey = Dictionary(models.map { ($0.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        let sourceByKey = Dictionary(sourceNames.map { ($0.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        var upstream: [String: [String]] = [:], sources: [String: [String]] = [:]
        for m in models {
            for r in references[m] ?? [] {
                if let s = sourceByKey[r] { sources[m, default: []].append(s) } else if let u = byKey[r] {
                    if u == m { return .failure(.cycle([m, m])) }
                    upstream[m, default: []].append(u)
                } else {
                    return .failure(.unresolved(model: m, name: r, suggestion: nearestName(to: r, among: models + sourceNames)))
                }
            }
        }
        // Depth-first, in file order, so the order is stable and a cycle is found with its path.
        var order: [String] = [], state: [String: Int] = [:]   // 1 visiting, 2 done
        var path: [String] = []
        func visit(_ m: String) -> [String]? {
            if state[m] == 2 { return nil }
            if state[m] == 1 { return Array(path[path.firstIndex(of: m)!...]) + [m] }
            state[m] = 1
            path.append(m)
            for u in upstream[m] ?? [] { if let c = visit(u) { return c } }
            path.removeLast()
            state[m] = 2
            order.append(m)
            return nil
        }
        for m in models { if let c = visit(m) { return .failure(.cycle(c.reversed())) } }
        return .success(PipelineGraph(upstream: upstream, sources: sources, order: order))
    }
}

enum GraphProblem: Error, Equatable {
    case unresolved(model: String, name: String, suggestion: String?)
    /// The models around the cycle, the first repeated at the end, each reading the next's predecessor.
    case cycle([String])
}
