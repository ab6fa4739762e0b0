import Foundation
import ImageFetch
import XCTest

/// Remote image URLs: which addresses the server may fetch from, and the fetch itself (libcurl) against a local
/// HTTP server — with an address policy that admits loopback, since nothing public is reachable from a test.
final class ImageFetchTests: XCTestCase {
    func testOnlyPublicAddressesAreAccepted() {
        for refused in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                        "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.2.5",
                        "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1",
                        "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2001:db8::1", "2002:7f00:1::1", "2001:0:4136::1"] {
            XCTAssertEqual(IPAddress(refused)?.isPublic, false, refused)
        }
        for accepted in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            XCTAssertEqual(IPAddress(accepted)?.isPublic, true, accepted)
        }
        XCTAssertEqual(Set(resolveAddresses("localhost").map(\.description)).isSubset(of: ["127.0.0.1", "::1"]), true)
    }

    func testDefaultPolicyRefusesLoopbackNames() async {
        let fetcher = RemoteImageFetcher(maxBytes: 1 << 20, timeoutMilliseconds: 2000)
        for url in ["http://127.0.0.1:9/x.png", "http://localhost:9/x.png", "http://[::1]:9/x.png",
                    "http://169.254.169.254/latest/meta-data", "ftp://example.com/x.png", "http://user:pw@example.com/"] {
            do {
                _ = try await fetcher.fetch(url)
                XCTFail("\(url) was fetched")
            } catch {
                XCTAssertFalse(error.tooLarge, url)
            }
        }
    }

    func testFetchNoRedirectsSizeAndTime() async throws {
        let server = try LocalServer()
        defer { server.stop() }
        let fetcher = RemoteImageFetcher(maxBytes: 1000, timeoutMilliseconds: 1500, acceptAddress: { _ in true })
        let base = "http://127.0.0.1:\(server.port)"
        let bytes = try await fetcher.fetch(base + "/image")
        XCTAssertEqual(bytes, Array("PNGDATA".utf8))
        func failure(_ path: String) async -> RemoteImageError? {
            do {
                _ = try await fetcher.fetch(base + path)
                return nil
            } catch {
                return error
            }
        }
        let redirect = await failure("/redirect")
        XCTAssertTrue(redirect?.message.contains("redirect") ?? false, "\(String(describing: redirect))")
        let big = await failure("/big")
        XCTAssertEqual(big?.tooLarge, true, "\(String(describing: big))")
        let missing = await failure("/missing")
        XCTAssertTrue(missing?.message.contains("404") ?? false, "\(String(describing: missing))")
        let started = Date()
        let slow = await failure("/slow")
        XCTAssertNotNil(slow)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "the time limit holds")
    }
}

/// A python HTTP server on a free loopback port: /image, /redirect (302), /big (2000 bytes), /slow (10 s), else 404.
final class LocalServer {
    let process = Process()
    let port: Int

    init() throws {
        let script = """
        import http.server, sys, time
        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_GET(self):
                if self.path == "/image": self.reply(200, b"PNGDATA")
                elif self.path == "/redirect":
                    self.send_response(302); self.send_header("Location", "/image"); self.send_header("Content-Length", "0"); self.end_headers()
                elif self.path == "/big": self.reply(200, b"x" * 2000)
                elif self.path == "/slow": time.sleep(10); self.reply(200, b"late")
                else: self.reply(404, b"no")
            def reply(self, code, body):
                self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
        s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        print(s.server_address[1], flush=True)
        s.serve_forever()
        """
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw NSError(domain: "LocalServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "no port from python"])
        }
        self.port = port
    }

    func stop() {
        // SIGKILL: a handler thread may be asleep in /slow, and the server need not shut down cleanly.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
