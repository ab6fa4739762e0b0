import Foundation
import ModelHostABI
import PluginHost
import XCTest

final class HostServicesTests: XCTestCase {
    func testAllocationIsAccountedAndBudgeted() {
        let host = HostServices(threads: 2, memoryBudgetBytes: 4096)
        let t = host.table.pointee
        let a = t.alloc(t.host_ctx, 3000, 64)
        XCTAssertNotNil(a)
        XCTAssertEqual(Int(bitPattern: a) % 64, 0)
        XCTAssertEqual(host.liveBytes, 3000)
        XCTAssertNil(t.alloc(t.host_ctx, 2000, 64), "over budget must return NULL")
        XCTAssertNil(t.alloc(t.host_ctx, 16, 3), "alignment must be a power of two")
        t.free(t.host_ctx, a)
        XCTAssertEqual(host.liveBytes, 0)
        XCTAssertEqual(host.peakBytes, 3000)
        XCTAssertNotNil(t.alloc(t.host_ctx, 2000, 16))
    }

    /// A freed KV-sized allocation goes back to the system at once, also when the same size was allocated and freed
    /// before (from malloc, glibc would then serve it from the heap, which keeps freed pages resident).
    func testFreedLargeAllocationsLeaveTheResidentSet() throws {
        let host = HostServices(threads: 1)
        let t = host.table.pointee
        let size = 24 << 20
        func residentBytes() throws -> Int {
            let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
            return Int(statm[1])! * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
        for round in 0..<3 {
            let before = try residentBytes()
            let p = try XCTUnwrap(t.alloc(t.host_ctx, UInt64(size), 64))
            memset(p, 1, size)
            XCTAssertGreaterThan(try residentBytes() - before, size / 2, "round \(round): the pages were touched")
            t.free(t.host_ctx, p)
            XCTAssertLessThan(try residentBytes() - before, size / 8, "round \(round): the pages went back")
        }
    }

    func testCancellationTokens() {
        let host = HostServices(threads: 1)
        let t = host.table.pointee
        XCTAssertEqual(t.is_cancelled(t.host_ctx, 7), 0)
        host.cancel(7)
        XCTAssertEqual(t.is_cancelled(t.host_ctx, 7), 1)
        XCTAssertEqual(t.is_cancelled(t.host_ctx, 0), 0, "token 0 is never cancelled")
        host.retire(7)
        XCTAssertEqual(t.is_cancelled(t.host_ctx, 7), 0)
    }

    func testTableDescribesTheHost() {
        let host = HostServices(threads: 3)
        XCTAssertEqual(host.table.pointee.abi_major, UInt16(MH_ABI_MAJOR))
        XCTAssertEqual(Int(host.table.pointee.struct_size), MemoryLayout<mh_host_v1>.size)
        XCTAssertEqual(host.table.pointee.hw.pointee.threads, 3)
        XCTAssertEqual(host.table.pointee.hw.pointee.cpu_features, CPUFeatureSet.host.rawValue)
    }

    func testLogReachesTheSink() {
        final class Box: @unchecked Sendable { var lines: [String] = [] }
        let box = Box()
        let host = HostServices(threads: 1, log: { level, message in box.lines.append("\(level):\(message)") })
        let t = host.table.pointee
        "hello".withCString { t.log(t.host_ctx, 2, $0) }
        XCTAssertEqual(box.lines, ["2:hello"])
    }
}
