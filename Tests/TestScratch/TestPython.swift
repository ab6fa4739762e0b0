import Foundation

/// Runs the committed Python scripts tests depend on (fixture builders, reference clients such as the `openai`
/// package): `python3` from `PATH`, as `.ci/run` installs its packages for.
public enum TestPython {
    /// Runs `python3 arguments…` to completion; returns its exit status and its standard output and error together.
    public static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}
