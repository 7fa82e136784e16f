import Foundation
import FinchHub
import FinchLang
import FinchModels
import FinchSupport
import FinchTrain

/// A secret as Finch code sees it: prints masked, refuses to become a string; only the built-ins
/// that consume it (login, push) read the value.
public final class SecretHandle: FinchObject {
    let secret: Secret
    init(_ s: Secret) { secret = s }
    public var typeName: String { "Secret" }
    public var description: String { secret.description }
    public var attributeNames: [String] { ["name"] }
    public func getAttribute(_ name: String, _ ctx: CallContext) throws -> Value? {
        name == "name" ? .string(secret.name) : nil
    }
    public var fingerprint: String? { nil }
}

/// Registers a secret value everywhere output can go.
func protect(_ secret: Secret, _ ctx: CallContext) {
    secret.withValue { v in
        Redactor.shared.register(v)
        if !ctx.output.redactions.contains(v) { ctx.output.redactions.append(v) }
    }
}

func registerHubBindings(_ r: BuiltinRegistry) {
    // Every stored secret is masked in all output, even ones a notebook never reads.
    SecretStore.default().registerAllWithRedactor()
    OutputSink.globalRedactHook = { Redactor.shared.redact($0) }

    r.register("secret", params: [.positional("name"), .keyword("required", default: .bool(true))],
               doc: "A secret from Finch's store (finch secrets set NAME) or the environment; prints masked. required=false gives none when unset.",
               category: "hub") { args, ctx in
        try bridge {
            let s: Secret
            let required = try args.bool("required")
            do { s = try SecretStore.default().secret(named: try args.string("name")) } catch SecretError.missing(_, _) where !required {
                return .none
            }
            protect(s, ctx)
            return .object(SecretHandle(s))
        }
    }

    r.register("login", params: [.positional("token", default: .none)],
               doc: "Log in to the Hugging Face Hub: login(secret(\"HF_TOKEN\")), login() for HF_TOKEN / the stored token, or login(\"hf_…\") (works, but the token then sits in the notebook); prints the user.",
               category: "hub") { args, ctx in
        try bridge {
            let user: String
            if case .string(let typed) = args["token"] {
                // what huggingface_hub users try first: accepted, masked from here on, with a word on where it now lives
                let secret = Secret(name: "token", value: typed.trimmingCharacters(in: .whitespacesAndNewlines))
                if typed.utf8.count >= Redactor.minimumLength { protect(secret, ctx) }
                ctx.output.writeError("note: a token typed into a notebook is stored in it (and in your history); keep it out with `finch secrets set HF_TOKEN` and login(secret(\"HF_TOKEN\"))\n")
                user = try HubClient(token: secret).login(token: secret)
            } else if let h = try args.optionalObject("token", as: SecretHandle.self) {
                protect(h.secret, ctx)
                user = try HubClient(token: h.secret).login(token: h.secret)
            } else {
                user = try HubClient().loginWithExistingToken()
            }
            ctx.output.write("Logged in as \(user)\n")
            return ctx.shown(.string(user))   // the REPL does not echo it again
        }
    }

    r.register("push",
               params: [.positional("source"), .positional("repo"), .keyword("private", default: .bool(true)),
                        .keyword("message", default: .string("Upload with Finch")), .keyword("token", default: .none)],
               doc: "Upload a saved folder (or a model's adapter) to the Hub as repo \"user/name\"; returns the repo URL.",
               category: "hub") { args, ctx in
        try bridge {
            let token = try args.optionalObject("token", as: SecretHandle.self)
            if let token { protect(token.secret, ctx) }
            var folder: String
            var card: ModelCardInfo?
            switch args["source"] {
            case .string(let s): folder = ctx.resolvePath(s)
            case .object(let o as ModelValue):
                folder = FileManager.default.temporaryDirectory.appendingPathComponent("finch-push-\(getpid())").path
                try AdapterIO.save(o.model, to: folder)
                // the card is made for the repo (its id in the usage snippet), not for this temporary folder
                try? FileManager.default.removeItem(atPath: folder + "/README.md")
                card = ModelCardInfo(baseModel: o.model.name)
            default: throw FinchError("push(): source must be a folder path or a Model, got \(args["source"].typeName)")
            }
            if card == nil, let data = try? Data(contentsOf: URL(fileURLWithPath: folder).appendingPathComponent("adapter_config.json")),
               let cfg = try? JSON.parse(data, options: .lenient) {
                let summary: [(String, JSON)] = ["r", "lora_alpha", "lora_dropout", "use_rslora"].compactMap { k in
                    switch cfg[k] {
                    case let v? where v.doubleValue != nil || v.boolValue != nil: return (k, v)
                    default: return nil
                    }
                }
                card = ModelCardInfo(baseModel: cfg["base_model_name_or_path"]?.stringValue, summary: summary)
            }
            let client = HubClient(token: token?.secret)
            let result = try client.upload(folder: folder, repo: try args.string("repo"), private: try args.bool("private"),
                                           message: try args.string("message"), card: card)
            ctx.output.write("Pushed \(result.files.count) files to \(result.repoURL)\n")
            return ctx.shown(.string(result.repoURL))
        }
    }

    r.register("load_dataset",
               params: [.positional("source"), .positional("name", default: .none), .keyword("split", default: .string("train"))],
               doc: "Load a dataset: a Hub id (JSON/JSONL/CSV repos, with the card's configs), or a local .json/.jsonl/.csv file or folder. split=\"train[:500]\" slices.",
               category: "data") { args, ctx in
        try bridge {
            let source = try args.string("source"), local = ctx.resolveExistingPath(source)
            let table: DataTable
            do {
                table = try DatasetLoader(hub: HubClient()).load(source: local, name: try args.optionalString("name"), split: try args.string("split"))
            } catch DatasetError.fileNotFound(let p, _) where ctx.baseDirectory != nil {
                // a notebook's relative path was looked for in the notebook's folder: name that place
                throw FinchError("\(p): file not found (looked for \(ctx.displayPath(ctx.resolvePath(p)))); check the name, or give a Hub dataset id as \"org/name\"")
            } catch DatasetError.notFound(let s) where ctx.baseDirectory != nil {
                // Say where a relative path was looked for: the notebook's folder, not the working directory.
                throw FinchError("dataset \(s) not found: no file or folder \(ctx.displayPath(ctx.resolvePath(s))), and not a Hub dataset id")
            }
            let rows = table.rows.map { row in FinchDict(row.map { ($0.0, Value(json: $0.1)) }) }
            ctx.output.writeError("loaded \(rows.count) rows from \(ctx.displayPath(local)) (columns: \(table.columns.joined(separator: ", ")))\n")
            return .object(Dataset(rows: rows, name: source))
        }
    }
}
