import Foundation
import LlamaGGUFSource
import LlamaKernels
import ModelFormats
import TestScratch
import XCTest

/// A model with one tensor in a type the kernels do not run (Q3_K, and IQ4_XS, which the ABI cannot describe) is
/// refused with one line naming the tensor, its type and the types the plugin
/// runs; it used to be reported as a missing tensor.
final class UnsupportedTypeTests: XCTestCase {
    /// The default model with `tensor` rewritten as `type` (zero blocks of the right size: loading fails first).
    static func rewrite(_ tensor: String, as type: GGMLType, into directory: URL) throws -> String {
        let file = try GGUFFile(path: try TestModel.path())
        var writer = try GGUFWriter()
        for key in file.metadataKeys { try writer.set(key, file.metadata[key]!) }
        for info in file.tensors {
            if info.name == tensor {
                let elements = info.dimensions.reduce(1, *)
                try writer.addTensor(name: info.name, type: type, dimensions: info.dimensions,
                                     bytes: [UInt8](repeating: 0, count: elements / type.blockElements * type.blockBytes))
            } else {
                try writer.addTensor(name: info.name, type: info.type, dimensions: info.dimensions,
                                     bytes: [UInt8](file.data(for: info)))
            }
        }
        let path = directory.appendingPathComponent("unsupported-\(type.name).gguf").path
        try writer.write(to: path)
        return path
    }

    func testAnUnsupportedTensorTypeIsNamedNotReportedMissing() throws {
        let directory = try TestScratch.directory("unsupported-type")
        // ffn_down's rows (1,536) are whole Q5_K super-blocks of 256.
        let path = try Self.rewrite("blk.0.ffn_down.weight", as: .q3_K, into: directory)
        let source = try GGUFWeightSource(path: path)
        XCTAssertThrowsError(try LlamaModel(source: source, config: LlamaConfig(from: source), threads: 1)) { error in
            XCTAssertEqual(error as? LlamaModelError,
                           .unusableTensor(tensor: "blk.0.ffn_down.weight", reason: "it is stored as Q3_K"))
            XCTAssertEqual("\(error)", "tensor 'blk.0.ffn_down.weight' cannot be used: it is stored as Q3_K; this plugin "
                           + "runs F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_NL")
        }
    }

    /// Through the real plugin in a worker (`modelhost-worker --model`, the load check): one line, naming the
    /// tensor and its type, for a type the ABI describes (Q3_K) and for one it cannot (IQ4_XS).
    func testTheWorkersLoadCheckSaysSoInOneLine() throws {
        let directory = try TestScratch.directory("unsupported-type-worker")
        var bin = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: bin.appendingPathComponent("modelhost-worker").path), bin.path != "/" {
            bin = bin.deletingLastPathComponent()
        }
        for (type, expected) in [(GGMLType.q3_K, "it is stored as Q3_K"), (.iq4_xs, "IQ4_XS")] {
            let path = try Self.rewrite("blk.0.ffn_down.weight", as: type, into: directory)
            let (status, text) = try TestProcess.run(bin.appendingPathComponent("modelhost-worker").path, ["--model", path])
            XCTAssertNotEqual(status, 0, text)
            let failure = text.split(separator: "\n").filter { $0.contains("blk.0.ffn_down.weight") }
            print("load check: \(failure.first ?? "")")
            XCTAssertEqual(failure.count, 1, text)
            XCTAssertTrue(failure.first?.contains(expected) ?? false, text)
            XCTAssertTrue(failure.first?.contains("this plugin runs F32") ?? false, text)
            XCTAssertFalse(text.contains("lacks the tensor"), text)
        }
    }
}
