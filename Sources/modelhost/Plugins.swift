import ArgumentParser
import CommandLineSupport
import Foundation
import PluginHost

struct Plugins: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and verify backend plugins.",
        subcommands: [List.self, Verify.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every plugin found, accepted or rejected with the reason.",
            discussion: """
                Searches MODELHOST_PLUGIN_PATH (colon-separated), then the installation's plugins/ directory. Each \
                plugin the manifest, CPU and ELF checks accept is then loaded in a child process, as a worker would \
                load it (entry, ABI version, struct sizes), so that "ok" means the server will take it; --no-probe \
                skips that and says "not probed".
                """)

        @Flag(help: "Print JSON.") var json = false
        @Flag(help: "Do not load the plugins (list what the manifests and file checks say only).") var noProbe = false
        @Option(help: "Extra plugin directory searched first.") var pluginPath: String?

        struct Row: Encodable {
            let manifest: String
            let id: String?
            let version: String?
            let kind: String?
            let families: [String]?
            let quantizations: [String]?
            let requires: String?
            let priority: Int?
            let library: String?
            let accepted: Bool
            let stage: String?
            let reason: String?
            /// What loading it in a child process said (nil with --no-probe or when the file checks refused it).
            let probe: String?
        }

        func run() throws {
            let search = PluginSearchPath.standard(extra: pluginPath.map { [$0] } ?? [])
            let executable = currentExecutable()
            let rows = PluginDiscovery.discover(in: search).map { p in
                let m = p.manifest
                let requires = [m?.requires?.cpu].compactMap { $0 } + (m?.requires?.cpuFeatures ?? [])
                var accepted = p.isAccepted, stage = p.rejection?.stage.rawValue, reason = p.rejection?.message
                var probe: String?
                if accepted, !noProbe, let library = p.libraryPath {
                    // The verifier's load check, in a child: a plugin that crashes on load fails here, not the list.
                    let result = PluginVerifier.runChild(executable: executable,
                                                         arguments: ["plugins", "verify", "--check", "load", library],
                                                         check: "load")
                    probe = result.detail
                    if !result.passed {
                        accepted = false
                        stage = "load"
                        reason = result.detail
                    }
                }
                return Row(manifest: p.manifestPath, id: m?.id, version: m?.version, kind: m?.kind.rawValue,
                           families: m?.families, quantizations: m?.quantizations,
                           requires: requires.isEmpty ? nil : requires.joined(separator: ","),
                           priority: m?.priority, library: p.libraryPath, accepted: accepted,
                           stage: stage, reason: reason, probe: probe)
            }
            if json {
                try printJSON(["search_path": search.directories.map { AnyEncodable($0) }, "plugins": rows.map { AnyEncodable($0) }])
                return
            }
            print("search path: \(search.directories.joined(separator: ":"))")
            if rows.isEmpty { print("no plugins found") }
            for r in rows {
                let what = [r.kind, r.families?.joined(separator: ","), r.quantizations?.joined(separator: ","),
                            r.requires.map { "requires \($0)" }].compactMap { $0 }.joined(separator: "  ")
                let verdict = !r.accepted ? "REJECTED" : noProbe ? "unprobed" : "ok      "
                print("\(verdict) \(r.id ?? "?") \(r.version ?? "")  \(what)")
                if let reason = r.reason { print("         [\(r.stage ?? "")] \(reason)") }
                print("         \(r.library ?? r.manifest)")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a plugin the way a host uses it; each check runs in a fresh child process.",
            discussion: "Exit status 0 only if every check passes.")

        @Argument(help: "Path to the plugin's .so (its manifest must sit beside it).") var library: String
        @Option(help: "A model file for lifecycle and reference-prompt checks (decoders).") var model: String?
        @Flag(help: "Print JSON.") var json = false
        @Option(help: .hidden) var check: String?

        func run() throws {
            let path = URL(fileURLWithPath: library).standardizedFileURL.path
            if let check {
                // Child side: run one check in this fresh process and print its result as one JSON line.
                let result = PluginVerifier.runCheck(check, library: path, modelPath: model)
                let data = try JSONEncoder().encode(result)
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let results = PluginVerifier.verify(library: path, modelPath: model, executable: currentExecutable())
            let passed = results.allSatisfy(\.passed)
            if json {
                try printJSON(VerifyReport(library: path, passed: passed, checks: results))
            } else {
                for r in results { print("\(r.passed ? "PASS" : "FAIL") \(r.name): \(r.detail)") }
                print(passed ? "\(path): all \(results.count) checks passed" : "\(path): \(results.filter { !$0.passed }.count) of \(results.count) checks failed")
            }
            if !passed { throw ExitCode(1) }
        }
    }

    struct VerifyReport: Encodable {
        let library: String
        let passed: Bool
        let checks: [PluginVerifier.CheckResult]
    }
}

struct AnyEncodable: Encodable {
    let encodeValue: (Encoder) throws -> Void
    init<T: Encodable>(_ value: T) { encodeValue = value.encode }
    func encode(to encoder: Encoder) throws { try encodeValue(encoder) }
}
