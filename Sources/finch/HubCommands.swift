import ArgumentParser
import Foundation
import FinchHub

/// `finch secrets set|list|rm`: the local secrets store (Kaggle's "Secrets" add-on).
struct Secrets: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage Finch's secrets store (values never print).",
        subcommands: [Set.self, List.self, Remove.self]
    )

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a secret; the value is read without echo (or from a pipe).")
        @Argument(help: "The secret's name, e.g. HF_TOKEN.") var name: String
        func run() throws {
            do { print(try SecretsCLI.set(name: name)) } catch { throw failure(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List stored secret names (never values).")
        func run() throws {
            do {
                let names = try SecretsCLI.list()
                if names.isEmpty { FileHandle.standardError.write(Data("no secrets stored (finch secrets set NAME)\n".utf8)) }
                for n in names { print(n) }
            } catch { throw failure(error) }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a stored secret.")
        @Argument(help: "The secret's name.") var name: String
        func run() throws {
            do { print(try SecretsCLI.remove(name: name)) } catch { throw failure(error) }
        }
    }
}

/// `finch login`: stores a Hugging Face token the way huggingface-cli does.
struct Login: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Log in to the Hugging Face Hub (token read without echo, or from a pipe).")
    func run() throws {
        do { print(try HubCLI.login()) } catch { throw failure(error) }
    }
}

/// Prints an error as "finch: …" (redacted) and exits 1.
func failure(_ error: Error) -> ExitCode {
    FileHandle.standardError.write(Data("finch: \(Redactor.shared.redact("\(error)"))\n".utf8))
    return ExitCode(1)
}
