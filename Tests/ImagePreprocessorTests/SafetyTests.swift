import Foundation
import ModelHostABI
import XCTest

/// Corrupt data and decompression bombs end in MH_ERR_BAD_INPUT with one line of text, in bounded time and memory.
final class SafetyTests: XCTestCase {
    static let badInput = MH_ERR_BAD_INPUT.rawValue

    func assertRefused(_ pp: ConfiguredPreprocessor, _ bytes: [UInt8], mentioning words: [String] = [], _ label: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        guard let failure = pp.failure(bytes, file: file, line: line) else { return }
        XCTAssertEqual(failure.code, Self.badInput, "\(label): \(failure)", file: file, line: line)
        XCTAssertFalse(failure.message.isEmpty, label, file: file, line: line)
        XCTAssertFalse(failure.message.contains("\n"), "\(label): the message must be one line", file: file, line: line)
        for word in words {
            XCTAssertTrue(failure.message.contains(word), "\(label): '\(failure.message)' lacks '\(word)'", file: file, line: line)
        }
    }

    func testCorruptImagesAreCleanErrors() throws {
        let pp = try ConfiguredPreprocessor(imageSize: 16)
        for name in ["jpeg_baseline.jpg", "jpeg_progressive.jpg", "png_rgb.png", "webp_lossy.webp", "webp_lossless.webp",
                     "gif_static.gif"] {
            let bytes = try PreprocessorHarness.fixture(name)
            assertRefused(pp, Array(bytes.prefix(bytes.count / 2)), "\(name) cut in half")
            assertRefused(pp, Array(bytes.prefix(20)), "\(name) cut to 20 bytes")
        }
        var png = try PreprocessorHarness.fixture("png_rgb.png")
        png[png.count - 20] ^= 0xFF       // inside the IDAT data: bad CRC / zlib stream
        assertRefused(pp, png, mentioning: ["PNG"], "PNG with a damaged IDAT")
        assertRefused(pp, Array("not an image at all".utf8), mentioning: ["unsupported image format"], "text")
        assertRefused(pp, [0x42, 0x4D, 0, 0, 0, 0], mentioning: ["PNG, JPEG, WebP or GIF"], "BMP")
    }

    /// A real PNG header (signature, IHDR with a valid CRC, one tiny IDAT) claiming 100,000 x 100,000 pixels.
    static func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return be(UInt32(data.count)) + body + be(crc32(body))
        }
        let ihdr = be(width) + be(height) + [8, 2, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr)
            + chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + chunk("IEND", [])
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~crc
    }

    static func maxRSSKiB() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }

    func testAHundredThousandSquaredPNGHeaderIsRefusedFast() throws {
        let pp = try ConfiguredPreprocessor(imageSize: 16)
        let bomb = Self.pngHeader(width: 100_000, height: 100_000)
        let info = try pp.inspect(bomb)
        XCTAssertEqual([info.width, info.height], [100_000, 100_000])
        let rssBefore = Self.maxRSSKiB()
        let clock = ContinuousClock()
        var failure: CallFailure?
        let elapsed = clock.measure { failure = pp.failure(bomb) }
        XCTAssertLessThan(elapsed, .milliseconds(100), "refusal took \(elapsed)")
        XCTAssertEqual(failure?.code, Self.badInput)
        XCTAssertTrue(failure?.message.contains("100000x100000") ?? false, failure?.message ?? "")
        // 10^10 pixels would be 30 GB of RGB: the peak resident size must not move by more than noise.
        XCTAssertLessThan(Self.maxRSSKiB() - rssBefore, 16 * 1024, "peak RSS grew while refusing the bomb")
    }

    func testImagesOverFiftyMegapixelsAreRefusedBeforeDecoding() throws {
        let pp = try ConfiguredPreprocessor(imageSize: 16, maxPixels: 50_000_000)
        assertRefused(pp, Self.pngHeader(width: 8000, height: 7000), mentioning: ["8000x7000", "exceeds"], "56 MP PNG")
        // A real JPEG whose SOF0 claims 10000x6000: patch the frame header's height and width.
        var jpeg = try PreprocessorHarness.fixture("jpeg_baseline.jpg")
        let sof = try XCTUnwrap((0..<jpeg.count - 9).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg[sof + 5] = UInt8(6000 >> 8); jpeg[sof + 6] = UInt8(6000 & 0xFF)
        jpeg[sof + 7] = UInt8(10000 >> 8); jpeg[sof + 8] = UInt8(10000 & 0xFF)
        assertRefused(pp, jpeg, mentioning: ["10000x6000"], "60 MP JPEG")
        // A GIF whose logical screen is 9000x6000.
        var gif = try PreprocessorHarness.fixture("gif_static.gif")
        gif[6] = UInt8(9000 & 0xFF); gif[7] = UInt8(9000 >> 8); gif[8] = UInt8(6000 & 0xFF); gif[9] = UInt8(6000 >> 8)
        assertRefused(pp, gif, mentioning: ["9000x6000"], "54 MP GIF")
    }
}
