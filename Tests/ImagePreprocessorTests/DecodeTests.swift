import ModelHostABI
import XCTest

/// Every supported format and flavour decodes to the same "quadrants" scene (scripts/fixtures/vision_images.py):
/// top-left red, top-right green, bottom-left blue, bottom-right yellow, in display orientation.
final class DecodeTests: XCTestCase {
    static let red = [220, 30, 30], green = [30, 200, 60], blue = [40, 60, 210], yellow = [240, 220, 40]

    /// 16x16 raw output of a 48x32 picture: quadrant centres at (4, 4), (12, 4), (4, 12), (12, 12) lie three output
    /// pixels or more from every colour edge, beyond the Lanczos-3 support, so they keep the flat colour.
    func assertQuadrants(_ name: String, expected: [[Int]] = [red, green, blue, yellow], tolerance: Int = 0,
                         file: StaticString = #filePath, line: UInt = #line) throws {
        let pp = try ConfiguredPreprocessor(imageSize: 16)
        let out = try pp.process(try PreprocessorHarness.fixture(name))
        XCTAssertEqual(out.shape, [1, 3, 16, 16], name, file: file, line: line)
        XCTAssertEqual([out.tileRows, out.tileCols, out.imageCount], [1, 1, 1], name, file: file, line: line)
        for (i, (x, y)) in [(4, 4), (12, 4), (4, 12), (12, 12)].enumerated() {
            let got = out.rgb(x: x, y: y)
            let worst = zip(got, expected[i]).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, tolerance, "\(name) quadrant \(i): \(got) vs \(expected[i])", file: file, line: line)
        }
    }

    func testPNGFlavours() throws {
        try assertQuadrants("png_rgb.png")
        try assertQuadrants("png_palette.png")
        let gray = [[87, 87, 87], [133, 133, 133], [71, 71, 71], [205, 205, 205]]   // ITU-R 601 luma of the colours
        try assertQuadrants("png_gray.png", expected: gray)
        try assertQuadrants("png_gray16.png", expected: gray)
        // Alpha onto white: top-left transparent -> white; top-right green at alpha 128 -> (30,200,60)·128/255 + 255·127/255.
        try assertQuadrants("png_rgba.png", expected: [[255, 255, 255], [142, 227, 157], Self.blue, Self.yellow])
    }

    func testJPEGFlavours() throws {
        try assertQuadrants("jpeg_baseline.jpg", tolerance: 3)
        try assertQuadrants("jpeg_progressive.jpg", tolerance: 3)
        try assertQuadrants("jpeg_gray.jpg", expected: [[87, 87, 87], [133, 133, 133], [71, 71, 71], [205, 205, 205]], tolerance: 3)
        try assertQuadrants("jpeg_cmyk.jpg", tolerance: 4)     // Adobe inverted CMYK
        try assertQuadrants("jpeg_ycck.jpg", tolerance: 6)     // Adobe YCCK (transform 2)
    }

    func testWebPFlavours() throws {
        try assertQuadrants("webp_lossy.webp", tolerance: 4)
        try assertQuadrants("webp_lossless.webp", expected: [[255, 255, 255], [142, 227, 157], Self.blue, Self.yellow])
        try assertQuadrants("webp_animated.webp")               // the second frame is black: never shown
    }

    func testGIFFlavours() throws {
        try assertQuadrants("gif_static.gif")
        // First frame of an animation; its transparent index (the red quadrant) becomes white.
        try assertQuadrants("gif_animated.gif", expected: [[255, 255, 255], Self.green, Self.blue, Self.yellow])
    }

    func testEXIFOrientationIsApplied() throws {
        for o in 2...8 { try assertQuadrants("jpeg_exif\(o).jpg", tolerance: 3) }
        try assertQuadrants("png_exif6.png")
        try assertQuadrants("webp_exif8.webp")
    }

    func testInspectReadsTheHeaderInDisplayOrientation() throws {
        let pp = try ConfiguredPreprocessor(imageSize: 16)
        let cases: [(String, Int, String)] = [
            ("png_rgb.png", 3, "png"), ("png_rgba.png", 4, "png"), ("png_gray.png", 1, "png"),
            ("jpeg_baseline.jpg", 3, "jpeg"), ("jpeg_cmyk.jpg", 4, "jpeg"), ("jpeg_exif6.jpg", 3, "jpeg"),
            ("webp_lossy.webp", 3, "webp"), ("webp_lossless.webp", 4, "webp"), ("gif_animated.gif", 3, "gif"),
        ]
        for (name, channels, format) in cases {
            let info = try pp.inspect(try PreprocessorHarness.fixture(name))
            XCTAssertEqual(info.width, 48, name)   // jpeg_exif6 is stored 32x48
            XCTAssertEqual(info.height, 32, name)
            XCTAssertEqual(info.channels, channels, name)
            XCTAssertEqual(info.format, format, name)
        }
    }

    /// The auto-resize path on a JPEG uses libjpeg's DCT scaling (48x32 → 16x10 target decodes at 3/8 = 18x12) and
    /// still lands on the same colours.
    func testAutoResizeWithDCTScaling() throws {
        let pp = try ConfiguredPreprocessor(maxDimension: 16, imageSize: 16)
        let out = try pp.process(try PreprocessorHarness.fixture("jpeg_baseline.jpg"))
        XCTAssertLessThanOrEqual(zip(out.rgb(x: 3, y: 3), Self.red).map { abs($0 - $1) }.max()!, 6)
        XCTAssertLessThanOrEqual(zip(out.rgb(x: 13, y: 12), Self.yellow).map { abs($0 - $1) }.max()!, 6)
    }

    func testThePluginIsFoundThroughItsManifest() throws {
        let harness = try PreprocessorHarness.shared()
        XCTAssertEqual(harness.discovered.manifest?.id, "org.modelhost.image-preprocessor")
        XCTAssertEqual(harness.context.plugin.id, "org.modelhost.image-preprocessor")
        XCTAssertNil(harness.context.interface(MH_IID_TEXT_DECODER_V1))
        XCTAssertNil(harness.context.interface("mh.no-such-interface.v9"))
    }
}
