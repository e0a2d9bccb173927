import Foundation

/// The fault tests' way of stopping a process at an exact point, active only
/// when `SLUICE_TEST_HOLD_DIR` names a directory: the process leaves a marker
/// file there and waits while a hold file exists, so a test can kill it then.
public enum FaultHold {
    public static let dir = ProcessInfo.processInfo.environment["SLUICE_TEST_HOLD_DIR"]

    /// Leaves `marker` and waits (at most 120 s) while any of `holds` exists, or until `stop` says so.
    public static func pause(marker: String, holds: [String], stop: () -> Bool = { false }) {
        guard let dir else { return }
        FileManager.default.createFile(atPath: dir + "/" + marker, contents: nil)
        let until = Date(timeIntervalSinceNow: 120)
        while holds.contains(where: { FileManager.default.fileExists(atPath: dir + "/" + $0) }), Date() < until, !stop() {
            Thread.sleep(forTimeInterval: 0.02)
        }
    }
}
