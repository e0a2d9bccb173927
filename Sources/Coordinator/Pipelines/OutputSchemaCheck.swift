import Columnar
import Datasets
import Execution
import Foundation
import Pipelines
import SQL

/// Whether each model's rows fit the dataset its output writes, checked
/// before anything runs: the sources become views as a run makes them, each
/// model a view of its SELECT over them (so nothing is read but the sources'
/// schemas), and every output into an existing dataset is compared with it.
/// `replace` fits anything; `append` and `overwrite_partition` need the
/// dataset's columns (less its partition columns) in order, of types an
/// INSERT takes, and `overwrite_partition` its partition columns.
enum OutputSchemaCheck {
    static func problems(_ valid: ValidPipeline, values: [String: ParamValue], tables: CatalogTables, root: String, fileRoots: [String]) -> [String] {
        let outputs = valid.pipeline.models.filter { m in
            guard let o = m.output, o.mode != .replace else { return false }
            return (try? tables.shape(of: o.dataset)) != nil
        }
        guard !outputs.isEmpty else { return [] }
        let session = Session()
        session.fileRoots = fileRoots
        session.datasets = tables
        do {
            for source in valid.pipeline.sources {
                let select: String
                switch source.origin {
                case .dataset(let d):
                    if d.lowercased() == source.name.lowercased() { continue }
                    select = "SELECT * FROM \(ModelRunner.identifier(d))"
                case .files(let path, let format, let schema, _):
                    select = "SELECT * FROM " + (try ModelRunner.reader(path: path.hasPrefix("/") ? path : root + "/" + path, format: format, schema: schema,
                                                                         onError: nil, quarantine: ""))
                }
                try define(session, source.name, select)
            }
            for m in valid.graph.order { try define(session, m, try valid.sql(m, values)) }
        } catch {
            return ["cannot check the outputs' schemas: \(error)"]
        }
        var out: [String] = []
        for m in outputs {
            guard let o = m.output, let shape = try? tables.shape(of: o.dataset) else { continue }
            let given: Schema
            do {
                guard case .query(let q) = try Parser.parse("SELECT * FROM \(ModelRunner.identifier(m.name))").first else { continue }
                given = try session.schema(of: q)
            } catch {
                out.append("model '\(m.name)': \(error.message)")
                continue
            }
            let partitions = Set(shape.partitionColumns.map { $0.lowercased() })
            if o.mode == .overwritePartition, Set(o.partition.map { $0.column.lowercased() }) != partitions {
                out.append("model '\(m.name)' writes dataset \(o.dataset) partitioned by (\(o.partition.map(\.column).joined(separator: ", "))); "
                    + "it is partitioned by (\(shape.partitionColumns.joined(separator: ", ")))")
                continue
            }
            let columns = shape.columns.filter { !partitions.contains($0.name.lowercased()) }
            guard columns.count == given.count else {
                out.append("model '\(m.name)' gives \(given.count) columns (\(given.fields.map(\.name).joined(separator: ", "))); dataset \(o.dataset) "
                    + "takes \(columns.count) (\(columns.map(\.name).joined(separator: ", ")))")
                continue
            }
            for (i, (c, f)) in zip(columns, given.fields).enumerated() where c.type != f.type {
                let implicit = f.type == .null || (c.type.isNumeric && f.type.isNumeric) || (f.type == .date && c.type == .timestamp)
                if !implicit {
                    out.append("model '\(m.name)': column \(i + 1) (\(f.name)) is \(f.type), dataset \(o.dataset) has \(c.type) (\(c.name)); cast it")
                }
            }
        }
        return out
    }

    private static func define(_ session: Session, _ name: String, _ select: String) throws(SQLError) {
        for s in try Parser.parse("CREATE OR REPLACE VIEW \(ModelRunner.identifier(name)) AS \(select)") { _ = try session.run(s) }
    }
}
