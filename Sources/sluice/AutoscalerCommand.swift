import ArgumentParser
import Client
import Foundation
import Wire

/// `sluice autoscaler ...`: what the coordinator's autoscaler decided, and why.
struct AutoscalerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoscaler", abstract: "The autoscaler's decisions (a coordinator started with --autoscale FILE).",
        subcommands: [History.self])

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every decision, newest first: direction, workers, desired and actual counts, and the reason.")
        @OptionGroup var cluster: ClusterOptions
        @Option(help: "At most this many.") var limit: UInt32 = 50
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let reply = try cluster.client().call(AutoscalerHistory(limit: limit))
            if json { return try printJSON(reply.decisions) }
            var t = Table("TIME", "DIRECTION", "COUNT", "WORKERS", "DESIRED", "ACTUAL", "ACTED", "REASON")
            for d in reply.decisions {
                t.add(time(d.atMs), d.direction, "\(d.count)", d.workers.isEmpty ? "-" : d.workers.joined(separator: ","), "\(d.desired)", "\(d.actual)",
                      d.acted ? "yes" : (d.error.isEmpty ? "no (dry run)" : "no: \(d.error)"), d.reason)
            }
            print(t.render())
        }
    }
}
