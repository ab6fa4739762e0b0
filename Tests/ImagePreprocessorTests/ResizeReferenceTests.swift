import Foundation
import ImagePreprocessorCodecs
import XCTest

/// The Lanczos resize and the whole pipeline before normalization against the committed numpy reference
/// (scripts/fixtures/vision_resize_reference.py, float64): within ±1 per 8-bit value everywhere. Then normalization
/// and the Idefics3 tile layout.
final class ResizeReferenceTests: XCTestCase {
    struct Manifest: Decodable {
        struct Resize: Decodable { let width: Int, height: Int, file: String }
        struct Pipeline: Decodable {
            let max_dimension: UInt32, image_size: UInt32, max_tiles: UInt32
            let rows: Int, cols: Int, n_images: Int, file: String
        }
        let source: String
        let resize: [Resize]
        let pipeline: [Pipeline]
    }

    func manifest() throws -> Manifest {
        let data = try Data(contentsOf: PreprocessorHarness.fixtures.appendingPathComponent("resize_reference.json"))
        return try JSONDecoder().decode(Manifest.self, from: data)
    }

    func assertClose(_ got: [Int], _ want: [UInt8], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, label, file: file, line: line)
        guard got.count == want.count else { return }
        let worst = zip(got, want).map { abs($0 - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 1, "\(label): max difference \(worst)/255", file: file, line: line)
    }

    /// The C resize directly, from the decoded source PNG, for shrinking, enlarging and mixed shapes.
    func testLanczosMatchesTheNumpyReference() throws {
        let m = try manifest()
        let png = try PreprocessorHarness.fixture(m.source)
        var image = mhi_image()
        var error = mhi_error()
        XCTAssertEqual(mhi_decode(png, png.count, 0, 0, 0, &image, &error), Int32(MHI_OK))
        defer { mhi_image_free(&image) }
        XCTAssertEqual([image.width, image.height], [97, 61])
        XCTAssertGreaterThanOrEqual(m.resize.count, 5)
        for case_ in m.resize {
            var out = [UInt8](repeating: 0, count: case_.width * case_.height * 3)
            XCTAssertEqual(mhi_resize_lanczos3(image.rgb, image.width, image.height, &out, UInt32(case_.width),
                                               UInt32(case_.height)), Int32(MHI_OK))
            let want = try PreprocessorHarness.fixture(case_.file)
            assertClose(out.map(Int.init), want, case_.file)
        }
    }

    /// Through the plugin: auto-resize, Idefics3 resize, split and global image, raw values (mean 0, std 1, rescale 1).
    func testPipelineMatchesTheNumpyReference() throws {
        let m = try manifest()
        let png = try PreprocessorHarness.fixture(m.source)
        XCTAssertEqual(m.pipeline.count, 3)
        for case_ in m.pipeline {
            let pp = try ConfiguredPreprocessor(maxDimension: case_.max_dimension, imageSize: case_.image_size,
                                                maxTiles: case_.max_tiles)
            let out = try pp.process(png)
            let side = Int64(case_.image_size)
            XCTAssertEqual(out.shape, [Int64(case_.n_images), 3, side, side], case_.file)
            XCTAssertEqual([out.tileRows, out.tileCols, out.imageCount], [case_.rows, case_.cols, case_.n_images], case_.file)
            XCTAssertEqual(out.values.filter { $0 != $0.rounded() }.count, 0, "raw output must be whole 8-bit values")
            assertClose(out.values.map { Int($0) }, try PreprocessorHarness.fixture(case_.file), case_.file)
        }
    }

    /// (u8 · rescale − mean) / std per channel, checked against the raw output of the same image.
    func testNormalization() throws {
        let png = try PreprocessorHarness.fixture("resize_source.png")
        let raw = try ConfiguredPreprocessor(imageSize: 24).process(png)
        let mean: (Float, Float, Float) = (0.48145466, 0.4578275, 0.40821073)
        let std: (Float, Float, Float) = (0.26862954, 0.26130258, 0.27577711)
        let norm = try ConfiguredPreprocessor(imageSize: 24, mean: mean, std: std, rescale: 1.0 / 255).process(png)
        XCTAssertEqual(norm.shape, raw.shape)
        let means = [mean.0, mean.1, mean.2], stds = [std.0, std.1, std.2]
        var worst: Float = 0
        for c in 0..<3 {
            for y in 0..<24 {
                for x in 0..<24 {
                    let want = (raw.value(channel: c, x: x, y: y) / 255 - means[c]) / stds[c]
                    worst = max(worst, abs(norm.value(channel: c, x: x, y: y) - want))
                }
            }
        }
        XCTAssertLessThan(worst, 1e-5)
    }

    /// Idefics3 tile counts for a 48x32 picture and patch 16: longest edge n·16 with n = floor(sqrt(max_tiles)),
    /// the short side int(long / aspect) made even, then both rounded up to multiples of 16.
    func testIdefics3TileLayout() throws {
        let jpeg = try PreprocessorHarness.fixture("jpeg_baseline.jpg")
        // (max_tiles, rows, cols): 16 → 64x42 → 64x48 → 3x4 (+ global); 4 → 32x22 → 32x32 → 2x2 (+ global);
        // 1 → 16x10 → 16x16 → one image, no global; 0 → one squashed image.
        for (tiles, rows, cols, count) in [(16, 3, 4, 13), (4, 2, 2, 5), (1, 1, 1, 1), (0, 1, 1, 1)] {
            let out = try ConfiguredPreprocessor(imageSize: 16, maxTiles: UInt32(tiles)).process(jpeg)
            XCTAssertEqual([out.tileRows, out.tileCols, out.imageCount], [rows, cols, count], "max_tiles \(tiles)")
            XCTAssertEqual(out.shape, [Int64(count), 3, 16, 16], "max_tiles \(tiles)")
        }
        // Portrait: the EXIF-rotated file is the same landscape picture after orientation, so the same grid.
        let rotated = try ConfiguredPreprocessor(imageSize: 16, maxTiles: 16).process(try PreprocessorHarness.fixture("jpeg_exif6.jpg"))
        XCTAssertEqual([rotated.tileRows, rotated.tileCols], [3, 4])
        // The first tile is the top-left of the red quadrant, the global image's corners keep their colours.
        let tiled = try ConfiguredPreprocessor(imageSize: 16, maxTiles: 16).process(jpeg)
        XCTAssertLessThanOrEqual(zip(tiled.rgb(image: 0, x: 8, y: 8), DecodeTests.red).map { abs($0 - $1) }.max()!, 4)
        XCTAssertLessThanOrEqual(zip(tiled.rgb(image: 12, x: 12, y: 12), DecodeTests.yellow).map { abs($0 - $1) }.max()!, 4)
    }

    func testBadConfigurationsAreRefusedAtCreate() throws {
        XCTAssertThrowsError(try ConfiguredPreprocessor(imageSize: 0))
        XCTAssertThrowsError(try ConfiguredPreprocessor(imageSize: 16, std: (1, 0, 1)))
        XCTAssertThrowsError(try ConfiguredPreprocessor(imageSize: 16, rescale: 0))
    }
}
