import ArgumentParser
import Foundation

@main
struct ModelHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modelhost",
        abstract: "An OpenAI-compatible LLM server whose model backends are plugins.",
        subcommands: [Serve.self, Chat.self, Run.self, Plugins.self, Tokenize.self, Detokenize.self, Template.self, Supervise.self, Bench.self]
    )
}

/// Path of the running executable, for re-executing it (verifier checks run in child processes).
func currentExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A failure while running a well-formed command (a directory that cannot be created, a model that is missing, a
/// worker that fails): argument-parser prints it as one `Error: …` line and exits 1, without the usage text that a
/// `ValidationError` adds, which is only for mistakes on the command line.
struct RuntimeFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}
