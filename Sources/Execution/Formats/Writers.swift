import Columnar
import Foundation
import SQL

/// Text forms of values shared by the JSON writer and the CLI.
public enum TextEncoding {
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    public static func jsonValue(_ v: Value, _ t: DataType) -> String {
        guard let text = render(v, as: t) else { return "null" }
        switch t {
        case .boolean, .decimal: return text
        case _ where t.isIntegral: return text
        case .double:
            if case .double(let d) = v, !d.isFinite { return jsonString(text) }
            return text
        default: return jsonString(text)
        }
    }

    public static func jsonObject(_ b: RecordBatch, _ row: Int) -> String {
        "{" + b.schema.fields.enumerated().map { k, f in jsonString(f.name) + ":" + jsonValue(b.columns[k].value(at: row), f.type) }.joined(separator: ",") + "}"
    }
}

/// COPY ... TO: writes query results as CSV, JSON Lines or Sluice batch files,
/// optionally one directory per partition value. Files appear whole: each is
/// written under a temporary name and renamed when complete.
enum ResultWriter {
    /// A file written: its path below the write's root (or the root itself), rows and bytes.
    struct Written {
        var path: String
        var rows: Int
        var bytes: Int
    }

    /// Writes `batches` to `path`: one file, or with `partitionBy` a directory
    /// of `key=value/` directories each holding a file named `leaf`.ext.
    static func write(_ batches: [RecordBatch], schema: Schema, to path: String, format: String, partitionBy: [String], header: Bool,
                      delimiter: Character, leaf: String = "data_0") throws(SQLError) -> [Written] {
        let ext = format == "jsonl" || format == "json" ? "jsonl" : format
        if partitionBy.isEmpty {
            let bytes = try writeFile(batches, schema: schema, path: path, format: ext, header: header, delimiter: delimiter)
            return [Written(path: "", rows: batches.reduce(0) { $0 + $1.rowCount }, bytes: bytes)]
        }
        var keyIdx: [Int] = []
        for p in partitionBy {
            guard let i = schema.index(of: p) else { throw SQLError.binder("PARTITION_BY column \"\(p)\" is not in the query's result", .unknown) }
            keyIdx.append(i)
        }
        let dataIdx = schema.fields.indices.filter { !keyIdx.contains($0) }
        let dataSchema = Schema(dataIdx.map { schema.fields[$0] })
        var groups: [[String]: [Int32]] = [:]
        var order: [[String]] = []
        let all = batches.isEmpty ? RecordBatch.empty(schema) : RecordBatch.concat(batches, schema: schema)
        for r in 0..<all.rowCount {
            let key = keyIdx.map { render(all.columns[$0].value(at: r), as: schema.fields[$0].type) ?? HiveDirectory.nullValue }
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(Int32(r))
        }
        var written: [Written] = []
        for key in order {
            let relative = HiveDirectory.path(zip(partitionBy, key).map { [$0, $1] })
            let dir = path + "/" + relative
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            catch { throw SQLError.execution("IO Error: cannot create \"\(dir)\": \(error.localizedDescription)") }
            let part = all.gather(groups[key]!)
            let data = RecordBatch(schema: dataSchema, columns: dataIdx.map { part.columns[$0] }, rowCount: part.rowCount)
            let bytes = try writeFile([data], schema: dataSchema, path: dir + "/\(leaf).\(ext)", format: ext, header: header, delimiter: delimiter)
            written.append(Written(path: relative + "/\(leaf).\(ext)", rows: part.rowCount, bytes: bytes))
        }
        return written
    }

    /// Returns the bytes written.
    @discardableResult
    static func writeFile(_ batches: [RecordBatch], schema: Schema, path: String, format: String, header: Bool, delimiter: Character) throws(SQLError) -> Int {
        var out: [UInt8] = []
        switch format {
        case "csv":
            let writer = CSVWriter(delimiter: String(delimiter))
            if header { writer.header(schema, into: &out) }
            for b in batches { writer.append(b, into: &out) }
        case "jsonl":
            for b in batches { for r in 0..<b.rowCount { out += Array((TextEncoding.jsonObject(b, r) + "\n").utf8) } }
        case "sluice":
            if batches.isEmpty { BatchCodec.encode(RecordBatch.empty(schema), into: &out) }
            for b in batches { BatchCodec.encode(RecordBatch(schema: schema, columns: b.columns, rowCount: b.rowCount), into: &out) }
        default:
            throw SQLError.binder("COPY supports FORMAT csv, jsonl and sluice, not \(format)", .unknown)
        }
        let temp = path + ".sluice-tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temp, contents: Data(out)) else {
            throw SQLError.execution("IO Error: cannot write \"\(path)\"")
        }
        guard rename(temp, path) == 0 else {
            unlink(temp)
            throw SQLError.execution("IO Error: cannot write \"\(path)\": \(String(cString: strerror(errno)))")
        }
        return out.count
    }
}
