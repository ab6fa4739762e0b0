#if canImport(Glibc)
import Glibc
#endif

/// Reads a library's ELF header before it is handed to the dynamic loader, so that a library for another machine
/// or word size gets a clear message instead of dlopen's "wrong ELF class" or "invalid ELF header".
enum ELFCheck {
    static let machineX86_64: UInt16 = 62
    static let machineAArch64: UInt16 = 183

    static func machineName(_ m: UInt16) -> String {
        switch m {
        case 3: return "x86 (32-bit)"
        case 40: return "ARM (32-bit)"
        case machineX86_64: return "x86_64"
        case machineAArch64: return "aarch64"
        case 243: return "RISC-V"
        default: return "machine \(m)"
        }
    }

    static var hostMachine: UInt16 {
        #if arch(x86_64)
        return machineX86_64
        #elseif arch(arm64)
        return machineAArch64
        #else
        return 0
        #endif
    }

    /// Throws a rejection unless `path` is a 64-bit little-endian ELF shared object for this machine.
    static func verify(path: String) throws(PluginRejection) {
        func fail(_ m: String) -> PluginRejection { PluginRejection(.elf, path: path, m) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw fail("cannot open the library: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 64)
        let n = header.withUnsafeMutableBytes { read(fd, $0.baseAddress, 64) }
        guard n == 64, header[0] == 0x7F, header[1] == 0x45, header[2] == 0x4C, header[3] == 0x46 else {
            throw fail("not an ELF shared library (bad magic); rebuild the plugin as a .so for Linux")
        }
        guard header[4] == 2 else {
            throw fail("32-bit ELF library; ModelHost loads 64-bit plugins only")
        }
        guard header[5] == 1 else { throw fail("big-endian ELF library; this machine is little-endian") }
        let type = UInt16(header[16]) | UInt16(header[17]) << 8
        guard type == 3 else { throw fail("ELF file is not a shared object (e_type \(type)); link it with -shared") }
        let machine = UInt16(header[18]) | UInt16(header[19]) << 8
        guard machine == hostMachine else {
            throw fail("library is built for \(machineName(machine)), this machine is \(machineName(hostMachine))")
        }
    }
}
