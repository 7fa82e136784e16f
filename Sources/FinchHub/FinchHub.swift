// FinchHub: everything Finch does with the outside world: secrets, Hugging Face Hub login, download
// and upload, datasets, experiment tracking. The language's built-ins and the CLI call these:
//
//   secret("NAME")           SecretStore.default().secret(named:) -> Secret
//   finch secrets set|list|rm SecretsCLI.set(name:readFrom:) / .list() / .remove(name:)
//   :secret NAME (REPL)      SecretsCLI.set(name:readFrom:)
//   output, transcripts, history, errors → Redactor.shared.redact(_:) / StreamingRedactor
//   login(token)             HubClient(token:).login(token:) -> user name ("Logged in as NAME")
//   login()                  HubClient().loginWithExistingToken()
//   finch login              HubCLI.login(readFrom:) -> "Logged in as NAME"
//   load_model("org/name")   HubClient().resolveModel(repo:revision:file:) -> snapshot folder or .gguf path
//                            HubClient().localSnapshot(repo:) -> cached folder or nil (no network)
//   hf_hub_download-like     HubClient().download(repo:type:revision:path:) -> file path in the cache
//   push(path, "user/name")  HubClient(token:).upload(folder:repo:private:message:card:) -> UploadResult
//   load_dataset(src, name, split) DatasetLoader(hub: HubClient()).load(source:name:split:) -> DataTable
//   track(project, run, config)    RunTracker(project:run:config:root:); .log(step:_:); .finish()
//   plot(result)             Chart.terminal(_:width:height:color:) / Chart.png(_:) / Chart.svg(_:title:)
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum HubCLI {
    /// `finch login`: reads a token without echo (or from a pipe), validates it with whoami-v2, stores
    /// it as huggingface-cli does; returns the line to print.
    public static func login(readFrom fd: Int32 = STDIN_FILENO, config: HubConfig = .fromEnvironment()) throws -> String {
        let raw = try SecretsCLI.readValue(prompt: "Hugging Face token (from \(config.endpoint)/settings/tokens; input hidden): ", from: fd)
        let user = try HubClient(config: config, progress: nil).login(token: Secret(name: "HF_TOKEN", value: raw))
        return "Logged in as \(user)"
    }
}
