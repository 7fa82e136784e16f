// swift-tools-version:6.0
// Finch: a notebook-style scripting REPL for adapting language models.
//
// Targets and their one-way dependencies (an arrow means "imports"):
//
//   finch (CLI) ──> FinchNotebook ──> FinchLang            (language: no ML imports)
//                        │  ├──────> FinchTrain ──> FinchModels ──> FinchTensor ──> CBLAS, CFinchKernels
//                        │  ├──────> FinchHub ──> CCurl, Crypto
//                        │  └──────> FinchCUDA ──> FinchTensor   (libcuda/NVRTC/cuBLAS via dlopen)
//                        └─────────> CEdit
//   finch ──> FinchBench ──> FinchTrain, FinchCUDA
//   finch-testhub ──> FinchTestHub                      (local Hugging Face Hub test server)
//   FinchTensor, FinchModels, FinchTrain, FinchHub, FinchCUDA, FinchLang, FinchNotebook ──> FinchSupport
//     (the one atomic file/folder writer, the one JSON, byte/duration formatters, progress line)
import PackageDescription

let release: BuildSettingCondition = .when(configuration: .release)

let package = Package(
    name: "Finch",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "finch", targets: ["finch"]),
        .executable(name: "finch-testhub", targets: ["finch-testhub"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // System libraries. Each shim header fails with the apt package to install when absent.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CEdit", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Small C kernels Swift cannot express well (AVX2 int8 dot products), each beside a scalar reference.
        .target(
            name: "CFinchKernels",
            cSettings: [.unsafeFlags(["-O3"])]
        ),

        // Below every Swift target: the atomic file/folder writer and its fault hook, the one JSON, the formatters, the progress line.
        .target(name: "FinchSupport"),
        .target(
            name: "FinchTensor",
            dependencies: ["CBLAS", "CFinchKernels", "FinchSupport"],
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"], release)]
        ),
        .target(
            name: "FinchModels",
            dependencies: ["FinchTensor", "FinchSupport"],
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"], release)]
        ),
        .target(name: "FinchTrain", dependencies: ["FinchModels", "FinchSupport"]),
        // The CUDA backend: libcuda, NVRTC and cuBLAS are opened at run time (no CUDA at build time).
        // Its CUDA C kernels live in Kernels/*.cu, embedded into the binary as bytes (nothing to ship beside it).
        // CFinchKernels: the NCCL unique id's C type (NCCL.swift).
        .target(
            name: "FinchCUDA",
            dependencies: ["FinchTensor", "CFinchKernels", "FinchSupport"],
            resources: [.embedInCode("Kernels")]
        ),
        .target(name: "FinchHub", dependencies: ["CCurl", "FinchSupport", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "FinchTestHub", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // stdlib/*.fin travel inside the binary (Sources/FinchLang/stdlib links to the repository's stdlib/).
        .target(name: "FinchLang", dependencies: ["FinchSupport"], resources: [.embedInCode("stdlib")]),
        .target(name: "FinchNotebook", dependencies: ["FinchLang", "FinchModels", "FinchTrain", "FinchHub", "FinchCUDA", "FinchSupport", "CEdit"]),
        .target(name: "FinchBench", dependencies: ["FinchTrain", "FinchCUDA", "FinchSupport", "CBLAS"]),
        .executableTarget(
            name: "finch",
            dependencies: ["FinchNotebook", "FinchBench", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(name: "finch-testhub", dependencies: ["FinchTestHub"]),

        .testTarget(name: "FinchSupportTests", dependencies: ["FinchSupport"]),
        .testTarget(name: "FinchTensorTests", dependencies: ["FinchTensor"]),
        .testTarget(name: "FinchModelsTests", dependencies: ["FinchModels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "FinchTrainTests", dependencies: ["FinchTrain"]),
        .testTarget(name: "FinchCUDATests", dependencies: ["FinchBench", "FinchCUDA"]),
        .testTarget(name: "FinchBenchTests", dependencies: ["FinchBench"]),
        .testTarget(name: "FinchHubTests", dependencies: ["FinchHub", "FinchTestHub"]),
        .testTarget(name: "FinchLangTests", dependencies: ["FinchLang"]),
        .testTarget(name: "FinchNotebookTests", dependencies: ["FinchNotebook", "FinchTestHub"]),
    ],
    swiftLanguageModes: [.v5]
)
