import Foundation
import SQL

/// Expands paths and globs (`lake/sales/*.csv`, `lake/**/*.csv`) into files, and
/// reads `key=value` directory names as partition columns.
enum FileSet {
    static func expand(_ patterns: [String]) throws(SQLError) -> [DataFile] {
        var out: [DataFile] = []
        for pattern in patterns {
            let matches = try expand(pattern)
            guard !matches.isEmpty else {
                if pattern.contains("*") || pattern.contains("?") || pattern.contains("[") {
                    throw SQLError.execution("IO Error: no files match \"\(pattern)\"")
                }
                throw SQLError.execution("IO Error: file \"\(pattern)\" does not exist")
            }
            out += matches
        }
        return out
    }

    static func expand(_ pattern: String) throws(SQLError) -> [DataFile] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if !hasWildcard(pattern) {
            guard fm.fileExists(atPath: pattern, isDirectory: &isDir) else { return [] }
            if isDir.boolValue {
                // A directory is every file below it (a partitioned table's root).
                return try expand(pattern.hasSuffix("/") ? pattern + "**/*" : pattern + "/**/*")
            }
            return [file(pattern, root: (pattern as NSString).deletingLastPathComponent)]
        }
        // Walk from the longest directory prefix without wildcards.
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var rootParts: [String] = []
        for p in parts { if hasWildcard(p) { break }; rootParts.append(p) }
        let root = rootParts.isEmpty ? "." : (rootParts.joined(separator: "/").isEmpty ? "/" : rootParts.joined(separator: "/"))
        let rest = Array(parts[rootParts.count...])
        var results: [String] = []
        walk(root, rest, &results)
        return Array(Set(results)).sorted().map { file($0, root: root) }
    }

    static func hasWildcard(_ s: String) -> Bool { s.contains("*") || s.contains("?") || s.contains("[") }

    private static func walk(_ dir: String, _ rest: [String], _ out: inout [String]) {
        guard let head = rest.first else { return }
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: dir) else { return }
        for e in entries.sorted() where !e.hasPrefix(".") && !e.hasPrefix("_") {
            let path = dir == "." ? e : (dir.hasSuffix("/") ? dir + e : dir + "/" + e)
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: path, isDirectory: &isDir)
            if head == "**" {
                if isDir.boolValue { walk(path, rest, &out) }   // ** spans one more directory
                continue
            }
            guard fnmatch(head, e, 0) == 0 else { continue }
            if rest.count == 1 { if !isDir.boolValue { out.append(path) } }
            else if isDir.boolValue { walk(path, Array(rest.dropFirst()), &out) }
        }
        if head == "**" { walk(dir, Array(rest.dropFirst()), &out) }   // ** spans no directory
    }

    private static func file(_ path: String, root: String) -> DataFile {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        var partitions: [DataFile.Partition] = []
        let relative = path.hasPrefix(root) ? String(path.dropFirst(root.count)) : path
        for component in relative.split(separator: "/").dropLast() {
            if let eq = component.firstIndex(of: "="), eq != component.startIndex {
                let key = String(component[..<eq])
                let value = String(component[component.index(after: eq)...]).removingPercentEncoding ?? String(component[component.index(after: eq)...])
                partitions.append(DataFile.Partition(key, value))
            }
        }
        return DataFile(path: path, size: size, partitions: partitions)
    }
}

/// Hive-style `key=value/` directory names as Sluice writes them (values
/// percent-encoded where they hold `/`, `=` or what a path may not; `FileSet`
/// decodes them back when it lists files).
public enum HiveDirectory {
    /// The directory value of a NULL key (Hive's and DuckDB's), read back as NULL.
    public static let nullValue = "__HIVE_DEFAULT_PARTITION__"
    static let allowed = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/="))

    /// `[["date", "2026-11-01"], ["kind", "a/b"]]` -> `date=2026-11-01/kind=a%2Fb`.
    public static func path(_ pairs: [[String]]) -> String {
        pairs.map { "\($0[0])=\($0[1].addingPercentEncoding(withAllowedCharacters: allowed) ?? $0[1])" }.joined(separator: "/")
    }
}

/// Names of what writes make: random tokens that keep two writes apart, and
/// version directories (`v1796163226075-3fa9c21b`) that sort by time.
public enum WriteNames {
    public static func token(bytes: Int = 6) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    public static func version() -> String {
        "v\(Int64(Date().timeIntervalSince1970 * 1000))-\(token(bytes: 4))"
    }
}
