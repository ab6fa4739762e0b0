import Foundation
import ModelFormats
import XCTest

final class FileBytesTests: XCTestCase {
    func testReadsRegularFilesProcFilesAndRefusesTheRest() throws {
        let folder = NSTemporaryDirectory() + "/modelhost-filebytes-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let big = [UInt8]((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        FileManager.default.createFile(atPath: folder + "/big", contents: Data(big))
        FileManager.default.createFile(atPath: folder + "/empty", contents: Data())
        XCTAssertEqual(FileBytes.read(folder + "/big"), big)
        XCTAssertEqual(FileBytes.read(folder + "/empty"), [])
        XCTAssertNil(FileBytes.read(folder + "/big", maxBytes: 1000), "over the limit")
        XCTAssertNil(FileBytes.read(folder), "a directory")
        XCTAssertNil(FileBytes.read(folder + "/missing"))
        // /proc files report size 0 but have content.
        let status = try XCTUnwrap(FileBytes.read("/proc/self/status"))
        XCTAssertTrue(String(decoding: status, as: UTF8.self).contains("VmRSS"))
    }

    /// The reason FileBytes exists: Foundation's `contents(atPath:)` leaked ~4 KiB per read of an empty file (found by
    /// the model-folder fuzz target through the catalog). 100,000 reads must not grow the process by 400 MB.
    func testReadingEmptyFilesDoesNotLeak() throws {
        let path = NSTemporaryDirectory() + "/modelhost-filebytes-empty-\(getpid())"
        FileManager.default.createFile(atPath: path, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: path) }
        func residentKiB() -> Int {
            let text = String(decoding: FileBytes.read("/proc/self/status") ?? [], as: UTF8.self)
            let line = text.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        let before = residentKiB()
        for _ in 0..<100_000 { XCTAssertEqual(FileBytes.read(path)?.count, 0) }
        XCTAssertLessThan(residentKiB() - before, 50_000, "RSS grew by more than 50 MB over 100,000 reads")
    }
}
