import Foundation
import ModelHostABI
import PluginHost
import TestScratch
import XCTest

/// Loads the built image preprocessor plugin the way a worker does: the .so and its real manifest are staged into a
/// temporary plugin directory, discovered (manifest and ELF checks), dlopen'ed by PluginLoader and initialized once
/// per test process (init is once-per-process by contract).
final class PreprocessorHarness: @unchecked Sendable {
    static let library = "libMHImagePreprocessor.so"
    static let manifestName = "image-preprocessor.plugin.json"
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    let discovered: DiscoveredPlugin
    let context: PluginContext
    let table: mh_image_preprocessor_v1

    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: Result<PreprocessorHarness, Error>?

    /// The process-wide instance; the first call stages, loads and initializes the plugin.
    static func shared() throws -> PreprocessorHarness {
        lock.lock()
        defer { lock.unlock() }
        if loaded == nil { loaded = Result { try PreprocessorHarness() } }
        return try loaded!.get()
    }

    /// Where `swift build` put the library: the test runner sits in the products directory (or a bundle inside it).
    static func builtLibrary() throws -> URL {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent(library)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw NSError(domain: "PreprocessorHarness", code: 1, userInfo: [NSLocalizedDescriptionKey:
            "\(library) was not built next to the test runner: run `swift build --product MHImagePreprocessor` (or scripts/build) first"])
    }

    private init() throws {
        let staging = try TestScratch.directory("mh-imagepp")
        try FileManager.default.copyItem(at: try Self.builtLibrary(), to: staging.appendingPathComponent(Self.library))
        let manifest = Self.repoRoot.appendingPathComponent("Plugins/ImagePreprocessor").appendingPathComponent(Self.manifestName)
        try FileManager.default.copyItem(at: manifest, to: staging.appendingPathComponent(Self.manifestName))
        discovered = PluginDiscovery.inspect(manifestPath: staging.appendingPathComponent(Self.manifestName).path)
        if let rejection = discovered.rejection { throw rejection }
        let plugin = try PluginLoader.load(discovered, host: HostServices(threads: 1))
        context = try plugin.initialize()
        guard let t = context.interface(MH_IID_IMAGE_PREPROCESSOR_V1) else {
            throw NSError(domain: "PreprocessorHarness", code: 2, userInfo: [NSLocalizedDescriptionKey:
                "the plugin does not expose \(MH_IID_IMAGE_PREPROCESSOR_V1)"])
        }
        table = t.assumingMemoryBound(to: mh_image_preprocessor_v1.self).pointee
    }

    static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }
}

/// What one `process` call returned: the tensor copied out, the layout, or the error.
struct Processed {
    var shape: [Int64]
    var values: [Float]
    var tileRows: Int
    var tileCols: Int
    var imageCount: Int

    /// Channel `c` of image `n` at (x, y).
    func value(image n: Int = 0, channel c: Int, x: Int, y: Int) -> Float {
        let side = Int(shape[3])
        return values[((n * 3 + c) * side + y) * side + x]
    }

    func rgb(image n: Int = 0, x: Int, y: Int) -> [Int] {
        (0..<3).map { Int(value(image: n, channel: $0, x: x, y: y).rounded()) }
    }
}

struct CallFailure: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    var description: String { "code \(code): \(message)" }
}

/// One configured preprocessor object (create/destroy around it).
final class ConfiguredPreprocessor {
    let harness: PreprocessorHarness
    let handle: OpaquePointer

    /// Raw values by default (mean 0, std 1, rescale 1), so outputs are the 8-bit pixels before normalization.
    init(maxDimension: UInt32 = 0, imageSize: UInt32, maxTiles: UInt32 = 0, mean: (Float, Float, Float) = (0, 0, 0),
         std: (Float, Float, Float) = (1, 1, 1), rescale: Float = 1, maxPixels: UInt64 = 50_000_000) throws {
        harness = try PreprocessorHarness.shared()
        var config = mh_preprocess_config()
        config.struct_size = UInt32(MemoryLayout<mh_preprocess_config>.size)
        config.max_dimension = maxDimension
        config.image_size = imageSize
        config.max_tiles = maxTiles
        config.image_mean = mean
        config.image_std = std
        config.rescale = rescale
        config.max_pixels = maxPixels
        var status = Self.status()
        var out: OpaquePointer?
        let rc = harness.table.create(harness.context.raw, &config, &out, &status)
        guard rc == 0, let out else { throw CallFailure(code: rc, message: Self.text(&status)) }
        handle = out
    }

    deinit { harness.table.destroy(handle) }

    static func status() -> mh_status {
        var s = mh_status()
        mh_status_init(&s)
        return s
    }

    static func text(_ status: inout mh_status) -> String {
        withUnsafeBytes(of: &status.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    func inspect(_ bytes: [UInt8]) throws -> (width: Int, height: Int, channels: Int, format: String) {
        var info = mh_image_info()
        info.struct_size = UInt32(MemoryLayout<mh_image_info>.size)
        var status = Self.status()
        let rc = harness.table.inspect(handle, bytes, UInt64(bytes.count), &info, &status)
        guard rc == 0 else { throw CallFailure(code: rc, message: Self.text(&status)) }
        let format = withUnsafeBytes(of: &info.format) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return (Int(info.width), Int(info.height), Int(info.channels), format)
    }

    func process(_ bytes: [UInt8]) throws -> Processed {
        var status = Self.status()
        var pixels: OpaquePointer?
        let rc = harness.table.process(handle, bytes, UInt64(bytes.count), &pixels, &status)
        guard rc == 0, let pixels else { throw CallFailure(code: rc, message: Self.text(&status)) }
        defer { harness.table.pixels_release(pixels) }
        var tensor = mh_tensor()
        tensor.struct_size = UInt32(MemoryLayout<mh_tensor>.size)
        var layout = mh_pixels_info()
        layout.struct_size = UInt32(MemoryLayout<mh_pixels_info>.size)
        let vr = harness.table.pixels_view(pixels, &tensor, &layout, &status)
        guard vr == 0 else { throw CallFailure(code: vr, message: Self.text(&status)) }
        let shape = [tensor.shape.0, tensor.shape.1, tensor.shape.2, tensor.shape.3]
        let count = Int(tensor.nbytes) / 4
        let values = Array(UnsafeBufferPointer(start: tensor.data.assumingMemoryBound(to: Float.self), count: count))
        return Processed(shape: shape, values: values, tileRows: Int(layout.tile_rows), tileCols: Int(layout.tile_cols),
                         imageCount: Int(layout.n_images))
    }

    /// The failure of a call that must fail.
    func failure(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> CallFailure? {
        do {
            _ = try process(bytes)
            XCTFail("process accepted an image it must refuse", file: file, line: line)
            return nil
        } catch let f as CallFailure {
            return f
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
            return nil
        }
    }
}
