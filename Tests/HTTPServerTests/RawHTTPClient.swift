import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client over a blocking POSIX socket, so the tests exercise the real server over loopback
/// byte for byte (chunked bodies, SSE frames, early disconnects) without another HTTP stack in between.
struct RawResponse {
    let status: Int
    let headers: [String: String]
    let body: String

    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
    }

    var error: [String: Any]? { json?["error"] as? [String: Any] }

    /// `data:` payloads of an SSE body, in order.
    var events: [String] {
        body.components(separatedBy: "\n\n").compactMap { frame in
            frame.hasPrefix("data: ") ? String(frame.dropFirst(6)) : nil
        }
    }
}

struct ClientError: Error, CustomStringConvertible {
    let description: String
}

final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError(description: "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(fd)
            throw ClientError(description: "connect to port \(port) failed")
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Writes everything; returns false if the peer closed (e.g. it answered 413 and stopped reading).
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    /// Reads what is available (blocking up to the receive timeout); empty at EOF.
    func readSome() -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return count > 0 ? Array(buffer[0..<count]) : []
    }

    func readAll() -> [UInt8] {
        var data: [UInt8] = []
        while true {
            let chunk = readSome()
            if chunk.isEmpty { return data }
            data += chunk
        }
    }

    /// Reads until `marker` appears in the accumulated text (or EOF).
    func read(until marker: String, into data: inout [UInt8]) -> Bool {
        while !String(decoding: data, as: UTF8.self).contains(marker) {
            let chunk = readSome()
            if chunk.isEmpty { return false }
            data += chunk
        }
        return true
    }

    func closeNow() {
        close(fd)
    }

    static func requestBytes(method: String, path: String, headers: [String: String], body: [UInt8]?) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (body ?? [])
    }

    static func parse(_ data: [UInt8]) throws -> RawResponse {
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw ClientError(description: "no header end in: \(text.prefix(200))") }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw ClientError(description: "bad status line \(lines[0])")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = String(text[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = dechunk(body) }
        return RawResponse(status: status, headers: headers, body: body)
    }

    static func dechunk(_ text: String) -> String {
        var bytes = Array(text.utf8)[...]
        var out: [UInt8] = []
        while let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\r")) {
            let sizeText = String(decoding: bytes[bytes.startIndex..<lineEnd], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";")[0], radix: 16), size > 0 else { break }
            let start = lineEnd + 2
            guard start + size <= bytes.endIndex else { break }
            out += bytes[start..<(start + size)]
            bytes = bytes[(start + size + 2)...]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

enum HTTP {
    static func request(
        port: Int, _ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8]? = nil
    ) async throws -> RawResponse {
        try await Task.detached {
            let connection = try RawConnection(port: port)
            defer { connection.closeNow() }
            connection.write(RawConnection.requestBytes(method: method, path: path, headers: headers, body: body))
            return try RawConnection.parse(connection.readAll())
        }.value
    }

    static func post(port: Int, _ path: String, json: String, headers: [String: String] = [:]) async throws
        -> RawResponse
    {
        var all = headers
        all["Content-Type"] = "application/json"
        return try await request(port: port, "POST", path, headers: all, body: Array(json.utf8))
    }

    static func get(port: Int, _ path: String, headers: [String: String] = [:]) async throws -> RawResponse {
        try await request(port: port, "GET", path, headers: headers)
    }
}
