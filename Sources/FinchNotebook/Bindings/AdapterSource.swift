import Foundation
import FinchHub
import FinchLang
import FinchSupport

/// Where `load_adapter(model, path)` reads from: the folder `path` names (by the session's path rule)
/// when it exists; otherwise `path` is a Hub repo id ("org/name", as the model card of a pushed
/// adapter suggests) whose two PEFT files are fetched into the Hub cache.
func adapterFolder(_ given: String, revision: String, _ ctx: CallContext) throws -> String {
    let local = ctx.resolvePath(given)
    if FileManager.default.fileExists(atPath: local) { return local }
    guard looksLikeHubRepoId(given) else {
        throw FinchError("load_adapter(): \(ctx.displayPath(local)): no such adapter folder; give the folder save(model, \"…\") wrote, or a Hub repo id \"org/name\"")
    }
    return try HubClient().resolveAdapter(repo: given, revision: revision)
}
