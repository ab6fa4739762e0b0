// swift-tools-version: 6.0
//
// ModelHost: an OpenAI-compatible LLM server whose model backends are dlopen'ed plugins.
//
// Dependency rules (see README.md, "Layout"):
//   - The SDK (its own package in SDK/: ModelHostABI, ModelHostSDK) imports nothing of ours.
//   - Plugins/* import only the SDK and kernel modules of their own.
//   - Nothing in Sources/ imports a plugin module: the host knows plugins only through the C ABI.
import PackageDescription

/// Flags for hot kernels that third parties never depend on. Without `-target-cpu`, Swift SIMD code calls `fmaf`
/// and runs many times slower; the plugin's manifest declares the matching CPU requirement (`x86_64-v3`).
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked"]),
    .unsafeFlags(["-target-cpu", "haswell"], .when(platforms: [.linux])),
]

/// Plugins export their ABI entry symbol and nothing else (see SDK/plugin-exports.map).
let pluginLinkerSettings: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "--version-script=\(Context.packageDirectory)/SDK/plugin-exports.map"],
                 .when(platforms: [.linux])),
]

/// The plugin SDK's products (SDK/Package.swift): the C ABI header, and the Swift layer plugins are written with.
let abiProduct: Target.Dependency = .product(name: "ModelHostABI", package: "SDK")
let sdkProduct: Target.Dependency = .product(name: "ModelHostSDK", package: "SDK")

let package = Package(
    name: "ModelHost",
    products: [
        .executable(name: "modelhost", targets: ["modelhost"]),
        .executable(name: "modelhost-worker", targets: ["modelhost-worker"]),
        // Plugins: one dynamic library each, built from Plugins/<Name>/.
        .library(name: "MHLlama", type: .dynamic, targets: ["LlamaDecoderPlugin"]),
        .library(name: "MHImagePreprocessor", type: .dynamic, targets: ["ImagePreprocessorPlugin"]),
        .library(name: "MHSigLIP", type: .dynamic, targets: ["SigLIPVisionPlugin"]),
        .library(name: "MHBert", type: .dynamic, targets: ["BertEncoderPlugin"]),
        // Test-only plugins written with the Swift SDK (never installed): one per kind the SDK helpers cover.
        .library(name: "MHTestPPM", type: .dynamic, targets: ["TestPPMPreprocessor"]),
        .library(name: "MHTestMeanPool", type: .dynamic, targets: ["TestMeanPoolEncoder"]),
    ],
    dependencies: [
        // The plugin SDK, a package of its own (SDK/Package.swift) so that third-party plugins depend on it alone.
        .package(path: "SDK"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Serving (Sources/HTTPServer): HTTP server, Prometheus metrics, logging, service lifecycle, HTTP types.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        // Hummingbird's own transport, for the one channel handler that answers unparseable HTTP with JSON.
        .package(url: "https://github.com/apple/swift-nio", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
    ],
    targets: [
        // MARK: Host side.
        .target(name: "CSupport", path: "Sources/CSupport", linkerSettings: [.linkedLibrary("crypto")]),
        .target(name: "ModelFormats", path: "Sources/ModelFormats"),
        .target(
            name: "PluginHost",
            dependencies: [abiProduct, "CSupport", "ModelFormats"],
            path: "Sources/PluginHost"
        ),
        .target(name: "Tokenizer", dependencies: ["ModelFormats"], path: "Sources/Tokenizer"),
        // Throughput probe for scripts/bench/tokenizer_bench.py (prints MB/s beside HF tokenizers).
        .executableTarget(
            name: "tokenizer-bench", dependencies: ["Tokenizer", "ModelFormats"], path: "Sources/tokenizer-bench"
        ),
        .target(name: "ChatTemplate", path: "Sources/ChatTemplate"),
        .target(name: "IPC", dependencies: ["CSupport"], path: "Sources/IPC"),
        // The transport beside a Unix-socket baseline (the benchmark and its socket framing live only here).
        .executableTarget(name: "ipc-bench", dependencies: ["IPC", "CSupport"], path: "Sources/ipc-bench"),
        .target(name: "ProcessRegistry", dependencies: ["CSupport"], path: "Sources/ProcessRegistry"),
        // The frames both sides of the rings share; sampling knobs travel as the sampler's own parameters.
        .target(name: "WorkerProtocol", dependencies: ["Sampling"], path: "Sources/WorkerProtocol"),
        // Engine core: token sampler, logprobs and stop strings (no dependencies; the worker's decode loop uses it).
        // Always optimised: it runs once per token on 49,152 logits, and unoptimised SIMD code is ~100x slower.
        .target(name: "Sampling", path: "Sources/Sampling", swiftSettings: [.unsafeFlags(["-O"])]),
        // Engine core: prompts (chat template + tokenizer), text output with stop strings, the prefix cache.
        .target(
            name: "EngineCore",
            dependencies: ["ChatTemplate", "Tokenizer", "ModelFormats", "WorkerProtocol", "Sampling", "StructuredOutput"],
            path: "Sources/EngineCore"
        ),
        .target(
            name: "Supervisor", dependencies: ["IPC", "ProcessRegistry", "WorkerProtocol", "CSupport"],
            path: "Sources/Supervisor"
        ),
        // What the command-line front ends share (input lines, early signals, the running executable).
        .target(name: "CommandLineSupport", path: "Sources/CommandLineSupport"),
        .executableTarget(
            name: "modelhost",
            dependencies: [
                "CommandLineSupport", "PluginHost", "ModelFormats", "Tokenizer", "ChatTemplate",
                "Supervisor", "WorkerProtocol", "IPC", "ProcessRegistry",
                "HTTPServer", "ServerConfig", "ModelCatalog", "EngineCore", "WorkerBackend", "Sampling", "Presets",
                "ModelPull",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/modelhost"
        ),
        .executableTarget(
            name: "modelhost-worker",
            dependencies: [
                "PluginHost", "ModelFormats", "CSupport", "IPC", "WorkerProtocol", "EngineCore", "Sampling",
                "StructuredOutput", "Tokenizer",
            ],
            path: "Sources/modelhost-worker"
        ),

        // MARK: Serving: configuration, model catalog, and the OpenAI/admin HTTP layer (behind InferenceBackend).
        .target(name: "ServerConfig", dependencies: ["Sampling", "WorkerProtocol"], path: "Sources/ServerConfig"),
        // Remote image URLs (off by default): address checks in Swift, the HTTP(S) GET through Debian's libcurl.
        .target(name: "ImageFetchC", path: "Sources/ImageFetchC", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "ImageFetch", dependencies: ["ImageFetchC"], path: "Sources/ImageFetch"),
        .target(name: "ModelCatalog", dependencies: ["ModelFormats", "Sampling"], path: "Sources/ModelCatalog"),
        // `modelhost pull`: models from a Hugging Face-compatible hub into the cache the catalog reads.
        .target(name: "ModelPull", dependencies: [
            "ModelCatalog", "CSupport", .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ], path: "Sources/ModelPull"),
        // Model presets: names, aliases and per-model settings from one YAML file.
        .target(name: "Presets", dependencies: ["Sampling", "WorkerProtocol", .product(name: "Yams", package: "Yams")],
                path: "Sources/Presets"),
        .target(
            name: "HTTPServer",
            dependencies: [
                "ServerConfig", "ModelCatalog", "ImageFetch", "Sampling", "WorkerProtocol", "StructuredOutput",
                "ModelPull",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Sources/HTTPServer",
            // The browser chat page, compiled into the binary (an installed server has no resource folder to lose).
            resources: [.embedInCode("Resources/chat.html")]
        ),
        // The InferenceBackend of `modelhost serve`: HTTP-level requests run in supervised worker processes.
        .target(
            name: "WorkerBackend",
            dependencies: ["HTTPServer", "ModelCatalog", "Supervisor", "WorkerProtocol", "Sampling", "Presets", "ModelPull"],
            path: "Sources/WorkerBackend"
        ),

        // MARK: Plugins.
        .target(name: "LlamaKernelsC", path: "Plugins/Llama/KernelsC"),
        .target(
            name: "LlamaKernels", dependencies: ["LlamaKernelsC", "KernelThreads"], path: "Plugins/Llama/Kernels",
            swiftSettings: kernelFlags
        ),
        // GGUF file → WeightSource, for llama-bench and the kernel tests only (the plugin uses the host's service).
        .target(name: "LlamaGGUFSource", dependencies: ["LlamaKernels", "ModelFormats"], path: "Plugins/Llama/GGUFSource"),
        .executableTarget(
            name: "llama-bench", dependencies: ["LlamaKernels", "LlamaGGUFSource", "ModelFormats"],
            path: "Plugins/Llama/Bench",
            swiftSettings: kernelFlags
        ),
        .target(
            name: "LlamaDecoderPlugin",
            dependencies: [sdkProduct, "LlamaKernels"],
            path: "Plugins/Llama/Decoder",
            swiftSettings: kernelFlags,
            linkerSettings: pluginLinkerSettings
        ),

        // Image preprocessor: the codec libraries and the Lanczos resize in C (libjpeg's and libpng's errors longjmp, so
        // they stay in C), the pipeline and the ABI glue in Swift. Baseline ISA: the manifest requires no CPU features.
        .target(
            name: "ImagePreprocessorCodecs", path: "Plugins/ImagePreprocessor/Codecs",
            cSettings: [.unsafeFlags(["-O3"], .when(configuration: .release))],
            linkerSettings: [
                .linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("webp"), .linkedLibrary("webpdemux"),
                .linkedLibrary("gif"), .linkedLibrary("m"),
            ]
        ),
        .target(
            name: "ImagePreprocessorPlugin", dependencies: [sdkProduct, "ImagePreprocessorCodecs"],
            path: "Plugins/ImagePreprocessor/Plugin",
            linkerSettings: pluginLinkerSettings
        ),

        // Vision encoder: SigLIP + the Idefics3 connector (SmolVLM), Float32 kernels built for AVX2+FMA (manifest:
        // x86_64-v3).
        .target(
            name: "SigLIPVisionPlugin", dependencies: [sdkProduct, "TransformerKernels"], path: "Plugins/SigLIP/Plugin",
            swiftSettings: kernelFlags, linkerSettings: pluginLinkerSettings
        ),

        // The persistent, spinning thread pool every plugin's parallel regions run on (Llama, SigLIP, BERT).
        .target(name: "KernelThreads", path: "Plugins/Shared/KernelThreads", swiftSettings: kernelFlags),
        // The Float32 encoder kernels SigLIP and BERT share (packed GEMM, LayerNorm, GELU, softmax); AVX2+FMA.
        .target(name: "TransformerKernels", dependencies: ["KernelThreads", "TransformerKernelsC"],
                path: "Plugins/Shared/TransformerKernels", swiftSettings: kernelFlags),
        // Its packed product in C: a prefetch of the next weights and AVX-512 code chosen at run time.
        .target(name: "TransformerKernelsC", path: "Plugins/Shared/TransformerKernelsC"),

        // Text encoder (ABI 1.2): BERT-family sentence embeddings (BERT, RoBERTa/XLM-R positions) from Hugging Face
        // folders (sentence-transformers pooling) and llama.cpp's GGUF `bert` files; AVX2+FMA (x86_64-v3).
        .target(
            name: "BertEncoderPlugin", dependencies: [sdkProduct, "TransformerKernels"], path: "Plugins/Bert/Plugin",
            swiftSettings: kernelFlags, linkerSettings: pluginLinkerSettings
        ),

        // MARK: Structured output: JSON-schema constrained decoding (token masks), and its cost probe.
        .target(name: "StructuredOutput", path: "Sources/StructuredOutput"),
        .executableTarget(
            name: "structured-bench", dependencies: ["StructuredOutput", "Tokenizer", "ModelFormats"],
            path: "Sources/structured-bench"
        ),

        // MARK: Fuzzing: the targets (parsers fed hostile bytes) and their driver, built by scripts/fuzz with libFuzzer;
        // the ordinary build replays files with it.
        .target(
            name: "FuzzTargets",
            dependencies: [
                "ModelFormats", "ModelCatalog", "Tokenizer", "ChatTemplate", "HTTPServer", "StructuredOutput",
                "WorkerProtocol", "IPC", "Sampling",
            ],
            path: "Tests/Fuzz/Targets"
        ),
        .executableTarget(name: "modelhost-fuzz", dependencies: ["FuzzTargets"], path: "Tests/Fuzz/Driver"),

        // MARK: Tests.
        // Scratch directories shared by the test targets, removed when the test process exits.
        .target(name: "TestScratch", path: "Tests/TestScratch"),
        .testTarget(
            name: "StructuredOutputTests", dependencies: ["StructuredOutput", "Tokenizer", "ModelFormats", "TestScratch"],
            path: "Tests/StructuredOutputTests", exclude: ["Fixtures"]
        ),
        .target(name: "TestPPMPreprocessor", dependencies: [sdkProduct], path: "Tests/SDKTestPlugins/PPMPreprocessor",
                linkerSettings: pluginLinkerSettings),
        .target(name: "TestMeanPoolEncoder", dependencies: [sdkProduct], path: "Tests/SDKTestPlugins/MeanPoolEncoder",
                linkerSettings: pluginLinkerSettings),
        .testTarget(
            name: "PluginHostTests",
            dependencies: ["PluginHost", "ModelFormats", abiProduct, "TestScratch"],
            path: "Tests/PluginHostTests",
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "CLITests", dependencies: ["modelhost"], path: "Tests/CLITests"),
        .testTarget(
            name: "ModelFormatsTests", dependencies: ["ModelFormats"], path: "Tests/ModelFormatsTests",
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "TokenizerTests", dependencies: ["Tokenizer", "ModelFormats", "TestScratch"], path: "Tests/TokenizerTests",
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "ChatTemplateTests", dependencies: ["ChatTemplate"], path: "Tests/ChatTemplateTests",
            exclude: ["Fixtures"]
        ),
        .executableTarget(name: "ipc-peer", dependencies: ["IPC"], path: "Tests/IPCPeer"),
        .testTarget(name: "IPCTests", dependencies: ["IPC", "ProcessRegistry", "ipc-peer"], path: "Tests/IPCTests"),
        // A real orchestrator process without the HTTP layer: the supervisor behind JSON lines on stdin/stdout, which
        // WorkerTests start, kill and restart (a test harness; not part of the product).
        .executableTarget(
            name: "modelhost-supervise",
            dependencies: [
                "CommandLineSupport", "Supervisor", "WorkerProtocol", "Sampling",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/SuperviseHarness"
        ),
        .testTarget(
            name: "WorkerTests",
            dependencies: [
                "Supervisor", "WorkerProtocol", "IPC", "ProcessRegistry", "PluginHost", "ModelFormats", "Sampling",
                "modelhost-worker", "modelhost-supervise", "TestScratch",
            ],
            path: "Tests/WorkerTests", exclude: ["Fixtures"]
        ),
        // `modelhost serve` end to end on the real model (starts the built executables; the OpenAI-client checks
        // need python3 with `openai` and `jsonschema`, which scripts/setup installs into .venv).
        .testTarget(name: "ServingTests", dependencies: ["modelhost", "TestScratch", "ModelFormats"], path: "Tests/ServingTests",
                    exclude: ["openai_client_checks.py", "openai_tools_checks.py", "openai_embeddings_checks.py", "chat_pty.py",
                             "anthropic_checks.py", "openai_responses_checks.py", "ollama_checks.py",
                             "chat_page_checks.py", "hub_server.py", "Fixtures"]),
        .testTarget(name: "EngineCoreTests", dependencies: ["EngineCore", "ModelFormats", "Tokenizer", "WorkerProtocol"],
                    path: "Tests/EngineCoreTests"),
        .testTarget(name: "ServerConfigTests", dependencies: ["ServerConfig", "Sampling"], path: "Tests/ServerConfigTests"),
        .testTarget(name: "PresetsTests", dependencies: ["Presets", "Sampling"], path: "Tests/PresetsTests"),
        .testTarget(name: "SamplingTests", dependencies: ["Sampling"], path: "Tests/SamplingTests"),
        .testTarget(
            name: "ModelCatalogTests", dependencies: ["ModelCatalog", "ModelFormats", "Sampling"], path: "Tests/ModelCatalogTests"
        ),
        .testTarget(
            name: "HTTPServerTests",
            dependencies: ["HTTPServer", "ServerConfig", "ModelCatalog", "Sampling", "WorkerProtocol", "WorkerBackend",
                           "ChatTemplate"],
            path: "Tests/HTTPServerTests"
        ),
        .testTarget(
            name: "ImagePreprocessorTests",
            dependencies: ["PluginHost", abiProduct, "ImagePreprocessorCodecs", "TestScratch"],
            path: "Tests/ImagePreprocessorTests", exclude: ["Fixtures"]
        ),
        .testTarget(name: "ImageFetchTests", dependencies: ["ImageFetch"], path: "Tests/ImageFetchTests"),
        .testTarget(
            name: "VisionEncoderTests", dependencies: ["PluginHost", abiProduct, "TestScratch"],
            path: "Tests/VisionEncoderTests"
        ),
        // Replays the committed fuzz corpora (every input that once crashed included) through the fuzz targets.
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FuzzTargets", "WorkerProtocol", "ModelFormats", "StructuredOutput", "Tokenizer"], path: "Tests/FuzzRegressionTests"),
        .testTarget(
            name: "TransformerKernelsTests", dependencies: ["TransformerKernels"], path: "Tests/TransformerKernelsTests"
        ),
        .testTarget(
            name: "LlamaKernelsTests", dependencies: ["LlamaKernels", "LlamaGGUFSource", "ModelFormats", "PluginHost", "TestScratch"],
            path: "Tests/LlamaKernelsTests",
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
