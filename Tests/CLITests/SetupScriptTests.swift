import Foundation
import XCTest

/// `scripts/setup` on a machine that lacks Debian packages, run by a user who cannot install them: one line naming
/// exactly what to install, exit 1, nothing installed. (As root it would install them with apt, so the test runs it
/// as `nobody` when it is root.) The machine is played by a PATH holding only the few tools the script needs
/// before it decides: no compiler, no python3, no curl.
final class SetupScriptTests: XCTestCase {
    func testWithoutRootSetupNamesTheMissingPackagesInOneLine() throws {
        let root = EngineToolsTests.root
        let bin = FileManager.default.temporaryDirectory.appendingPathComponent("mh-setup-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin.path)
        defer { try? FileManager.default.removeItem(at: bin) }
        for tool in ["bash", "dirname", "id", "dpkg-query", "grep", "cat", "rm"] {
            guard let path = ["/usr/bin/\(tool)", "/bin/\(tool)"].first(where: FileManager.default.isExecutableFile) else {
                throw XCTSkip("\(tool) is not installed here")
            }
            try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent(tool).path,
                                                       withDestinationPath: path)
        }
        // A copy of the scripts in a world-readable place: `nobody` may not be able to read the checkout itself.
        let scripts = bin.appendingPathComponent("checkout/scripts")
        try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
        for name in ["setup", "lib.sh"] {
            try FileManager.default.copyItem(at: root.appendingPathComponent("scripts/\(name)"),
                                             to: scripts.appendingPathComponent(name))
        }
        for directory in [bin.appendingPathComponent("checkout"), scripts] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        }
        let script = scripts.appendingPathComponent("setup").path
        let process = Process()
        let command = [bin.appendingPathComponent("bash").path, script]
        if getuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/env", "-i",
                                 "PATH=\(bin.path)", "HOME=/tmp"] + command
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["-i", "PATH=\(bin.path)", "HOME=/tmp"] + command
        }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 1, text)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, text)
        let line = String(lines.first ?? "")
        XCTAssertTrue(line.hasPrefix("error: missing Debian packages; install them with: sudo apt-get install "), line)
        for package in ["build-essential", "python3", "curl"] {
            XCTAssertTrue(line.split(separator: " ").contains(Substring(package)), "\(package) missing from: \(line)")
        }
    }
}
