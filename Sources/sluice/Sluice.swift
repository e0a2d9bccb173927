import ArgumentParser

@main
struct Sluice: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A distributed data-processing cluster: coordinator, worker and client in one binary.",
        subcommands: [
            CoordinatorCommand.self, WorkerCommand.self, LocalCommand.self,
            SubmitCommand.self, StatusCommand.self, JobsCommand.self, JobCommand.self,
            CancelCommand.self, LogsCommand.self, QueryCommand.self,
        ])
}
