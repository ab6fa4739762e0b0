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

extension ELFCheck {
    /// Names of the global, defined symbols in the library's dynamic symbol table: what the library exports and could
    /// interpose on other libraries' symbols. Reads the section headers of a 64-bit little-endian ELF file.
    static func exportedSymbols(path: String) throws(PluginRejection) -> [String] {
        func fail(_ m: String) -> PluginRejection { PluginRejection(.elf, path: path, m) }
        guard let fileHandle = fopen(path, "rb") else { throw fail("cannot open the library") }
        defer { fclose(fileHandle) }
        fseek(fileHandle, 0, SEEK_END)
        let size = ftell(fileHandle)
        guard size > 64, size < 1 << 31 else { throw fail("library size \(size) is out of range") }
        fseek(fileHandle, 0, SEEK_SET)
        var bytes = [UInt8](repeating: 0, count: size)
        guard bytes.withUnsafeMutableBytes({ fread($0.baseAddress, 1, size, fileHandle) }) == size else {
            throw fail("cannot read the library")
        }
        func u16(_ o: Int) -> Int { o + 2 <= bytes.count ? Int(bytes[o]) | Int(bytes[o + 1]) << 8 : 0 }
        func u32(_ o: Int) -> Int { o + 4 <= bytes.count ? u16(o) | u16(o + 2) << 16 : 0 }
        func u64(_ o: Int) -> Int { o + 8 <= bytes.count ? u32(o) | u32(o + 4) << 32 : 0 }
        let shoff = u64(0x28), shentsize = u16(0x3A), shnum = u16(0x3C)
        guard shoff > 0, shentsize >= 64, shoff + shnum * shentsize <= bytes.count else {
            throw fail("ELF section headers are missing or out of bounds")
        }
        var names: [String] = []
        for i in 0..<shnum {
            let sh = shoff + i * shentsize
            guard u32(sh + 4) == 11 else { continue }            // SHT_DYNSYM
            let offset = u64(sh + 0x18), length = u64(sh + 0x20), link = u32(sh + 0x28), entsize = max(u64(sh + 0x38), 24)
            let strSh = shoff + link * shentsize
            guard link < shnum, offset + length <= bytes.count else { throw fail("dynamic symbol table out of bounds") }
            let strOffset = u64(strSh + 0x18), strLength = u64(strSh + 0x20)
            guard strOffset + strLength <= bytes.count else { throw fail("dynamic string table out of bounds") }
            for s in stride(from: offset, to: offset + length - entsize + 1, by: entsize) {
                let nameIndex = u32(s), info = Int(bytes[s + 4]), shndx = u16(s + 6)
                let binding = info >> 4
                guard shndx != 0, binding == 1 || binding == 2, nameIndex < strLength else { continue } // GLOBAL/WEAK, defined
                var end = strOffset + nameIndex
                while end < strOffset + strLength, bytes[end] != 0 { end += 1 }
                names.append(String(decoding: bytes[(strOffset + nameIndex)..<end], as: UTF8.self))
            }
        }
        return names
    }
}
