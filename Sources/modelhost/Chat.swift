import ArgumentParser
import CommandLineSupport
import Foundation
import HTTPServer

/// Where `chat` and `run` find the server, and how they authenticate.
struct ServerConnection: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The server's address (default: env MODELHOST_URL, else http://127.0.0.1:MODELHOST_PORT or :11440).",
        valueName: "url"))
    var url: String?

    @Option(help: ArgumentHelp("API key, when the server requires one (default: env MODELHOST_API_KEY).",
                               valueName: "key"))
    var apiKey: String?

    func client() throws -> ChatClient {
        let environment = ProcessInfo.processInfo.environment
        let text = url ?? environment["MODELHOST_URL"]
            ?? "http://127.0.0.1:\(environment["MODELHOST_PORT"] ?? String(11440))"
        guard let parsed = URL(string: text), let scheme = parsed.scheme, ["http", "https"].contains(scheme),
              parsed.host != nil else {
            throw ValidationError("--url must be an http(s) address such as http://127.0.0.1:11440, got '\(text)'")
        }
        return ChatClient(baseURL: parsed, apiKey: apiKey ?? environment["MODELHOST_API_KEY"])
    }
}

/// Sampling values `chat` and `run` send with each request; what is left out the server fills with the model's or
/// its own defaults (`GET /v1/models/ID` shows them).
struct RequestSampling: ParsableArguments {
    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature: Double?

    @Option(help: "Longest answer, in tokens.")
    var maxTokens: Int?

    @Option(help: "Seed for reproducible sampling.")
    var seed: Int?

    var fields: [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        if let temperature { fields["temperature"] = .number(temperature) }
        if let maxTokens { fields["max_tokens"] = .integer(Int64(maxTokens)) }
        if let seed { fields["seed"] = .integer(Int64(seed)) }
        return fields
    }
}

/// `modelhost chat`: a conversation with a running server in the terminal. Answers stream as they are generated;
/// Ctrl-C stops the current answer and returns to the prompt; Ctrl-D or /bye leaves.
struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with a model on a running server, in the terminal.",
        discussion: """
            Type a message and press Enter; the answer streams back. Ctrl-C stops an answer without leaving; \
            Ctrl-D (or /bye) leaves.

            Multi-line messages: end a line with \\ to continue it on the next, or wrap the message in \"\"\" lines.

            Commands:
              /reset         forget the conversation (the system prompt stays)
              /system TEXT   set the system prompt (/system alone clears it)
              /help          this list
              /bye, /exit    leave
            """)

    @Option(help: "Model id (default: the server's default model).")
    var model: String = "default"

    @OptionGroup var connection: ServerConnection

    @Option(help: "System prompt to start with.")
    var system: String?

    @OptionGroup var sampling: RequestSampling

    func run() throws {
        let client = try connection.client()
        var session = ChatSession(client: client, model: model, system: system, extra: sampling.fields)
        session.run()
    }
}

/// `modelhost run MODEL "prompt"`: one question, the answer streamed to standard output, for scripts.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a model on a running server one question and print the answer.",
        discussion: "With no prompt (or -), the prompt is read from standard input. Exits 1 if the request fails.")

    @Argument(help: "Model id (default for the server's default model).")
    var model: String

    @Argument(parsing: .remaining, help: "The prompt; several words are joined with spaces.")
    var prompt: [String] = []

    @OptionGroup var connection: ServerConnection

    @Option(help: "System prompt.")
    var system: String?

    @OptionGroup var sampling: RequestSampling

    func run() throws {
        let client = try connection.client()
        var text = prompt.joined(separator: " ")
        if prompt.isEmpty || prompt == ["-"] {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("the prompt is empty")
        }
        var messages: [JSONValue] = []
        if let system { messages.append(["role": "system", "content": .string(system)]) }
        messages.append(["role": "user", "content": .string(text)])
        let outcome = client.stream(model: model, messages: messages, extra: sampling.fields) { piece in
            FileHandle.standardOutput.write(Data(piece.utf8))
        }
        switch outcome {
        case .finished:
            print("")
        case .cancelled:
            print("")
            throw ExitCode(130)
        case let .failed(message):
            throw RuntimeFailure(message)
        }
    }
}

/// The interactive loop of `modelhost chat`: prompt, read a message (one or several lines), stream the answer.
struct ChatSession {
    let client: ChatClient
    let model: String
    var system: String?
    /// Request fields sent with every message (sampling options from the command line).
    let extra: [String: JSONValue]
    var history: [JSONValue] = []

    init(client: ChatClient, model: String, system: String?, extra: [String: JSONValue]) {
        self.client = client
        self.model = model
        self.system = system
        self.extra = extra
    }

    /// Ctrl-C is a signal source rather than the default action (which would end the program): during an answer it
    /// cancels the request; at the prompt it only says how to leave. The terminal discards a half-typed line itself.
    mutating func run() {
        let state = InterruptState()
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: DispatchQueue(label: "modelhost.chat.sigint"))
        source.setEventHandler { [client] in
            if state.answering {
                client.cancel()
            } else {
                Terminal.write("\n(Ctrl-D or /bye leaves)\n>>> ")
            }
        }
        source.resume()
        defer { source.cancel() }

        Terminal.write("Chatting with \(model) at \(client.baseURL.absoluteString). /help lists commands; "
                       + "Ctrl-C stops an answer, Ctrl-D leaves.\n")
        let reader = LineReader()
        while true {
            Terminal.write(">>> ")
            guard let message = readMessage(reader) else {
                Terminal.write("\n")
                return
            }
            let trimmed = message.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("/") {
                if !command(trimmed) { return }
                continue
            }
            history.append(["role": "user", "content": .string(message)])
            var messages: [JSONValue] = []
            if let system { messages.append(["role": "system", "content": .string(system)]) }
            messages += history
            var answer = ""
            state.answering = true
            let outcome = client.stream(model: model, messages: messages, extra: extra) { piece in
                answer += piece
                Terminal.write(piece)
            }
            state.answering = false
            switch outcome {
            case let .finished(reason):
                Terminal.write(reason == "length" ? "\n[the answer reached its token limit]\n\n" : "\n\n")
                history.append(["role": "assistant", "content": .string(answer)])
            case .cancelled:
                // What was shown stays part of the conversation, so the next turn follows on from it.
                Terminal.write("\n[stopped]\n\n")
                if !answer.isEmpty { history.append(["role": "assistant", "content": .string(answer)]) }
                else { history.removeLast() }
            case let .failed(reason):
                Terminal.write("\nerror: \(reason)\n\n")
                history.removeLast()
            }
        }
    }

    /// One message: a line; lines ending in `\` joined with the next; or everything between two `"""` lines.
    /// nil at the end of input.
    private func readMessage(_ reader: LineReader) -> String? {
        guard var line = reader.readLine() else { return nil }
        if line.trimmingCharacters(in: .whitespaces).hasPrefix("\"\"\"") {
            var lines: [String] = []
            let first = String(line.trimmingCharacters(in: .whitespaces).dropFirst(3))
            if first.hasSuffix("\"\"\"") { return String(first.dropLast(3)) }
            if !first.isEmpty { lines.append(first) }
            while true {
                Terminal.write("... ")
                guard let next = reader.readLine() else { return lines.joined(separator: "\n") }
                if next.trimmingCharacters(in: .whitespaces).hasSuffix("\"\"\"") {
                    let last = String(next.trimmingCharacters(in: .whitespaces).dropLast(3))
                    if !last.isEmpty { lines.append(last) }
                    return lines.joined(separator: "\n")
                }
                lines.append(next)
            }
        }
        var lines: [String] = []
        while line.hasSuffix("\\") {
            lines.append(String(line.dropLast()))
            Terminal.write("... ")
            guard let next = reader.readLine() else { break }
            line = next
        }
        if !line.hasSuffix("\\") { lines.append(line) }
        return lines.joined(separator: "\n")
    }

    /// Runs a slash command; false when the user leaves.
    private mutating func command(_ text: String) -> Bool {
        let name = text.split(separator: " ", maxSplits: 1).first.map(String.init) ?? text
        let argument = text.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
        switch name {
        case "/bye", "/exit", "/quit":
            return false
        case "/reset", "/clear":
            history.removeAll()
            Terminal.write("(conversation cleared)\n")
        case "/system":
            system = argument.isEmpty ? nil : argument
            Terminal.write(argument.isEmpty ? "(system prompt cleared)\n" : "(system prompt set)\n")
        case "/help", "/?":
            Terminal.write("""
                /reset         forget the conversation (the system prompt stays)
                /system TEXT   set the system prompt (/system alone clears it)
                /bye, /exit    leave (Ctrl-D too)
                Ctrl-C stops an answer. End a line with \\ to continue it, or wrap a message in \"\"\" lines.

                """)
        default:
            Terminal.write("unknown command \(name); /help lists them\n")
        }
        return true
    }
}

/// Whether an answer is streaming, read by the Ctrl-C handler on its own queue.
final class InterruptState: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var answering: Bool {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

enum Terminal {
    private static let lock = NSLock()

    /// Writes straight to standard output (unbuffered), so streamed pieces appear as they arrive.
    static func write(_ text: String) {
        lock.withLock {
            var bytes = Array(text.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { Foundation.write(1, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
