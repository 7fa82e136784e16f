import ArgumentParser
import FinchBench
import FinchNotebook

@main
struct Finch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finch",
        abstract: "A notebook-style scripting REPL for adapting language models.",
        version: "0.1.0",
        subcommands: [Bench.self]
    )
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Finch's speed (see BENCHMARKS.md).",
        subcommands: [Ops.self]
    )

    struct Ops: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Engine matrix products next to raw cblas_sgemm, and element-wise throughput.")
        @Option(help: "Rows of the activations (tokens).") var rows = 1024
        @Option(help: "Seconds spent timing each row.") var budget = 0.4

        func run() throws {
            print(BenchOps.format(try BenchOps.run(rows: rows, budget: budget)))
        }
    }
}
