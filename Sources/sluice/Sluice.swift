import ArgumentParser
import Foundation

@main
struct Sluice: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A distributed data-processing cluster: coordinator, worker and client in one binary.",
        version: BuildInfo.text,
        subcommands: [
            CoordinatorCommand.self, WorkerCommand.self, LocalCommand.self,
            SubmitCommand.self, StatusCommand.self, JobsCommand.self, JobCommand.self,
            CancelCommand.self, LogsCommand.self, QueryCommand.self, CatalogCommand.self, AlertsCommand.self, PipelineCommand.self, BackfillCommand.self, AutoscalerCommand.self,
        ])

    /// Every failure is one line on stderr and exit status 1 (help and
    /// `--version` print and exit 0; a subcommand's own exit status passes through).
    static func main() {
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            fail(error)
        }
        do {
            var command = command
            try command.run()
        } catch {
            fail(error)
        }
    }

    private static func fail(_ error: Error) -> Never {
        if exitCode(for: error) == .success { exit(withError: error) }
        if let code = error as? ExitCode { Foundation.exit(code.rawValue) }
        let text = message(for: error).trimmingCharacters(in: .whitespacesAndNewlines)
        FileHandle.standardError.write(Data("Error: \(text)\n".utf8))
        Foundation.exit(1)
    }
}
