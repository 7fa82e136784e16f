import ArgumentParser
import FinchNotebook

@main
struct Finch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finch",
        abstract: "A notebook-style scripting REPL for adapting language models.",
        version: "0.1.0"
    )

    func run() throws {
        print("finch 0.1.0")
    }
}
