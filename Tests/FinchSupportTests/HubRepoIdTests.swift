import Testing
import FinchSupport

/// The one rule by which a missing local name is taken for a Hub repo id.
@Test func repoIdsAreOrgSlashNameAndNothingPathLike() {
    for id in ["HuggingFaceTB/SmolLM2-135M-Instruct", "alice/tiny-lora"] { #expect(looksLikeHubRepoId(id), "\(id)") }
    for path in ["model.gguf", "./org/name", "../org/name", "/abs/path", "~/adapters", "a/b/c", "org//name", "outputs/lora/"] {
        #expect(!looksLikeHubRepoId(path), "\(path)")
    }
}
