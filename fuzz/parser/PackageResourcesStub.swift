// SwiftPM generates PackageResources for FinchLang's embedded stdlib; the harness is built by swiftc alone,
// so it gets empty modules (the parser under test does not read them).
enum PackageResources {
    static let stats_fin: [UInt8] = []
    static let styles_fin: [UInt8] = []
    static let text_fin: [UInt8] = []
}
