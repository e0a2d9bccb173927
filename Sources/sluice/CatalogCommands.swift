import ArgumentParser
import Client
import Foundation
import Wire

/// `sluice catalog ...`: the coordinator's named datasets.
struct CatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog", abstract: "Named datasets: register files under a name, list, show and drop them.",
        subcommands: [Register.self, List.self, Show.self, Drop.self])

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register files (a path, directory or glob below the coordinator's --sql-root) as a dataset; again to refresh it.")
        @OptionGroup var cluster: ClusterOptions
        @Argument(help: "The dataset's name (letters, digits, underscores).") var name: String
        @Option(help: "A file, directory or glob.") var path: String
        @Option(help: "csv, jsonl or sluice (default: by the files' extension).") var format: String?
        @Option(name: .customLong("partitioned-by"), help: "A key=value/ directory column the files are partitioned by (repeatable).")
        var partitionedBy: [String] = []
        @Option(help: "The columns, like 'id INTEGER, amount DECIMAL(12,2)' (default: inferred).") var schema: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            if let format, !["csv", "jsonl", "json", "sluice"].contains(format) {
                throw ValidationError("--format must be csv, jsonl or sluice, not \(format)")
            }
            let reply = try cluster.client().call(CatalogRequest(action: .registerDataset, name: name, path: path, format: format ?? "",
                                                                 partitionedBy: partitionedBy, schema: schema ?? ""), timeout: .seconds(300))
            try CatalogCommand.show(reply, json: json)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every dataset.")
        @OptionGroup var cluster: ClusterOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let reply = try cluster.client().call(CatalogRequest(action: .listDatasets))
            if json { return try printJSON(reply.datasets) }
            var t = Table("NAME", "FORMAT", "FILES", "SIZE", "ROWS", "PARTITIONED BY", "UPDATED", "LOCATION")
            for d in reply.datasets {
                t.add(d.name, d.format, "\(d.files)", bytes(d.sizeBytes), d.rowCount < 0 ? "-" : "\(d.rowCount)",
                      d.partitionColumns.joined(separator: ","), CatalogCommand.time(d.updatedMs), d.location)
            }
            print(t.render())
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A dataset: location, format, schema, partitions with sizes.")
        @OptionGroup var cluster: ClusterOptions
        @Argument var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try CatalogCommand.show(try cluster.client().call(CatalogRequest(action: .showDataset, name: name)), json: json)
        }
    }

    struct Drop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a dataset from the catalog (its files stay unless --purge).")
        @OptionGroup var cluster: ClusterOptions
        @Argument var name: String
        @Flag(help: "Delete its files too.") var purge = false
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let reply = try cluster.client().call(CatalogRequest(action: .dropDataset, name: name, purge: purge))
            if json { return try printJSON(reply.datasets) }
            for d in reply.datasets { print("dropped \(d.name)" + (purge ? ", and deleted its \(d.files) files" : "")) }
        }
    }

    static func show(_ reply: CatalogReply, json: Bool) throws {
        if json { return try printJSON(reply.datasets.first) }
        guard let d = reply.datasets.first else { return }
        print("\(d.name): \(d.format) at \(d.location)")
        print("  \(d.files) files, \(bytes(d.sizeBytes))" + (d.rowCount < 0 ? "" : ", \(d.rowCount) rows")
              + ", created \(time(d.createdMs)), updated \(time(d.updatedMs))" + (d.lastQuery.isEmpty ? "" : ", last written by \(d.lastQuery)"))
        print("  columns:")
        for c in d.columns { print("    \(c.name) \(c.type)" + (d.partitionColumns.contains(c.name) ? "  (partition)" : "")) }
        if !d.partitionColumns.isEmpty {
            var t = Table("PARTITION", "FILES", "SIZE")
            for p in d.partitions { t.add(p.values, "\(p.files)", bytes(p.bytes)) }
            print(t.render().split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
    }

    static func time(_ ms: Int64) -> String {
        Date(timeIntervalSince1970: Double(ms) / 1000).formatted(.iso8601)
    }
}
