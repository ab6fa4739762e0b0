import ArgumentParser
import ChatTemplate
import EngineCore
import CommandLineSupport
import Foundation
import ModelFormats
import Tokenizer

/// Resolves `--model`: a path to a .gguf file, or a model id NAME for models-dir/NAME.gguf (`default` is the default
/// model). Ids never escape the models directory.
struct ModelArgument: ParsableArguments {
    @Option(name: .customLong("model"), help: "A .gguf path, or a model id in --models-dir (\"default\" for the default model).")
    var model: String = "default"

    @Option(help: "Directory of models.")
    var modelsDir: String = ProcessInfo.processInfo.environment["MODELHOST_MODELS_DIR"] ?? "models"

    func path() throws -> String {
        if model.hasSuffix(".gguf") || model.contains("/") {
            guard FileManager.default.fileExists(atPath: model) else { throw RuntimeFailure("no model file at \(model)") }
            return model
        }
        let name = model == "default" ? "SmolLM2-135M-Instruct.Q4_1" : model
        guard name.range(of: #"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"#, options: .regularExpression) != nil else {
            throw ValidationError("invalid model id '\(model)'")
        }
        let path = URL(fileURLWithPath: modelsDir).appendingPathComponent(name + ".gguf").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw RuntimeFailure("model '\(model)' not found in \(modelsDir) (looked for \(path))")
        }
        return path
    }

    func gguf() throws -> GGUFFile { try GGUFFile(path: path()) }
}

func readStandardInput() -> Data { FileHandle.standardInput.readDataToEndOfFile() }

/// `modelhost tokenize`: text on stdin → token ids (the engine's tokenizer, as used for serving).
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the token ids of the text on standard input.")
    @OptionGroup var model: ModelArgument
    @Flag(help: "Print a JSON array of integers.") var json = false
    @Flag(help: "Do not add the model's BOS/EOS tokens.") var noSpecial = false
    @Flag(help: "Tokenize special-token strings (like <|im_end|>) as plain text.") var plainSpecial = false

    func run() throws {
        let tokenizer = try Tokenizers.load(gguf: model.gguf())
        let text = String(decoding: readStandardInput(), as: UTF8.self)
        let ids = tokenizer.encode(text, addSpecial: !noSpecial, parseSpecial: !plainSpecial)
        print(json ? "[\(ids.map(String.init).joined(separator: ","))]" : ids.map(String.init).joined(separator: " "))
    }
}

/// `modelhost detokenize`: token ids on stdin (JSON array or whitespace-separated) → text.
struct Detokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the text of the token ids on standard input.")
    @OptionGroup var model: ModelArgument
    @Flag(help: "Leave out special tokens.") var skipSpecial = false

    func run() throws {
        let tokenizer = try Tokenizers.load(gguf: model.gguf())
        let input = String(decoding: readStandardInput(), as: UTF8.self)
        let fields = input.split(whereSeparator: { " \n\t\r,[]".contains($0) })
        let ids = try fields.map { field -> Int32 in
            guard let id = Int32(field), id >= 0, Int(id) < tokenizer.vocabularySize else {
                throw RuntimeFailure("'\(field)' is not a token id of this model (0..<\(tokenizer.vocabularySize))")
            }
            return id
        }
        FileHandle.standardOutput.write(Data(tokenizer.decode(ids, skipSpecial: skipSpecial).utf8))
    }
}

/// `modelhost template`: `{"messages": [...], "add_generation_prompt": true, "tools": [...]}` on stdin → the prompt
/// the model's chat template renders.
struct Template: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Render the model's chat template for the conversation on standard input.")
    @OptionGroup var model: ModelArgument

    func run() throws {
        let prompts = try PromptBuilder(gguf: model.gguf())
        let input = try JinjaValue(jsonData: readStandardInput())
        guard case .object(let request) = input, case .array(let messages)? = request["messages"] else {
            throw RuntimeFailure("standard input must be a JSON object with a \"messages\" array")
        }
        if prompts.usesFallbackTemplate {
            FileHandle.standardError.write(Data("modelhost: the model has no chat template; using the ChatML fallback\n".utf8))
        }
        var tools: [JinjaValue]?
        if case .array(let t)? = request["tools"] { tools = t }
        var addGenerationPrompt = false
        if case .bool(let b)? = request["add_generation_prompt"] { addGenerationPrompt = b }
        let rendered = try prompts.render(messages: messages, addGenerationPrompt: addGenerationPrompt, tools: tools)
        FileHandle.standardOutput.write(Data(rendered.utf8))
    }
}
