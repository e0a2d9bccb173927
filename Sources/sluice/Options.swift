import ArgumentParser
import Client
import Foundation
import Logging
import Wire

/// How a client command finds and proves itself to its cluster.
struct ClusterOptions: ParsableArguments {
    @Option(help: "Coordinator address (default: $SLUICE_COORDINATOR, else the local cluster's).")
    var coordinator: String?

    @Option(help: "File holding the cluster secret (default: $SLUICE_SECRET, $SLUICE_SECRET_FILE, else the local cluster's).")
    var secretFile: String?

    @Option(help: "Cluster id (default: $SLUICE_CLUSTER, else 'sluice').")
    var cluster: String?

    var address: String {
        coordinator ?? env("SLUICE_COORDINATOR") ?? LocalDefaults.coordinator
    }

    var clusterID: String { cluster ?? env("SLUICE_CLUSTER") ?? LocalDefaults.clusterID }

    func secret() throws -> ClusterSecret {
        try ClusterSecret.resolve(file: secretFile, defaultFile: LocalDefaults.secretFile)
    }

    func client() throws -> ClusterClient {
        try ClusterClient(coordinator: address, clusterID: clusterID, secret: try secret())
    }
}

func env(_ name: String) -> String? {
    guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { return nil }
    return v
}

/// Logging goes to stderr; only the executable decides that.
func bootstrapLogging(level: String?) {
    let chosen = Logger.Level(rawValue: (level ?? env("SLUICE_LOG_LEVEL") ?? "info").lowercased()) ?? .info
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = chosen
        return h
    }
}

/// "30s", "500ms", "2m", "1h", or a bare number of seconds.
struct DurationArgument: ExpressibleByArgument {
    let duration: Duration

    init?(argument: String) {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, ms) in units where argument.hasSuffix(suffix) {
            guard let n = Double(argument.dropLast(suffix.count)), n >= 0 else { return nil }
            duration = .milliseconds(Int64(n * Double(ms)))
            return
        }
        guard let n = Double(argument), n >= 0 else { return nil }
        duration = .milliseconds(Int64(n * 1000))
    }
}

/// Host part of a tcp:// address.
func host(of address: String) -> String? {
    guard let start = address.range(of: "://")?.upperBound, let colon = address.lastIndex(of: ":"), colon > start else { return nil }
    return String(address[start..<colon])
}

/// Prints an Encodable as pretty JSON on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try e.encode(value), as: UTF8.self))
}

/// Runs `body` when SIGTERM or SIGINT arrives (the signals are taken from their default action).
func onTermination(_ body: @escaping @Sendable (Int32) -> Void) -> [DispatchSourceSignal] {
    [SIGTERM, SIGINT].map { sig in
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { body(sig) }
        source.resume()
        return source
    }
}
