import ArgumentParser
import Execution
import Client
import Foundation
import Logging
import Transport
import Wire

/// How a client command finds and proves itself to its cluster.
struct ClusterOptions: ParsableArguments {
    @Option(help: "Coordinator address, e.g. tcp://host:7070 or host:7070 (default: $SLUICE_COORDINATOR, else the local cluster's).")
    var coordinator: String?

    @Option(help: "File holding the cluster secret (default: $SLUICE_SECRET, $SLUICE_SECRET_FILE, else the local cluster's).")
    var secretFile: String?

    @Option(help: "Cluster id (default: $SLUICE_CLUSTER, else 'sluice').")
    var cluster: String?

    var address: String {
        NNGAddress.normalize(coordinator ?? env("SLUICE_COORDINATOR") ?? LocalDefaults.coordinator)
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

/// A whole number on the command line. It is range-checked in `validate()`
/// (`value(_:in:)`), so that a negative, huge or zero value gets a message
/// naming the option and its range instead of a trap or a parser riddle.
/// Options of this type parse `.unconditional`ly: `--tasks -5` is a value,
/// not a missing one.
struct Number: ExpressibleByArgument, CustomStringConvertible, Sendable {
    let text: String
    /// Nil when the digits do not fit in an Int: out of range for every option.
    let parsed: Int?

    init(_ n: Int) {
        text = String(n)
        parsed = n
    }

    init?(argument: String) {
        let digits = argument.hasPrefix("-") || argument.hasPrefix("+") ? argument.dropFirst() : Substring(argument)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        text = argument
        parsed = Int(argument)
    }

    var description: String { text }

    /// The value, or a one-line error when it is outside `range`.
    func value(_ option: String, in range: ClosedRange<Int>) throws -> Int {
        guard let n = parsed, range.contains(n) else {
            throw ValidationError("\(option) must be between \(range.lowerBound) and \(range.upperBound), not \(text)")
        }
        return n
    }
}

/// A number with an optional unit suffix (the first of `units` that matches), times the unit's
/// scale, or `bare` without one; nil when the rest is not a number.
func scaledNumber(_ argument: String, units: [(String, Double)], bare: Double) -> Double? {
    var number = Substring(argument)
    var scale = bare
    for (suffix, s) in units where argument.hasSuffix(suffix) {
        number = argument.dropLast(suffix.count)
        scale = s
        break
    }
    return Double(number.trimmingCharacters(in: .whitespaces)).map { $0 * scale }
}

/// A size in bytes: "512MiB", "2GiB", "64KiB", "100MB", or a bare number of bytes.
struct ByteSize: ExpressibleByArgument, CustomStringConvertible, Sendable {
    let text: String
    /// Nil when negative, fractional in bytes, or too large to represent.
    let bytes: Int?

    init(_ text: String) { self = ByteSize(argument: text)! }

    init?(argument: String) {
        // The units SET memory_limit takes too.
        guard let b = Session.byteCount(argument) else { return nil }
        text = argument
        bytes = b <= UInt64(Int.max) ? Int(b) : nil
    }

    var description: String { text }

    func value(_ option: String, in range: ClosedRange<Int>) throws -> Int {
        guard let b = bytes, range.contains(b) else {
            throw ValidationError("\(option) must be between \(range.lowerBound) and \(range.upperBound) bytes, not \(text)")
        }
        return b
    }
}

/// A duration: "30s", "500ms", "2m", "1h", "30d", or a bare number of seconds.
struct DurationArgument: ExpressibleByArgument, CustomStringConvertible, Sendable {
    let text: String
    /// Nil when negative, not finite, or too large to represent.
    let milliseconds: Int64?

    init(_ text: String) {
        self = DurationArgument(argument: text)!
    }

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        guard let ms = scaledNumber(argument, units: units, bare: 1000) else { return nil }
        text = argument
        milliseconds = ms.isFinite && ms >= 0 && ms < 9e15 ? Int64(ms) : nil
    }

    var description: String { text }

    /// Milliseconds, or a one-line error when outside `range` (in milliseconds).
    func value(_ option: String, in range: ClosedRange<Int64>) throws -> Int64 {
        guard let ms = milliseconds, range.contains(ms) else {
            throw ValidationError("\(option) must be between \(Self.describe(range.lowerBound)) and \(Self.describe(range.upperBound)), not \(text)")
        }
        return ms
    }

    static let sevenDays: Int64 = 7 * 86_400_000

    static func describe(_ ms: Int64) -> String {
        if ms == 0 { return "0s" }
        if ms % 86_400_000 == 0 { return "\(ms / 86_400_000)d" }
        if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
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

/// What `--version` prints: the release, the protocol it speaks, and this binary's build.
enum BuildInfo {
    static var text: String {
        #if DEBUG
        let configuration = "debug"
        #else
        let configuration = "release"
        #endif
        var built = ""
        if let attributes = try? FileManager.default.attributesOfItem(atPath: "/proc/self/exe"),
           let date = attributes[.modificationDate] as? Date {
            built = ", built \(date.formatted(.iso8601))"
        }
        return "sluice \(SluiceVersion.string) (protocol \(ProtocolVersion.minimum)...\(ProtocolVersion.current), \(configuration) build\(built), Swift \(swiftVersion))"
    }

    private static var swiftVersion: String {
        #if compiler(>=6.3)
        "6.3"
        #elseif compiler(>=6.2)
        "6.2"
        #else
        "6.1 or older"
        #endif
    }
}
