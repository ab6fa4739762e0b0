import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// A real `modelhost serve` process on the default model, on free ports, with its own models and state
/// directories; stopped with SIGTERM (graceful) by `stop()`.
final class ServerProcess {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The installed executables: the directory of this test bundle's build, where scripts/build also staged
    /// the plugins.
    static var binDirectory: URL {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("modelhost").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }

    static var modelhost: String { binDirectory.appendingPathComponent("modelhost").path }

    static func defaultModel() throws -> String {
        var candidates = [root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path]
        if let env = ProcessInfo.processInfo.environment["MODELHOST_TEST_MODEL"] { candidates.insert(env, at: 0) }
        guard let found = candidates.first(where: FileManager.default.fileExists) else {
            throw XCTSkip("default model missing: run scripts/install-default-model or set MODELHOST_TEST_MODEL")
        }
        return URL(fileURLWithPath: found).resolvingSymlinksInPath().path
    }

    let process = Process()
    let directory: URL
    let apiPort: Int
    let adminPort: Int
    let log: URL
    let modelFile: String

    /// `prepareModels` may add models to the models directory (which holds the default model already).
    init(environment extra: [String: String] = [:], prepareModels: (URL) throws -> Void = { _ in }) throws {
        modelFile = try Self.defaultModel()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mh-serving-\(UUID().uuidString.prefix(8))")
        let models = directory.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: models.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf").path,
                                                   withDestinationPath: modelFile)
        try prepareModels(models)
        apiPort = try Self.freePort()
        adminPort = try Self.freePort()
        log = directory.appendingPathComponent("server.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.modelhost)
        process.arguments = ["serve", "--port", "\(apiPort)", "--admin-port", "\(adminPort)",
                             "--models-dir", models.path, "--state-dir", directory.appendingPathComponent("state").path]
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("MODELHOST_") || key.hasPrefix("MLX_") { environment[key] = nil }
        environment.merge(extra) { $1 }
        process.environment = environment
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? String(contentsOf: log, encoding: .utf8))?.contains("modelhost: API on") == true { return }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        stop()
        throw NSError(domain: "ServerProcess", code: 1, userInfo: [NSLocalizedDescriptionKey: "server did not start:\n\(text)"])
    }

    var baseURL: String { "http://127.0.0.1:\(apiPort)" }
    var adminURL: String { "http://127.0.0.1:\(adminPort)" }
    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A port nothing listens on now (bound to 0, read back, closed).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw NSError(domain: "ServerProcess", code: 2) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Blocking HTTP for tests (URLSession with a semaphore; the server is a real process on loopback).
struct HTTP {
    struct Reply {
        let status: Int
        let headers: [String: String]
        let body: Data
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
        var text: String { String(decoding: body, as: UTF8.self) }
        var error: [String: Any]? { json?["error"] as? [String: Any] }
    }

    /// One connection per request in flight: the shared session allows only a few per host, which would queue
    /// concurrent test clients inside the client instead of at the server.
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.default
        configuration.httpMaximumConnectionsPerHost = 256
        return URLSession(configuration: configuration)
    }()

    static func request(_ method: String, _ url: String, json: Any? = nil, body: Data? = nil,
                        headers: [String: String] = [:], timeout: Double = 120) -> Reply {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.timeoutInterval = timeout
        if let json {
            request.httpBody = try? JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if let body { request.httpBody = body }
        for (key, value) in headers { request.setValue(value, forHTTPHeaderField: key) }
        final class Box: @unchecked Sendable { var reply = Reply(status: -1, headers: [:], body: Data()) }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        session.dataTask(with: request) { data, response, _ in
            if let http = response as? HTTPURLResponse {
                var headers: [String: String] = [:]
                for (key, value) in http.allHeaderFields { headers["\(key)".lowercased()] = "\(value)" }
                box.reply = Reply(status: http.statusCode, headers: headers, body: data ?? Data())
            }
            done.signal()
        }.resume()
        done.wait()
        return box.reply
    }

    static func post(_ url: String, _ json: Any, headers: [String: String] = [:], timeout: Double = 120) -> Reply {
        request("POST", url, json: json, headers: headers, timeout: timeout)
    }

    static func get(_ url: String, headers: [String: String] = [:]) -> Reply { request("GET", url, headers: headers) }
}
