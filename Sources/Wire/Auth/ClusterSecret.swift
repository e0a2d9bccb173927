import Crypto
import Foundation

/// The shared secret every member of a cluster holds. Requests and replies
/// carry an HMAC-SHA256 under it, so a party without it can neither command
/// workers nor pose as the coordinator.
public struct ClusterSecret: Sendable {
    let key: SymmetricKey

    public init(_ bytes: some DataProtocol) {
        key = SymmetricKey(data: Data(bytes))
    }

    /// Reads a secret file: its contents, surrounding whitespace trimmed.
    public init(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WireError(.unauthenticated, "cannot read the cluster secret file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count >= 16 else {
            throw WireError(.unauthenticated, "the cluster secret in \(path) is shorter than 16 characters")
        }
        self.init(Array(text.utf8))
    }

    /// Makes a new random secret file (hex, mode 0600) unless one exists, and returns it.
    public static func loadOrCreate(file path: String) throws -> ClusterSecret {
        if !FileManager.default.fileExists(atPath: path) {
            let random = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path, contents: Data((random + "\n").utf8), attributes: [.posixPermissions: 0o600])
        }
        return try ClusterSecret(file: path)
    }

    /// The secret from `--secret-file`, else `SLUICE_SECRET`, else `SLUICE_SECRET_FILE`,
    /// else the local cluster's secret file under `defaultFile`.
    public static func resolve(file: String?, defaultFile: String) throws -> ClusterSecret {
        if let file { return try ClusterSecret(file: file) }
        let env = ProcessInfo.processInfo.environment
        if let s = env["SLUICE_SECRET"], !s.isEmpty {
            guard s.count >= 16 else { throw WireError(.unauthenticated, "SLUICE_SECRET is shorter than 16 characters") }
            return ClusterSecret(Array(s.utf8))
        }
        if let f = env["SLUICE_SECRET_FILE"], !f.isEmpty { return try ClusterSecret(file: f) }
        guard FileManager.default.fileExists(atPath: defaultFile) else {
            throw WireError(.unauthenticated, "no cluster secret: pass --secret-file, set SLUICE_SECRET, or start a local cluster (which writes \(defaultFile))")
        }
        return try ClusterSecret(file: defaultFile)
    }
}
