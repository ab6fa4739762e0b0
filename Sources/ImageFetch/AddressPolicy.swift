#if canImport(Glibc)
import Glibc
#endif

/// One resolved address, as bytes (4 for IPv4, 16 for IPv6).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public var isIPv4: Bool { bytes.count == 4 }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var copy = bytes
        _ = inet_ntop(isIPv4 ? AF_INET : AF_INET6, &copy, &buffer, socklen_t(buffer.count))
        return String(cString: buffer)
    }

    /// Whether a server may connect to this address on a client's behalf: public unicast only. Loopback, private
    /// (RFC 1918, CGNAT, unique local), link-local (cloud metadata lives at 169.254.169.254), multicast, unspecified,
    /// documentation, benchmarking and reserved ranges are refused; IPv6 forms that embed an IPv4 address (mapped,
    /// NAT64, 6to4, Teredo, compatible) are judged by, or refused for, what they embed.
    public var isPublic: Bool {
        if isIPv4 { return Self.publicIPv4(bytes) }
        let b = bytes
        let zeros10 = b[0..<10].allSatisfy { $0 == 0 }
        if zeros10 && b[10] == 0xFF && b[11] == 0xFF { return Self.publicIPv4(Array(b[12..<16])) }   // ::ffff:a.b.c.d
        if b[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] {                        // 64:ff9b::/96
            return Self.publicIPv4(Array(b[12..<16]))
        }
        if b[0] & 0xE0 != 0x20 { return false }             // outside 2000::/3 global unicast: ::, ::1, fc00::/7, fe80::/10, ff00::/8…
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return false }   // 2001:db8::/32 documentation
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0 { return false }         // 2001::/32 Teredo
        if b[0] == 0x20 && b[1] == 0x02 { return false }                                    // 2002::/16 6to4
        return true
    }

    static func publicIPv4(_ a: [UInt8]) -> Bool {
        switch (a[0], a[1], a[2]) {
        case (0, _, _), (10, _, _), (127, _, _): return false            // this network, private, loopback
        case (100, 64...127, _): return false                             // CGNAT
        case (169, 254, _): return false                                  // link-local (cloud metadata)
        case (172, 16...31, _): return false                              // private
        case (192, 0, 0), (192, 0, 2): return false                       // IETF protocol assignments, TEST-NET-1
        case (192, 168, _): return false                                  // private
        case (198, 18...19, _): return false                              // benchmarking
        case (198, 51, 100), (203, 0, 113): return false                  // TEST-NET-2, TEST-NET-3
        case (224...255, _, _): return false                              // multicast, reserved, broadcast
        default: return true
        }
    }
}

/// Every address `host` resolves to (getaddrinfo, both families). Blocking.
public func resolveAddresses(_ host: String) -> [IPAddress] {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var list: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
    defer { freeaddrinfo(list) }
    var addresses: [IPAddress] = []
    var node = list
    while let info = node?.pointee {
        if info.ai_family == AF_INET, let sa = info.ai_addr {
            let address = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            addresses.append(IPAddress(bytes: withUnsafeBytes(of: address) { Array($0) }))
        } else if info.ai_family == AF_INET6, let sa = info.ai_addr {
            let address = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            addresses.append(IPAddress(bytes: withUnsafeBytes(of: address) { Array($0) }))
        }
        node = info.ai_next
    }
    var seen = Set<IPAddress>()
    return addresses.filter { seen.insert($0).inserted }
}
