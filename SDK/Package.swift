// swift-tools-version: 6.0
//
// The plugin SDK as a package of its own: a third-party plugin depends on this folder (or the repository URL with
// this folder's path) and resolves nothing of the server's dependencies.
//
//   dependencies: [.package(path: "/path/to/modelhost/SDK")]
//   .target(name: "MyDecoder", dependencies: [.product(name: "ModelHostSDK", package: "SDK")])
//
// ModelHostABI is the C headers (include/modelhost/: modelhost_plugin.h includes them all) with a C file that compiles them; ModelHostSDK is
// the Swift layer over it. Neither uses unsafe flags, so a package that depends on them may too.
import PackageDescription

let package = Package(
    name: "ModelHostSDK",
    products: [
        .library(name: "ModelHostSDK", targets: ["ModelHostSDK"]),
        .library(name: "ModelHostABI", targets: ["ModelHostABI"]),
    ],
    targets: [
        .target(
            name: "ModelHostABI",
            path: ".",
            exclude: ["Swift", "examples", "README.md", "plugin-exports.map"],
            sources: ["src"],
            publicHeadersPath: "include"
        ),
        .target(name: "ModelHostSDK", dependencies: ["ModelHostABI"], path: "Swift"),
    ],
    swiftLanguageModes: [.v5]
)
