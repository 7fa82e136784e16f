import Foundation
import FinchLang

/// Registers every built-in binding of the other modules (model, hub, training…). Each binding file in
/// FinchNotebook adds one line here, e.g. `registerModelBindings(registry)`.
public func registerBindings(_ registry: BuiltinRegistry) {
    registerModelBindings(registry)     // load_model tokenize detokenize template chat generate logprobs
    registerPromptStyleBinding(registry) // prompt_style
    registerTrainBindings(registry)     // lora load_adapter train save track plot
    registerHubBindings(registry)       // secret login push load_dataset
    documentBindingParameters(registry) // help(name) explains every parameter of the above
}

/// A registry with the language's built-ins and every binding.
public func makeRegistry() -> BuiltinRegistry {
    let r = BuiltinRegistry.standard()
    registerBindings(r)
    return r
}

/// What built-ins running inside a notebook (or the REPL) can reach: the memo cache, where `plot`
/// writes images, and the transcript's image list. Get it with `NotebookContext.of(ctx)`.
public final class NotebookContext: @unchecked Sendable {
    public var memo: MemoCache?
    /// `nb.out/` beside the notebook; created on first use.
    public var imageDirectory: URL?
    /// Images written during the current cell (paths relative to the transcript), linked from it.
    public var cellImages: [String] = []
    public var currentCell: String?

    public init(memo: MemoCache? = nil, imageDirectory: URL? = nil) {
        self.memo = memo
        self.imageDirectory = imageDirectory
    }

    static let key = "finch.notebook"

    public static func of(_ ctx: CallContext) -> NotebookContext? { ctx.userInfo[key] as? NotebookContext }

    public func install(in interp: Interpreter) { interp.userInfo[NotebookContext.key] = self }

    /// Reserves a file for an image of the current cell and records it for the transcript.
    public func newImagePath(extension ext: String = "png") throws -> URL {
        guard let dir = imageDirectory else { throw FinchError("images need a notebook (finch run) to be written beside") }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let name = "\(currentCell ?? "cell")-\(cellImages.count + 1).\(ext)"
        cellImages.append(dir.lastPathComponent + "/" + name)
        return dir.appendingPathComponent(name)
    }
}

/// Whether to use ANSI colour on a stream: only on a terminal and never with NO_COLOR set.
public func useColor(fd: Int32) -> Bool {
    if let v = ProcessInfo.processInfo.environment["NO_COLOR"], !v.isEmpty { return false }
    if ProcessInfo.processInfo.environment["TERM"] == "dumb" { return false }
    return isatty(fd) != 0
}
