/// Whether a name that is not a local path reads as a Hub repo id ("org/name"): the one rule by which
/// `load_model` and `load_adapter` decide to ask the Hub (HubClient.validateRepoId then checks the
/// characters).
public func looksLikeHubRepoId(_ name: String) -> Bool {
    name.split(separator: "/", omittingEmptySubsequences: false).count == 2
        && !name.hasPrefix(".") && !name.hasPrefix("/") && !name.hasPrefix("~")
}
