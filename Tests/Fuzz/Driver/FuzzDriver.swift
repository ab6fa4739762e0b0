import Foundation
import FuzzTargets

/// `modelhost-fuzz TARGET [args…]`.
///
/// Built by `scripts/fuzz` with coverage and AddressSanitizer (`-DMODELHOST_LIBFUZZER`), it is a libFuzzer binary:
/// the arguments after the target name are libFuzzer's (corpus folders, `-max_total_time=…`). In the ordinary build
/// it replays files: `modelhost-fuzz TARGET FILE_OR_FOLDER…` runs each input once, which is how a crash that
/// `scripts/fuzz` saved is reproduced under a debugger. `modelhost-fuzz --list` names the targets.
///
/// The target can also come from `MODELHOST_FUZZ_TARGET`: libFuzzer re-runs its own command line for `-merge`
/// and `-fork`, which no longer holds the name.
@main
enum FuzzDriver {
    static func main() {
        var arguments = CommandLine.arguments
        if arguments.count > 1, arguments[1] == "--list" {
            // One line per target: name, libFuzzer's -max_len for it, what the input is (scripts/fuzz reads the first two).
            for target in FuzzTarget.all {
                print("\(target.name.padding(toLength: 15, withPad: " ", startingAt: 0)) \(target.maxLength)\t\(target.summary)")
            }
            return
        }
        if arguments.count > 2, arguments[1] == "--write-seeds" {
            // The wire targets' seeds, encoded by the real encoders (Tests/Fuzz/make_seeds.py writes the others).
            for (target, files) in WireSeeds.seeds() {
                let folder = "\(arguments[2])/\(target)"
                try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                for file in files { _ = FileManager.default.createFile(atPath: "\(folder)/\(file.name)", contents: Data(file.bytes)) }
                print("\(target): \(files.count) seeds in \(folder)")
            }
            return
        }
        if arguments.count > 1, FuzzTarget.named(arguments[1]) != nil {
            setenv("MODELHOST_FUZZ_TARGET", arguments[1], 1)
            arguments.remove(at: 1)
        }
        guard let name = ProcessInfo.processInfo.environment["MODELHOST_FUZZ_TARGET"],
              let target = FuzzTarget.named(name) else {
            let names = FuzzTarget.all.map(\.name).joined(separator: ", ")
            FileHandle.standardError.write(Data("usage: modelhost-fuzz TARGET [inputs or libFuzzer flags]; targets: \(names)\n".utf8))
            exit(2)
        }
        selected = target
        #if MODELHOST_LIBFUZZER
        exit(runLibFuzzer(arguments))
        #else
        exit(replay(target, paths: Array(arguments.dropFirst())))
        #endif
    }

    /// Runs every file named (folders: every file inside, sorted) through `target` once.
    static func replay(_ target: FuzzTarget, paths: [String]) -> Int32 {
        var files: [String] = []
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("error: no such file or folder '\(path)'\n".utf8))
                return 2
            }
            if isFolder.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { "\(path)/\($0)" }
            } else {
                files.append(path)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            target.run([UInt8](data))
        }
        print("\(target.name): \(files.count) inputs ran")
        return 0
    }
}

nonisolated(unsafe) private var selected: FuzzTarget?

#if MODELHOST_LIBFUZZER
/// libFuzzer's entry for programs that keep their own `main` (from `libclang_rt.fuzzer_no_main`).
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

private func runLibFuzzer(_ arguments: [String]) -> Int32 {
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    var argc = CInt(arguments.count)
    return argv.withUnsafeMutableBufferPointer { buffer in
        var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
        return LLVMFuzzerRunDriver(&argc, &pointer) { data, size in
            let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
            selected!.run(input)
            return 0
        }
    }
}
#endif
