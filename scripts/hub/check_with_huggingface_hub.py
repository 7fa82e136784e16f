#!/usr/bin/env python3
"""Outside CI: the official huggingface_hub client against finch-testhub.

Starts finch-testhub on a free port over a temp folder of repos, then with HF_ENDPOINT
pointing at it runs hf_hub_download (regular and LFS files), snapshot_download, HfApi.whoami,
HfApi.create_repo, HfApi.upload_folder (regular + LFS-sized file) and re-downloads the upload
byte for byte. Also checks that Finch's cache layout is what Python expects: it runs the Swift test
that downloads with Finch into FINCH_HUB_INTEROP_CACHE and then asks huggingface_hub (offline) for
those files.
HF_HUB_DISABLE_XET=1 is set: huggingface_hub 2.x uploads through Xet storage whenever hf_xet is
installed (no negotiation with the server), and finch-testhub speaks only the LFS protocol.
Also checks that the server is as strict as the Hub where Finch's error paths depend on it: private
repos (huggingface_hub >= 1 sends "visibility") refuse reads without a token, an unknown token is a
401 even for public files, and a README.md upload passes /api/validate-yaml.
Usage: swift build --product finch-testhub && /work/venv-hub/bin/python scripts/hub/check_with_huggingface_hub.py [PATH/finch-testhub]
The binary: the argument, else $FINCH_TESTHUB, else the newest of .build/{debug,release}/finch-testhub.
"""
import hashlib, os, shutil, socket, subprocess, sys, tempfile, time

repo_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def find_binary():
    if len(sys.argv) > 1:
        return sys.argv[1]
    if os.environ.get("FINCH_TESTHUB"):
        return os.environ["FINCH_TESTHUB"]
    found = [p for c in ("debug", "release") for p in [os.path.join(repo_dir, ".build", c, "finch-testhub")] if os.path.exists(p)]
    if not found:
        sys.exit("finch-testhub not found: run `swift build --product finch-testhub`, or pass its path "
                 "(check_with_huggingface_hub.py PATH) or set FINCH_TESTHUB")
    return max(found, key=os.path.getmtime)

binary = find_binary()
if not os.access(binary, os.X_OK):
    sys.exit(f"{binary} is not an executable finch-testhub")
work = tempfile.mkdtemp(prefix="finch-hf-check-")
root = os.path.join(work, "root")
TOKEN, USER = "hf_checktoken_0123456789", "checker"

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

model = os.path.join(root, "models", "org", "tiny")
weights = os.urandom(1_300_000)
write(os.path.join(model, "config.json"), '{"model_type": "llama"}')
write(os.path.join(model, "tokenizer.json"), '{"version": "1.0"}')
write(os.path.join(model, "model.safetensors"), weights)
write(os.path.join(model, "sub", "nested.txt"), "nested\n")

with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
server = subprocess.Popen([binary, "--port", str(port), "--root", root, "--token", f"{TOKEN}={USER}",
                           "--multipart", "3000000:1000000"], stdout=subprocess.PIPE, text=True)
print(server.stdout.readline().strip())
endpoint = f"http://127.0.0.1:{port}"
os.environ.update(HF_ENDPOINT=endpoint, HF_HOME=os.path.join(work, "hf"), HF_HUB_DISABLE_TELEMETRY="1",
                  HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_XET="1")
os.environ.pop("HF_TOKEN", None)

results = []
def check(name, fn):
    try:
        detail = fn()
        results.append((name, True, detail)); print(f"PASS {name}: {detail}")
    except Exception as e:  # report and go on: the summary lists every outcome
        results.append((name, False, repr(e))); print(f"FAIL {name}: {e!r}")

try:
    import huggingface_hub
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download
    print("huggingface_hub", huggingface_hub.__version__)
    api = HfApi(endpoint=endpoint, token=TOKEN)

    def dl_regular():
        p = hf_hub_download("org/tiny", "config.json")
        assert open(p).read() == '{"model_type": "llama"}'
        assert os.path.islink(p) and os.readlink(p).startswith("../../blobs/"), os.readlink(p)
        return p.split("/hub/")[1]
    check("hf_hub_download regular file", dl_regular)

    def dl_lfs():
        p = hf_hub_download("org/tiny", "model.safetensors")
        assert open(p, "rb").read() == weights
        blob = os.path.basename(os.readlink(p))
        assert blob == hashlib.sha256(weights).hexdigest(), blob
        return f"blob {blob[:12]}… ({len(weights)} bytes)"
    check("hf_hub_download LFS file (302 to /cdn)", dl_lfs)

    def snap():
        folder = snapshot_download("org/tiny")
        files = sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)
        assert files == ["config.json", "model.safetensors", "sub/nested.txt", "tokenizer.json"], files
        return files
    check("snapshot_download", snap)

    check("HfApi.whoami", lambda: api.whoami()["name"])
    check("HfApi.create_repo", lambda: str(api.create_repo(f"{USER}/pushed", exist_ok=True)))
    check("HfApi.create_repo exist_ok on 409", lambda: str(api.create_repo(f"{USER}/pushed", exist_ok=True)))

    up = os.path.join(work, "upload")
    big = os.urandom(2_000_000)
    write(os.path.join(up, "adapter_config.json"), '{"r": 8}')
    write(os.path.join(up, "adapter_model.safetensors"), big)
    write(os.path.join(up, "docs", "notes.md"), "# notes\n")
    def upload():
        info = api.upload_folder(folder_path=up, repo_id=f"{USER}/pushed", commit_message="from huggingface_hub")
        return str(info)[:160]
    check("HfApi.upload_folder (regular + LFS)", upload)

    def redownload():
        got = {}
        for name, data in [("adapter_config.json", b'{"r": 8}'), ("adapter_model.safetensors", big), ("docs/notes.md", b"# notes\n")]:
            p = hf_hub_download(f"{USER}/pushed", name, force_download=True)
            assert open(p, "rb").read() == data, name
            got[name] = len(data)
        return got
    check("re-download of the upload is byte-identical", redownload)

    def multipart():
        data = os.urandom(3_500_000)   # over the 3 MB multipart threshold: 4 parts of 1 MB
        d = os.path.join(work, "upload-mp"); write(os.path.join(d, "big.safetensors"), data)
        api.upload_folder(folder_path=d, repo_id=f"{USER}/pushed", commit_message="multipart")
        p = hf_hub_download(f"{USER}/pushed", "big.safetensors")
        assert open(p, "rb").read() == data
        return "3.5 MB in 4 parts, re-downloaded identical"
    check("HfApi.upload_folder multipart LFS", multipart)

    def http_cause(e):
        """The HTTP error behind e (hf_hub_download wraps the HEAD's error in a ValueError on force_download)."""
        from huggingface_hub.errors import HfHubHTTPError
        while e is not None and not isinstance(e, HfHubHTTPError):
            e = e.__cause__ or e.__context__
        return e

    def private_needs_token():
        from huggingface_hub.errors import RepositoryNotFoundError
        api.create_repo(f"{USER}/secret-repo", private=True, exist_ok=True)
        write(os.path.join(work, "priv", "config.json"), "{}")
        api.upload_folder(folder_path=os.path.join(work, "priv"), repo_id=f"{USER}/secret-repo")
        assert api.model_info(f"{USER}/secret-repo").private is True
        try:
            hf_hub_download(f"{USER}/secret-repo", "config.json", token=False, force_download=True)
        except Exception as e:
            cause = http_cause(e)
            assert isinstance(cause, RepositoryNotFoundError), repr(e)
            return f"private=True honoured; anonymous download refused ({type(cause).__name__}, HTTP {cause.response.status_code})"
        raise AssertionError("a private repo was served without a token")
    check("private repo (visibility) refuses reads without a token", private_needs_token)

    def invalid_token():
        try:
            hf_hub_download("org/tiny", "config.json", token="hf_not_a_real_token_000", force_download=True)
        except Exception as e:
            cause = http_cause(e)
            assert cause is not None and cause.response is not None and cause.response.status_code == 401, repr(e)
            return f"401 for an unknown token ({type(cause).__name__})"
        raise AssertionError("a download with an invalid token succeeded")
    check("an invalid token is a 401", invalid_token)

    def readme_upload():
        d = os.path.join(work, "card"); write(os.path.join(d, "README.md"), "---\nlicense: mit\ntags:\n- finch\n---\n# card\n")
        api.upload_folder(folder_path=d, repo_id=f"{USER}/pushed", commit_message="card")
        assert "license: mit" in open(hf_hub_download(f"{USER}/pushed", "README.md", force_download=True)).read()
        api.create_repo(f"{USER}/cards", repo_type="dataset", exist_ok=True)   # a dataset card too
        api.upload_folder(folder_path=d, repo_id=f"{USER}/cards", repo_type="dataset", commit_message="card")
        return "model and dataset README.md with YAML front matter committed (validate-yaml answered)"
    check("README.md upload (validate-yaml)", readme_upload)

    def listing():
        files = sorted(api.list_repo_files(f"{USER}/pushed"))
        assert "adapter_model.safetensors" in files and "docs/notes.md" in files, files
        return files
    check("HfApi.list_repo_files", listing)

    def finch_cache_found_by_python():
        cache = os.path.join(work, "finch-cache")
        env = dict(os.environ, FINCH_HUB_INTEROP_CACHE=cache)
        subprocess.run(["swift", "test", "--filter", "FinchHubTests.InteropTests"], cwd=repo_dir, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from huggingface_hub import try_to_load_from_cache, scan_cache_dir
        p = try_to_load_from_cache("org/interop", "model.safetensors", cache_dir=os.path.join(cache, "hub"))
        assert isinstance(p, str) and os.path.exists(p), p
        q = try_to_load_from_cache("org/interop", "sub/dir/notes.txt", cache_dir=os.path.join(cache, "hub"))
        assert isinstance(q, str) and open(q).read() == "nested file\n", q
        info = scan_cache_dir(os.path.join(cache, "hub"))
        repos = {r.repo_id: (r.nb_files, r.size_on_disk) for r in info.repos}
        assert not info.warnings, info.warnings
        return f"try_to_load_from_cache OK; scan_cache_dir: {repos}"
    check("a cache written by Finch is read by huggingface_hub", finch_cache_found_by_python)

    def python_cache_found_by_finch():
        huggingface_hub.login(token=TOKEN, add_to_git_credential=False)   # writes $HF_HOME/token and stored_tokens
        env = dict(os.environ, FINCH_HUB_PY_CACHE=os.environ["HF_HOME"], FINCH_HUB_PY_TOKEN=TOKEN)
        r = subprocess.run(["swift", "test", "--filter", "FinchHubTests.PythonCacheTests"], cwd=repo_dir, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        passed = [l for l in r.stdout.splitlines() if "cacheWrittenByPythonIsReadByFinchOffline() passed" in l]
        assert r.returncode == 0 and passed, r.stdout[-2000:]
        return "Finch (offline) resolved org/tiny from huggingface_hub's cache and read its login (token, stored_tokens)"
    check("a cache and login written by huggingface_hub are read by Finch", python_cache_found_by_finch)
finally:
    server.terminate(); server.wait()
    shutil.rmtree(work, ignore_errors=True)

failed = [r for r in results if not r[1]]
print(f"\n{len(results) - len(failed)}/{len(results)} checks passed")
sys.exit(1 if failed else 0)
