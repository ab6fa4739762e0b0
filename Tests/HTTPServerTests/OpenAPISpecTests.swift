import Foundation
import HTTPServer
import XCTest

/// `/openapi.json` stays in step with the routes: every path and method the API port answers is described, and
/// nothing described is missing; a known path asked with another method is a 405 with `Allow`.
final class OpenAPISpecTests: XCTestCase {
    func testTheDocumentDescribesExactlyTheAPIPortsRoutes() async throws {
        try await withServer(ScriptedBackend()) { server in
            let response = try await HTTP.get(port: server.apiPort, "/openapi.json")
            XCTAssertEqual(response.status, 200)
            let document = try XCTUnwrap(response.json, "the document is not JSON")
            XCTAssertEqual(document["openapi"] as? String, "3.1.0")
            let paths = try XCTUnwrap(document["paths"] as? [String: [String: Any]])
            var described: [String: Set<String>] = [:]
            /// A path template's variable part (`{model}`, `{response_id}`) is the route table's `*`.
            func routeKey(_ path: String) -> String {
                path.replacingOccurrences(of: #"\{[a-z_]+\}"#, with: "*", options: .regularExpression)
            }
            var templates: [String: String] = [:]
            for (path, operations) in paths {
                let key = routeKey(path)
                templates[key] = path
                described[key] = Set(operations.keys.filter { $0 != "parameters" }.map { $0.uppercased() })
            }
            let served = RouteMethods.api.mapValues(Set.init)
            XCTAssertEqual(described, served, "the OpenAPI document and the registered routes differ")

            // Every described operation is answered (not 404/405), with the document's statuses.
            for (path, methods) in served {
                let concrete = path.replacingOccurrences(of: "*", with: "tiny")
                for method in methods {
                    let reply = try await HTTP.request(port: server.apiPort, method, concrete,
                                                       headers: ["Content-Type": "application/json"], body: Array("{}".utf8))
                    // A 404 must be the route's own answer (no such model or response), not an unknown route.
                    let code = ((try? JSONSerialization.jsonObject(with: Data(reply.body.utf8))) as? [String: Any])
                        .flatMap { $0["error"] as? [String: Any] }?["code"] as? String
                    XCTAssertFalse(reply.status == 405 || reply.status == 404 && code == "not_found",
                                   "\(method) \(concrete): \(reply.status)")
                    let operation = try XCTUnwrap(paths[templates[path] ?? path]?[method.lowercased()] as? [String: Any])
                    let statuses = try XCTUnwrap(operation["responses"] as? [String: Any]).keys
                    XCTAssertTrue(statuses.contains(String(reply.status)), "\(method) \(concrete) answered \(reply.status)")
                }
            }

            // The admin port has no document; its method table must still match what it serves.
            for (path, methods) in RouteMethods.admin {
                for method in methods {
                    let reply = try await HTTP.request(port: server.adminPort, method, path,
                                                       headers: ["Content-Type": "application/json"],
                                                       body: Array(#"{"model":"tiny"}"#.utf8))
                    XCTAssertFalse([404, 405].contains(reply.status), "admin \(method) \(path): \(reply.status)")
                }
            }

            let wrongMethod = try await HTTP.request(port: server.apiPort, "DELETE", "/v1/chat/completions")
            XCTAssertEqual(wrongMethod.status, 405)
            XCTAssertEqual(wrongMethod.headers["allow"], "POST")
            XCTAssertEqual(wrongMethod.error?["code"] as? String, "method_not_allowed")
            let adminWrong = try await HTTP.request(port: server.adminPort, "GET", "/admin/load")
            XCTAssertEqual(adminWrong.status, 405)
            XCTAssertEqual(adminWrong.headers["allow"], "POST")
            let unknown = try await HTTP.request(port: server.apiPort, "GET", "/v1/nothing")
            XCTAssertEqual(unknown.status, 404)
        }
    }
}
