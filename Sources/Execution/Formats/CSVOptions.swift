import Columnar
import Foundation
import SQL

/// read_csv options, in DuckDB's spelling.
struct CSVOptions: Sendable {
    var delimiter: UInt8?                 // nil: detect
    var quote: UInt8 = UInt8(ascii: "\"")
    var escape: UInt8 = UInt8(ascii: "\"")
    var header: Bool?                     // nil: detect
    var types: [(String, DataType)] = []
    var columns: [(String, DataType)]?
    var onError: ErrorPolicy = .fail
    var nullString = ""
    var sampleRows = 20_480

    static func parse(_ options: [String: OptionValue]) throws(SQLError) -> CSVOptions {
        var o = CSVOptions()
        var quarantinePath: String?
        var policy = "fail"
        for (key, value) in options {
            switch (key, value) {
            case ("delim", .string(let s)), ("sep", .string(let s)), ("delimiter", .string(let s)):
                o.delimiter = try single(s, key)
            case ("quote", .string(let s)): o.quote = try single(s, key)
            case ("escape", .string(let s)): o.escape = try single(s, key)
            case ("header", .bool(let b)): o.header = b
            case ("nullstr", .string(let s)), ("null", .string(let s)): o.nullString = s
            case ("sample_size", .int(let n)): o.sampleRows = max(1, n)
            case ("types", .map(let m)), ("dtypes", .map(let m)), ("column_types", .map(let m)):
                o.types = try m.map { (k, v) throws(SQLError) in (k, try type(v, for: k)) }
            case ("columns", .map(let m)):
                o.columns = try m.map { (k, v) throws(SQLError) in (k, try type(v, for: k)) }
            case ("on_error", .string(let s)): policy = s.lowercased()
            case ("quarantine", .string(let s)): quarantinePath = s
            case ("auto_detect", _), ("compression", _), ("filename", _), ("hive_partitioning", _), ("format", _): break
            default:
                throw SQLError.binder("unknown or mistyped read_csv option \(key)", .unknown)
            }
        }
        switch policy {
        case "fail": o.onError = .fail
        case "skip", "ignore": o.onError = .skip
        case "quarantine":
            guard let p = quarantinePath else { throw SQLError.binder("on_error='quarantine' needs quarantine='path'", .unknown) }
            o.onError = .quarantine(p)
        default: throw SQLError.binder("on_error must be 'fail', 'skip' or 'quarantine', not '\(policy)'", .unknown)
        }
        if quarantinePath != nil, policy != "quarantine" { o.onError = .quarantine(quarantinePath!) }
        return o
    }

    /// The dialect a reader needs, once delimiter and header are known.
    func dialect(delimiter: UInt8, header: Bool) -> CSVDialect {
        CSVDialect(delimiter: delimiter, quote: quote, escape: escape, header: header, nullString: nullString, onError: onError)
    }

    static func single(_ s: String, _ key: String) throws(SQLError) -> UInt8 {
        let u = s == "\\t" ? [9] : Array(s.utf8)
        guard u.count == 1 else { throw SQLError.binder("\(key) must be one character, not '\(s)'", .unknown) }
        return u[0]
    }

    static func type(_ s: String, for column: String) throws(SQLError) -> DataType {
        guard let t = DataType.parse(s) else { throw SQLError.binder("unknown type '\(s)' for column \"\(column)\"", .unknown) }
        return t
    }
}

/// The quarantine writers of one query run, one per path, shared by its readers.
final class QuarantineSet: @unchecked Sendable {
    private let writers = Locked<[String: Quarantine]>([:])
    func writer(for policy: ErrorPolicy) -> Quarantine? {
        guard case .quarantine(let path) = policy else { return nil }
        return writers.withLock { w in
            if let q = w[path] { return q }
            let q = Quarantine(path: path)
            w[path] = q
            return q
        }
    }
}

/// Appends rejected rows, with the reason, to a quarantine CSV file. Shared by all
/// readers of a query, so writes are serialized. On the cluster the tasks of
/// several workers append to one file: it is opened with O_APPEND and each
/// record goes in one write, so records never overwrite or split each other,
/// and it comes into being with its header already in it (a linked temporary
/// file), so no record lands before the header.
final class Quarantine: @unchecked Sendable {
    let path: String
    private let lock = NSLock()
    private var handle: FileHandle?
    private(set) var rows = 0

    init(path: String) { self.path = path }

    func write(file: String, line: Int, reason: String, text: String) throws(SQLError) {
        lock.lock(); defer { lock.unlock() }
        if handle == nil { handle = try open() }
        func q(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        handle!.write(Data((q(file) + ",\(line)," + q(reason) + "," + q(text) + "\n").utf8))
        rows += 1
    }

    private func open() throws(SQLError) -> FileHandle {
        if !FileManager.default.fileExists(atPath: path) {
            let temp = path + ".header-\(UUID().uuidString.prefix(8))"
            if FileManager.default.createFile(atPath: temp, contents: Data("file,line,reason,row\n".utf8)) {
                _ = link(temp, path)   // fails harmlessly when another reader made it first
                unlink(temp)
            }
        }
        let fd = Foundation.open(path, O_WRONLY | O_APPEND)
        guard fd >= 0 else { throw SQLError.execution("IO Error: cannot write quarantine file \"\(path)\": \(String(cString: strerror(errno)))") }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    deinit { try? handle?.close() }
}
