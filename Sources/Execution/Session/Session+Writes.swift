import Columnar
import Foundation
import SQL

/// Writes of a staged query (the cluster, or `--stages`): COPY, and
/// CREATE TABLE AS / INSERT INTO / INSERT OVERWRITE of catalog datasets. The
/// tasks write; the session keeps the committed attempts' files and publishes.
extension Session {
    /// COPY of a staged query (the cluster, or --stages): published at once,
    /// by one rename: a file, or the whole directory of a PARTITION_BY write
    /// (which must not exist yet, or be empty). A failure or cancel leaves
    /// neither output nor staging.
    func copyStaged(_ q: Query, to path: String, _ template: WriteSpec) throws(SQLError) -> Int {
        var target: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &target)
        if template.partitionBy.isEmpty, exists, target.boolValue {
            throw SQLError.execution("IO Error: cannot write \"\(path)\": it is a directory")
        }
        if !template.partitionBy.isEmpty, exists, !((try? FileManager.default.contentsOfDirectory(atPath: path))?.isEmpty ?? false) {
            throw SQLError.execution("IO Error: \"\(path)\" exists and is not an empty directory; a PARTITION_BY write makes the whole directory (remove it first)")
        }
        let written = try stagedWrite(try physical(q), beside: path, template, singleFile: template.partitionBy.isEmpty) { (staging, written) throws(SQLError) in
            if template.partitionBy.isEmpty {
                guard rename(staging + "/" + written[0].path, path) == 0 else {
                    throw SQLError.execution("IO Error: cannot write \"\(path)\": \(String(cString: strerror(errno)))")
                }
            } else {
                if exists { try? FileManager.default.removeItem(atPath: path) }   // an empty directory, checked above
                guard rename(staging, path) == 0 else {
                    throw SQLError.execution("IO Error: cannot write \"\(path)\": \(String(cString: strerror(errno)))")
                }
            }
        }
        return written.reduce(0) { $0 + $1.rows }
    }

    /// A staged write: the tasks write into a staging directory beside
    /// `target`, each attempt its own files; the rows that come back name the
    /// files of the one attempt per task that counts. Everything else in
    /// staging is deleted, then `publish` moves the result into place. The
    /// staging directory is gone afterwards, also on failure; the files
    /// written (relative to staging) are returned.
    func stagedWrite(_ plan: PhysicalQuery, beside target: String, _ template: WriteSpec, singleFile: Bool,
                     publish: (_ staging: String, _ written: [ResultWriter.Written]) throws(SQLError) -> Void) throws(SQLError) -> [ResultWriter.Written] {
        guard stages != nil else { throw SQLError.execution("internal error: a staged write without stages") }
        let staging = target + ".sluice-staging-" + WriteNames.token()
        stagingJournal?(staging, true)
        defer {
            try? FileManager.default.removeItem(atPath: staging)
            stagingJournal?(staging, false)
        }
        do { try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false) }
        catch { throw SQLError.execution("IO Error: cannot create \"\(staging)\": \(error.localizedDescription)") }

        var spec = template
        spec.directory = staging
        if singleFile { spec.fileName = "data.\(spec.format)" }
        var nextID = (plan.root.allNodes.map(\.id).max() ?? 0) + 1
        func node(_ kind: PhysicalNode, _ input: PhysicalPlan, _ schema: Schema) -> PhysicalPlan {
            var p = PhysicalPlan(kind, inputs: [input], schema: schema)
            p.id = nextID
            nextID += 1
            return p
        }
        let write = WriteSpec.summarySchema
        var writing = plan
        switch (singleFile, plan.root.node, plan.root.partitioning) {
        case (true, _, .single):
            writing.root = node(.write(spec), plan.root, write)   // one task writes the file, in the query's order
        case (true, _, _):
            writing.root = node(.write(spec), node(.exchange(.gather(.preserve)), plan.root, plan.root.schema), write)
        case (false, .exchange(.gather), _):
            // Every partition below the final gather writes its own files; the gather collects what they wrote.
            writing.root = node(.exchange(.gather(.any)), node(.write(spec), plan.root.inputs[0], write), write)
        case (false, _, _):
            writing.root = node(.write(spec), plan.root, write)
        }
        var written: [ResultWriter.Written] = []
        for b in try runStages(try cut(writing), discard: false).rows {
            for r in 0..<b.rowCount {
                guard case .string(let f) = b.columns[0].value(at: r), case .int(let n) = b.columns[1].value(at: r),
                      case .int(let size) = b.columns[2].value(at: r) else { continue }
                written.append(ResultWriter.Written(path: f, rows: Int(n), bytes: Int(size)))
            }
        }
        // Files of attempts that did not count (retried, duplicated or late): gone before anything is published.
        let keep = Set(written.map(\.path))
        if let walker = FileManager.default.enumerator(atPath: staging) {
            while let relative = walker.nextObject() as? String {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: staging + "/" + relative, isDirectory: &isDir), !isDir.boolValue, !keep.contains(relative) {
                    try? FileManager.default.removeItem(atPath: staging + "/" + relative)
                }
            }
        }
        if written.isEmpty, spec.partitionBy.isEmpty {
            // No rows and no file: an empty result still makes a file (a header, or an empty batch), so it reads as no rows.
            let name = singleFile ? spec.fileName : "data_empty.\(spec.format)"
            let bytes = try ResultWriter.write([], schema: plan.root.schema, to: staging + "/" + name, format: spec.format, partitionBy: [],
                                               header: spec.header, delimiter: spec.delimiter.first ?? ",").first?.bytes ?? 0
            written.append(ResultWriter.Written(path: name, rows: 0, bytes: bytes))
        }
        beforePublish?(staging)
        try publish(staging, written)
        return written
    }

    /// CREATE TABLE AS and INSERT INTO a dataset of the catalog (on the
    /// cluster): the rows are written in Sluice's format into a new version
    /// directory of the dataset, then the catalog takes the files in one
    /// transaction: a new dataset, a replaced one, or these files added.
    func writeDataset(_ name: String, _ plan: PhysicalQuery, mode: DatasetWriteMode, into writer: any DatasetWriter,
                      directory: String? = nil, format: String = "sluice") throws(SQLError) -> Int {
        let dir: String
        if let directory { dir = directory } else { dir = try writer.versionDirectory(for: name, partition: []) }
        do { try FileManager.default.createDirectory(atPath: (dir as NSString).deletingLastPathComponent, withIntermediateDirectories: true) }
        catch { throw SQLError.execution("IO Error: cannot create the directory of \(dir): \(error.localizedDescription)") }
        let spec = WriteSpec(directory: "", format: format, partitionBy: [], header: true, delimiter: ",", fileName: "")
        // Recorded until the catalog has its files: a coordinator killed between the rename and the
        // publish leaves a directory nobody refers to, which its successor removes at start.
        stagingJournal?(dir, true)
        defer { stagingJournal?(dir, false) }
        let written = try stagedWrite(plan, beside: dir, spec, singleFile: false) { (staging, _) throws(SQLError) in
            guard rename(staging, dir) == 0 else {
                throw SQLError.execution("IO Error: cannot write \"\(dir)\": \(String(cString: strerror(errno)))")
            }
        }
        beforeCatalog?(dir)
        do {
            try writer.publish(name, columns: plan.root.schema.fields, files: written.map { (dir + "/" + $0.path, $0.rows, $0.bytes) }, mode: mode, by: label)
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
        return written.reduce(0) { $0 + $1.rows }
    }

    /// INSERT OVERWRITE name PARTITION (col = value, ...): the query's rows
    /// (the dataset's other columns, in order) become a new version directory
    /// of that partition, `LOCATION/col=value/vTIME-RANDOM/`, and the catalog
    /// switches the partition's files to it in one transaction: a reader sees
    /// the old partition or the new one, never a mix.
    func overwritePartition(_ name: String, _ partition: [(column: String, value: Literal)], _ source: Query, _ loc: SourceLocation) throws(SQLError) -> Int {
        guard let writer = datasetWriter, let shape = try writer.shape(of: name) else {
            throw SQLError.binder("INSERT OVERWRITE replaces a partition of a catalog dataset (on the cluster); there is no dataset \"\(name)\"", loc)
        }
        let given = partition.map { $0.column.lowercased() }
        let declared = shape.partitionColumns.map { $0.lowercased() }
        guard !declared.isEmpty, given.count == declared.count, Set(given) == Set(declared) else {
            throw SQLError.binder("dataset \(name) is partitioned by (\(shape.partitionColumns.joined(separator: ", "))); INSERT OVERWRITE ... PARTITION names each of them once", loc)
        }
        var pairs: [[String]] = []
        for column in shape.partitionColumns {
            let v = partition.first { $0.column.lowercased() == column.lowercased() }!.value
            switch v {
            case .string(let t), .number(let t), .typed(_, let t): pairs.append([column, t])
            case .bool(let b): pairs.append([column, b ? "true" : "false"])
            case .null, .interval: throw SQLError.binder("partition \(column) takes a plain value, like \(column) = '2026-11-01'", loc)
            }
        }
        let data = shape.columns.filter { c in !declared.contains(c.name.lowercased()) }
        let plan = try Self.insertPlan(into: name, data, writing: try physical(source))
        let dir = try writer.versionDirectory(for: name, partition: pairs)
        try checkAllowed(dir)
        return try writeDataset(name, plan, mode: .overwritePartition(pairs), into: writer, directory: dir,
                                format: shape.format == "json" ? "jsonl" : shape.format)
    }

    /// An INSERT's rows in the dataset's column types, in order: a number of another
    /// numeric type (or a DATE for a TIMESTAMP, a NULL for anything) is cast, and a value
    /// that does not fit fails the INSERT when it runs, as DuckDB's implicit casts; any
    /// other mismatch asks for a CAST.
    static func insertPlan(into name: String, _ columns: [Field], writing plan: PhysicalQuery) throws(SQLError) -> PhysicalQuery {
        let schema = plan.root.schema
        guard columns.count == schema.count else {
            throw SQLError.binder("INSERT INTO \(name): the dataset has \(columns.count) columns, the query gives \(schema.count)", .unknown)
        }
        guard zip(columns, schema.fields).contains(where: { $0.type != $1.type }) else { return plan }
        var exprs: [BoundExpr] = []
        for (i, (c, f)) in zip(columns, schema.fields).enumerated() {
            let implicit = c.type == f.type || f.type == .null || (c.type.isNumeric && f.type.isNumeric) || (f.type == .date && c.type == .timestamp)
            guard implicit else {
                throw SQLError.binder("INSERT INTO \(name): column \(i + 1) (\(c.name)) is \(c.type), the query gives \(f.type) (\(f.name)); cast it", .unknown)
            }
            exprs.append(c.type == f.type ? .column(i, f.type) : .cast(.column(i, f.type), c.type))
        }
        var cast = PhysicalPlan(.project(exprs), inputs: [plan.root], schema: Schema(zip(columns, schema.fields).map { Field($1.name, $0.type) }))
        cast.id = (plan.root.allNodes.map(\.id).max() ?? 0) + 1
        return PhysicalQuery(root: cast, subqueries: plan.subqueries, ctes: plan.ctes)
    }
}
