import Foundation
import XCTest

/// The ABI header is the contract: it must compile cleanly as C11 and C++17 under strict warnings, and its layout
/// fences (static asserts inside it) must hold.
final class HeaderTests: XCTestCase {
    func compile(_ compiler: String, _ flags: [String], source: String, ext: String) throws -> TestSupport.ProcessResult {
        let dir = try TestSupport.temporaryDirectory()
        let file = dir.appendingPathComponent("check.\(ext)")
        try source.write(to: file, atomically: true, encoding: .utf8)
        guard let cc = TestSupport.which(compiler) else { throw TestSupport.missingTool(compiler) }
        return try TestSupport.run(cc, flags + ["-Wall", "-Wextra", "-Werror", "-pedantic", "-I", TestSupport.sdkInclude,
                                                "-fsyntax-only", file.path])
    }

    let program = """
    #include "modelhost/modelhost_plugin.h"
    int main(void) {
        mh_status st;
        mh_status_init(&st);
        mh_status_set(&st, MH_ERR_INVALID_ARG, "value %d", 3);
        mh_tensor t;
        t.struct_size = sizeof t;
        (void)t;
        return (int)mh_dtype_block_bytes(MH_DTYPE_Q4_1) - 20 + (st.code == MH_ERR_INVALID_ARG ? 0 : 1);
    }
    """

    func testCompilesAsStrictC11() throws {
        let r = try compile("cc", ["-std=c11", "-x", "c"], source: program, ext: "c")
        XCTAssertEqual(r.status, 0, r.error)
    }

    func testCompilesAsStrictCxx17() throws {
        let r = try compile("c++", ["-std=c++17", "-x", "c++"], source: program,
                            ext: "cpp")
        XCTAssertEqual(r.status, 0, r.error)
    }

    /// Each part of the split header compiles on its own (a plugin may include only the common header and its kind's),
    /// and the umbrella header still gives everything, so plugins written before the split build unchanged.
    func testEachHeaderCompilesAlone() throws {
        for header in ["modelhost_common.h", "modelhost_text_decoder.h", "modelhost_vision_encoder.h",
                       "modelhost_image_preprocessor.h", "modelhost_plugin.h"] {
            for (compiler, flags, ext) in [("cc", ["-std=c11", "-x", "c"], "c"), ("c++", ["-std=c++17", "-x", "c++"], "cpp")] {
                let r = try compile(compiler, flags, source: "#include \"modelhost/\(header)\"\nint main(void) { return 0; }\n",
                                    ext: ext)
                XCTAssertEqual(r.status, 0, "\(header) as \(ext): \(r.error)")
            }
        }
    }

    /// `mh_copy_out` writes a struct into a smaller, older one only as far as that one's struct_size reaches, and
    /// records what it wrote; into a larger one it writes all of it.
    func testCopyOutStopsAtTheDestinationsSize() throws {
        let source = """
        #include "modelhost/modelhost_plugin.h"
        int main(void) {
            unsigned char small[24];
            memset(small, 0xAB, sizeof small);
            uint32_t size = 16;
            memcpy(small, &size, 4);
            mh_tensor t;
            memset(&t, 0x11, sizeof t);
            t.struct_size = sizeof t;
            mh_copy_out(small, &t, sizeof t);
            uint32_t written;
            memcpy(&written, small, 4);
            if (written != 16 || small[4] != 0x11 || small[15] != 0x11 || small[16] != 0xAB) return 1;
            mh_tensor big;
            memset(&big, 0, sizeof big);
            big.struct_size = sizeof big;
            mh_copy_out(&big, &t, sizeof t);
            return big.struct_size == sizeof t && memcmp((char *)&big + 4, (char *)&t + 4, sizeof t - 4) == 0 ? 0 : 2;
        }
        """
        let dir = try TestSupport.temporaryDirectory()
        let file = dir.appendingPathComponent("copy.c"), binary = dir.appendingPathComponent("copy")
        try source.write(to: file, atomically: true, encoding: .utf8)
        let cc = try TestSupport.run(TestSupport.which("cc")!, ["-std=c11", "-Wall", "-Wextra", "-Werror", "-I",
                                                                TestSupport.sdkInclude, "-o", binary.path, file.path])
        XCTAssertEqual(cc.status, 0, cc.error)
        XCTAssertEqual(try TestSupport.run(binary.path, []).status, 0)
    }

    func testLayoutFenceCatchesAChangedStruct() throws {
        // Prove the fences bite: the same header with a field inserted into mh_tensor must fail to compile.
        let header = try String(contentsOfFile: TestSupport.sdkInclude + "/modelhost/modelhost_common.h", encoding: .utf8)
        let broken = header.replacingOccurrences(of: "    uint32_t flags;                     /* enum mh_tensor_flags */",
                                                 with: "    uint32_t flags;\n    uint32_t inserted_field;")
        XCTAssertNotEqual(broken, header, "the test's anchor line is gone from the header")
        let dir = try TestSupport.temporaryDirectory()
        try FileManager.default.copyItem(at: URL(fileURLWithPath: TestSupport.sdkInclude + "/modelhost"),
                                         to: dir.appendingPathComponent("modelhost"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("modelhost/modelhost_common.h"))
        try broken.write(to: dir.appendingPathComponent("modelhost/modelhost_common.h"), atomically: true, encoding: .utf8)
        let file = dir.appendingPathComponent("check.c")
        try program.write(to: file, atomically: true, encoding: .utf8)
        let r = try TestSupport.run(TestSupport.which("cc")!, ["-std=c11", "-I", dir.path, "-fsyntax-only", file.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.error.contains("mh_tensor 1.0 layout"), r.error)
    }
}
