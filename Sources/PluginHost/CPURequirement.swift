import CSupport
import Foundation

/// CPU features by name, as the host detects them (CPUID + XGETBV, so only OS-enabled state counts).
public struct CPUFeatureSet: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Names accepted in manifests, with their bits.
    private static func bit<T: BinaryInteger>(_ value: T) -> CPUFeatureSet { CPUFeatureSet(rawValue: UInt64(value)) }

    public static let named: [(String, CPUFeatureSet)] = [
        ("sse4.2", bit(MHCPU_SSE42)),
        ("popcnt", bit(MHCPU_POPCNT)),
        ("avx", bit(MHCPU_AVX)),
        ("avx2", bit(MHCPU_AVX2)),
        ("fma", bit(MHCPU_FMA)),
        ("f16c", bit(MHCPU_F16C)),
        ("bmi2", bit(MHCPU_BMI2)),
        ("movbe", bit(MHCPU_MOVBE)),
        ("lzcnt", bit(MHCPU_LZCNT)),
        ("avx512f", bit(MHCPU_AVX512F)),
        ("avx512bw", bit(MHCPU_AVX512BW)),
        ("avx512vl", bit(MHCPU_AVX512VL)),
        ("avx512vnni", bit(MHCPU_AVX512VNNI)),
        ("avxvnni", bit(MHCPU_AVXVNNI)),
        ("neon", bit(MHCPU_NEON)),
    ]

    public static func named(_ name: String) -> CPUFeatureSet? {
        let key = name.lowercased() == "sse42" ? "sse4.2" : name.lowercased()
        return named.first { $0.0 == key }?.1
    }

    public var names: [String] { Self.named.filter { contains($0.1) }.map(\.0) }

    /// What this machine offers. The environment variable `MODELHOST_TEST_CPU_FEATURES` (a comma-separated list of
    /// names, possibly empty) replaces the detected set; tests use it to play a CPU without AVX2.
    public static var host: CPUFeatureSet {
        if let override = ProcessInfoLite.environment("MODELHOST_TEST_CPU_FEATURES") {
            return override.split(separator: ",").reduce(into: CPUFeatureSet()) { set, name in
                if let f = named(String(name).trimmingCharacters(in: .whitespaces)) { set.insert(f) }
            }
        }
        return CPUFeatureSet(rawValue: mh_cpu_features())
    }
}

/// A manifest's CPU requirement: an x86-64 level and/or a list of features.
public struct CPURequirement: Sendable, Equatable {
    public let architecture: String?
    public let features: CPUFeatureSet

    public struct Invalid: Error { public let message: String }

    /// x86-64 micro-architecture levels, reduced to the features the host can check.
    static func levelFeatures(_ level: String) -> CPUFeatureSet? {
        switch level.lowercased() {
        case "x86_64", "x86_64-v1", "x86-64", "x86-64-v1": return []
        case "x86_64-v2", "x86-64-v2": return [.named("sse4.2")!, .named("popcnt")!]
        case "x86_64-v3", "x86-64-v3":
            return levelFeatures("x86_64-v2")!.union(["avx", "avx2", "fma", "f16c", "bmi2", "movbe", "lzcnt"]
                .reduce(into: CPUFeatureSet()) { $0.insert(.named($1)!) })
        case "x86_64-v4", "x86-64-v4":
            return levelFeatures("x86_64-v3")!.union(["avx512f", "avx512bw", "avx512vl"]
                .reduce(into: CPUFeatureSet()) { $0.insert(.named($1)!) })
        case "aarch64", "arm64": return []
        default: return nil
        }
    }

    public init(level: String?, features: [String]) throws(Invalid) {
        var set = CPUFeatureSet()
        if let level {
            guard let f = Self.levelFeatures(level) else {
                throw Invalid(message: "unknown CPU level '\(level)' (use x86_64-v1..v4 or aarch64)")
            }
            set.formUnion(f)
            architecture = level.lowercased().hasPrefix("x86") ? "x86_64" : "aarch64"
        } else {
            architecture = nil
        }
        for name in features {
            guard let f = CPUFeatureSet.named(name) else {
                throw Invalid(message: "unknown CPU feature '\(name)' (known: \(CPUFeatureSet.named.map(\.0).joined(separator: ", ")))")
            }
            set.insert(f)
        }
        self.features = set
    }

    /// nil if this machine satisfies the requirement, else the reason it does not.
    public func unmetReason(on host: CPUFeatureSet = .host) -> String? {
        #if arch(x86_64)
        let machine = "x86_64"
        #elseif arch(arm64)
        let machine = "aarch64"
        #else
        let machine = "unknown"
        #endif
        if let architecture, architecture != machine {
            return "needs an \(architecture) CPU, this machine is \(machine)"
        }
        let missing = features.subtracting(host)
        guard missing.isEmpty else {
            return "needs CPU features this machine lacks: \(missing.names.joined(separator: ", ")); install a build of this plugin for your CPU (for example one without x86_64-v3 kernels)"
        }
        return nil
    }
}
