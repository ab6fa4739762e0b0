import Foundation

/// Runs a program to completion, for tests that drive the real executables and tools.
public enum TestProcess {
    /// Runs `executable arguments…` (a path, or a name looked up on `PATH`); returns its exit status and its standard
    /// output and error together. `environment` replaces the inherited one when given.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil)
        throws -> (status: Int32, output: String)
    {
        let process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        if let environment { process.environment = environment }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}

/// Runs the committed Python scripts tests depend on (fixture builders, reference clients such as the `openai`
/// package): `python3` from `PATH`, which `scripts/test` starts with the checkout's `.venv` that `scripts/setup` fills.
public enum TestPython {
    /// Runs `python3 arguments…` to completion; returns its exit status and its standard output and error together.
    public static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try TestProcess.run("python3", arguments)
    }
}
