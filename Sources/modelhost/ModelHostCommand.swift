import ArgumentParser
import CommandLineSupport
import Foundation

@main
struct ModelHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modelhost",
        abstract: "An OpenAI-compatible LLM server whose model backends are plugins.",
        subcommands: [Serve.self, Chat.self, Run.self, Pull.self, ListModels.self, RemoveModel.self, Plugins.self,
                      Tokenize.self, Detokenize.self, Template.self, Bench.self]
    )
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

