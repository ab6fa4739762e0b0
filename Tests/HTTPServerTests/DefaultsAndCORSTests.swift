import Foundation
import HTTPServer
import struct Sampling.SamplingDefaults
import ServerConfig
import XCTest

/// What a request that leaves sampling values out gets (the model's recommendations, else the server's defaults),
/// what `/v1/models/{id}` says about it, and cross-origin access to the API port.
final class DefaultsAndCORSTests: XCTestCase {
    let bare = #"{"model":"tiny","messages":[{"role":"user","content":"hi"}]}"#

    func testARequestWithoutSamplingGetsTheDocumentedServerDefaults() async throws {
        let backend = ScriptedBackend()
        try await withServer(backend) { server in
            let response = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: bare)
            XCTAssertEqual(response.status, 200, response.body)
        }
        let request = try XCTUnwrap(backend.requests.first)
        // README: llama-server's defaults and a 2,048-token answer cap.
        XCTAssertEqual(request.sampling.temperature, 0.8)
        XCTAssertEqual(request.sampling.topK, 40)
        XCTAssertEqual(request.sampling.topP, 0.95)
        XCTAssertEqual(request.sampling.minP, 0.05)
        XCTAssertEqual(request.sampling.repetitionPenalty, 1.0)
        XCTAssertEqual(request.maxTokens, 2048)
        XCTAssertEqual(SamplingDefaults.server, SamplingDefaults(temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05,
                                                                  repetitionPenalty: 1.0, maxTokens: 2048))
    }

    func testModelRecommendationsBeatServerDefaultsAndTheRequestBeatsBoth() async throws {
        let recommended = SamplingDefaults(temperature: 0.6, topK: 20, topP: 0.9)
        let backend = ScriptedBackend(models: [ModelInfo(id: "tiny", contextLength: 2048, recommendedSampling: recommended)])
        var options = ServerOptions()
        options.sampling = SamplingDefaults(temperature: 0.7, topK: 50, topP: 0.8, minP: 0.1, repetitionPenalty: 1.05,
                                            maxTokens: 300)
        try await withServer(backend, options: options) { server in
            var response = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: bare)
            XCTAssertEqual(response.status, 200, response.body)
            response = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json:
                #"{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0,"min_p":0,"max_tokens":9}"#)
            XCTAssertEqual(response.status, 200, response.body)
            // Completions keep OpenAI's 16-token default; sampling defaults apply there too.
            response = try await HTTP.post(port: server.apiPort, "/v1/completions", json: #"{"model":"tiny","prompt":"x"}"#)
            XCTAssertEqual(response.status, 200, response.body)

            let model = try await HTTP.get(port: server.apiPort, "/v1/models/tiny")
            let defaults = try XCTUnwrap(model.json?["defaults"] as? [String: Any], model.body)
            XCTAssertEqual(defaults["temperature"] as? Double, 0.6)
            XCTAssertEqual(defaults["top_k"] as? Int, 20)
            XCTAssertEqual(defaults["top_p"] as? Double, 0.9)
            XCTAssertEqual(defaults["min_p"] as? Double, 0.1)
            XCTAssertEqual(defaults["repetition_penalty"] as? Double, 1.05)
            XCTAssertEqual(defaults["max_tokens"] as? Int, 300)
            let sources = try XCTUnwrap(model.json?["defaults_source"] as? [String: String])
            XCTAssertEqual(sources, ["temperature": "model", "top_k": "model", "top_p": "model", "min_p": "server",
                                     "repetition_penalty": "server", "max_tokens": "server"])
        }
        let requests = backend.requests
        XCTAssertEqual(requests.count, 3)
        XCTAssertEqual(requests[0].sampling.temperature, 0.6)
        XCTAssertEqual(requests[0].sampling.topK, 20)
        XCTAssertEqual(requests[0].sampling.topP, 0.9)
        XCTAssertEqual(requests[0].sampling.minP, 0.1)
        XCTAssertEqual(requests[0].sampling.repetitionPenalty, 1.05)
        XCTAssertEqual(requests[0].maxTokens, 300)
        XCTAssertEqual(requests[1].sampling.temperature, 0)
        XCTAssertEqual(requests[1].sampling.minP, 0)
        XCTAssertEqual(requests[1].sampling.topK, 20)
        XCTAssertEqual(requests[1].maxTokens, 9)
        XCTAssertEqual(requests[2].maxTokens, 16)
        XCTAssertEqual(requests[2].sampling.temperature, 0.6)
    }

    func testSamplingDefaultsLayerAndRefuseOutOfRangeValues() {
        let model = SamplingDefaults(temperature: 0.3, topK: nil, topP: 1.5)
        XCTAssertEqual(model.invalidField?.name, "top_p")
        XCTAssertEqual(model.withoutInvalidFields(), SamplingDefaults(temperature: 0.3))
        XCTAssertEqual(model.withoutInvalidFields().filled(from: .server).temperature, 0.3)
        XCTAssertEqual(model.withoutInvalidFields().filled(from: .server).topP, 0.95)
        XCTAssertEqual(SamplingDefaults(temperature: 3, topK: -1, minP: 2, repetitionPenalty: 0, maxTokens: 0)
            .withoutInvalidFields(), SamplingDefaults())
    }

    // MARK: CORS

    func testCORSIsOffByDefault() async throws {
        try await withServer(ScriptedBackend()) { server in
            let preflight = try await HTTP.request(port: server.apiPort, "OPTIONS", "/v1/chat/completions", headers: [
                "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"])
            XCTAssertNil(preflight.headers["access-control-allow-origin"])
            XCTAssertGreaterThanOrEqual(preflight.status, 400, "no preflight answer without --cors-origins")
            let plain = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: bare,
                                            headers: ["Origin": "http://localhost:3000"])
            XCTAssertEqual(plain.status, 200)
            XCTAssertNil(plain.headers["access-control-allow-origin"])
        }
    }

    func testPreflightAndHeadersForAllowedOriginsOnlyOnTheAPIPort() async throws {
        var options = ServerOptions(apiKeys: ["sk-1"])
        options.corsOrigins = ["http://localhost:3000", "https://chat.example"]
        let auth = ["Authorization": "Bearer sk-1"]
        try await withServer(ScriptedBackend(), options: options) { server in
            // A preflight needs no key (browsers never send one) and is granted the headers it asks for.
            let preflight = try await HTTP.request(port: server.apiPort, "OPTIONS", "/v1/chat/completions", headers: [
                "Origin": "https://chat.example", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os"])
            XCTAssertEqual(preflight.status, 204, preflight.body)
            XCTAssertEqual(preflight.headers["access-control-allow-origin"], "https://chat.example")
            XCTAssertEqual(preflight.headers["access-control-allow-headers"], "authorization, content-type, x-stainless-os")
            XCTAssertTrue(preflight.headers["access-control-allow-methods"]?.contains("POST") ?? false)
            XCTAssertEqual(preflight.headers["vary"], "Origin")
            XCTAssertNotNil(preflight.headers["access-control-max-age"])

            // The real request carries the header, errors included (a page must be able to read a 401).
            var headers = auth
            headers["Origin"] = "http://localhost:3000"
            let ok = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: bare, headers: headers)
            XCTAssertEqual(ok.status, 200, ok.body)
            XCTAssertEqual(ok.headers["access-control-allow-origin"], "http://localhost:3000")
            XCTAssertTrue(ok.headers["access-control-expose-headers"]?.contains("Retry-After") ?? false)
            XCTAssertTrue(ok.headers["access-control-expose-headers"]?.contains("X-ModelHost-Ignored-Options") ?? false,
                          "a page may read which options had no effect")
            let unauthorized = try await HTTP.post(port: server.apiPort, "/v1/chat/completions", json: bare,
                                                   headers: ["Origin": "http://localhost:3000"])
            XCTAssertEqual(unauthorized.status, 401)
            XCTAssertEqual(unauthorized.headers["access-control-allow-origin"], "http://localhost:3000")

            // Another origin gets no CORS headers, and no preflight answer.
            let other = try await HTTP.request(port: server.apiPort, "OPTIONS", "/v1/chat/completions", headers: [
                "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"])
            XCTAssertNil(other.headers["access-control-allow-origin"])
            XCTAssertNotEqual(other.status, 204)

            // Never on the admin port.
            let admin = try await HTTP.request(port: server.adminPort, "OPTIONS", "/admin/status", headers: [
                "Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"])
            XCTAssertNil(admin.headers["access-control-allow-origin"])
            var adminHeaders = auth
            adminHeaders["Origin"] = "http://localhost:3000"
            let status = try await HTTP.get(port: server.adminPort, "/admin/status", headers: adminHeaders)
            XCTAssertEqual(status.status, 200)
            XCTAssertNil(status.headers["access-control-allow-origin"])
        }
    }

    func testWildcardOrigin() async throws {
        var options = ServerOptions()
        options.corsOrigins = ["*"]
        try await withServer(ScriptedBackend(), options: options) { server in
            let response = try await HTTP.get(port: server.apiPort, "/v1/models", headers: ["Origin": "http://any.example"])
            XCTAssertEqual(response.headers["access-control-allow-origin"], "*")
            XCTAssertNil(response.headers["vary"])
        }
    }
}
