import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPServer

/// A client of a running server's `/v1/chat/completions`, streaming (server-sent events), for `modelhost chat` and
/// `modelhost run`. One request at a time; `cancel()` (from a signal handler's queue) stops the current one, which
/// closes the connection, and the server then stops generating.
///
/// FoundationNetworking's delegate API is the streaming HTTP client the toolchain already ships; the events are
/// parsed with the server's own `JSONValue`.
final class ChatClient: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    /// How one answer ended.
    enum Outcome: Equatable {
        /// The server finished it; `reason` is its `finish_reason` (`stop`, `length`, …).
        case finished(reason: String)
        /// `cancel()` stopped it.
        case cancelled
        /// The request failed: a one-line explanation for the user.
        case failed(String)
    }

    let baseURL: URL
    let apiKey: String?
    private let lock = NSLock()
    private var session: URLSession!
    private var task: URLSessionDataTask?
    private var buffer: [UInt8] = []
    private var errorBody: [UInt8] = []
    private var status = 0
    private var outcome: Outcome?
    private var finishReason: String?
    private var cancelled = false
    private var onText: ((String) -> Void)?
    private let done = DispatchSemaphore(value: 0)

    /// `baseURL` is the server's root (`http://127.0.0.1:11440`), with or without a trailing `/v1`.
    init(baseURL: URL, apiKey: String?) {
        var root = baseURL.absoluteString
        while root.hasSuffix("/") { root.removeLast() }
        if root.hasSuffix("/v1") { root.removeLast(3) }
        self.baseURL = URL(string: root) ?? baseURL
        self.apiKey = apiKey
        super.init()
        let configuration = URLSessionConfiguration.default
        configuration.timeoutIntervalForRequest = 3600
        configuration.timeoutIntervalForResource = 24 * 3600
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
    }

    /// Sends `messages` (OpenAI chat messages) to `model` and calls `onText` with each piece of the answer as it
    /// arrives (on a background queue); blocks until the answer ends, fails or is cancelled.
    func stream(model: String, messages: [JSONValue], extra: [String: JSONValue] = [:],
                onText: @escaping (String) -> Void) -> Outcome {
        var body: [String: JSONValue] = ["model": .string(model), "messages": .array(messages), "stream": true]
        body.merge(extra) { $1 }
        var request = URLRequest(url: baseURL.appendingPathComponent("v1/chat/completions"))
        request.httpMethod = "POST"
        request.httpBody = Data(JSONValue.object(body).serialized.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        let task = session.dataTask(with: request)
        lock.withLock {
            self.task = task
            self.onText = onText
            buffer = []
            errorBody = []
            status = 0
            outcome = nil
            finishReason = nil
            cancelled = false
        }
        task.resume()
        done.wait()
        return lock.withLock { outcome ?? .failed("the connection ended without an answer") }
    }

    /// Stops the answer in progress, if any. Safe from any thread.
    func cancel() {
        let task = lock.withLock { () -> URLSessionDataTask? in
            cancelled = true
            return self.task
        }
        task?.cancel()
    }

    // MARK: URLSessionDataDelegate

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        lock.withLock { status = (response as? HTTPURLResponse)?.statusCode ?? 0 }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        var pieces: [String] = []
        let handler: ((String) -> Void)? = lock.withLock {
            guard status == 200 else {
                if errorBody.count < 1 << 16 { errorBody.append(contentsOf: data) }
                return nil
            }
            buffer.append(contentsOf: data)
            // Events end with a blank line; a partial one waits for the rest.
            while let end = Self.eventEnd(in: buffer) {
                let event = String(decoding: buffer[..<end.start], as: UTF8.self)
                buffer.removeSubrange(..<end.next)
                pieces.append(contentsOf: handle(event: event))
            }
            return onText
        }
        for piece in pieces { handler?(piece) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        lock.withLock {
            if outcome == nil {
                if cancelled {
                    outcome = .cancelled
                } else if status != 200 && status != 0 {
                    outcome = .failed(Self.errorMessage(status: status, body: errorBody))
                } else if let error {
                    outcome = .failed(Self.connectionMessage(error, url: baseURL))
                } else if let finishReason {
                    outcome = .finished(reason: finishReason)
                } else {
                    outcome = .failed("the server closed the stream before the answer finished")
                }
            }
            self.task = nil
            onText = nil
        }
        done.signal()
    }

    // MARK: Parsing

    /// The text pieces of one event; records the finish reason, an error event, or the end of the stream.
    /// Called with the lock held.
    private func handle(event: String) -> [String] {
        var pieces: [String] = []
        for line in event.split(separator: "\n", omittingEmptySubsequences: true) where line.hasPrefix("data:") {
            let payload = line.dropFirst(5).drop { $0 == " " }
            if payload == "[DONE]" {
                if outcome == nil { outcome = .finished(reason: finishReason ?? "stop") }
                continue
            }
            guard let value = JSONValue.parse(Array(payload.utf8)), case let .object(object) = value else { continue }
            if case let .object(error)? = object["error"] {
                if case let .string(message)? = error["message"] { outcome = .failed(message) }
                else { outcome = .failed("the server reported an error") }
                continue
            }
            guard case let .array(choices)? = object["choices"] else { continue }
            for choice in choices {
                guard case let .object(fields) = choice else { continue }
                if case let .object(delta)? = fields["delta"], case let .string(text)? = delta["content"], !text.isEmpty {
                    pieces.append(text)
                }
                if case let .string(reason)? = fields["finish_reason"] { finishReason = reason }
            }
        }
        return pieces
    }

    /// Where the first complete event ends: the blank line (`\n\n`, or `\r\n\r\n`).
    private static func eventEnd(in bytes: [UInt8]) -> (start: Int, next: Int)? {
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == 10 && bytes[index + 1] == 10 { return (index, index + 2) }
            if index + 3 < bytes.count, bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13,
               bytes[index + 3] == 10 { return (index, index + 4) }
            index += 1
        }
        return nil
    }

    /// The server's own message from an OpenAI-shaped error body, else the status.
    static func errorMessage(status: Int, body: [UInt8]) -> String {
        if let value = JSONValue.parse(body), case let .object(object) = value,
           case let .object(error)? = object["error"], case let .string(message)? = error["message"] {
            return "\(message) (HTTP \(status))"
        }
        return "the server answered HTTP \(status)"
    }

    static func connectionMessage(_ error: any Error, url: URL) -> String {
        let code = (error as NSError).code
        if [NSURLErrorCannotConnectToHost, NSURLErrorCannotFindHost, NSURLErrorNetworkConnectionLost,
            NSURLErrorTimedOut].contains(code) {
            return "cannot reach \(url.absoluteString) (is `modelhost serve` running there? --url picks another server)"
        }
        return "request to \(url.absoluteString) failed: \(error.localizedDescription)"
    }
}
