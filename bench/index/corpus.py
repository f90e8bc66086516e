#!/usr/bin/env python3
"""Build a reproducible benchmark corpus of real open-source code.

Usage: python3 bench/index/corpus.py [OUT_DIR]      (default: bench/index/corpus)

The corpus is a local git repository with ONE commit (fixed author, committer
and dates), laid out as <language>/<package>-<version>/... .  Every input is
pinned to an exact version, so the same inputs give the same commit id.

Sources (standard library only; shells out to the package clients):
  rust        crate sources in ~/.cargo/registry/src (run `cargo fetch --locked`
              in the Moat workspace first; the versions below are the ones its
              Cargo.lock pins)
  c, cpp      C / C++ sources vendored in crates of the same registry
  python      sdists, `pip download --no-deps --no-binary :all: NAME==VER`
  javascript,
  typescript  `npm pack NAME@VER` tarballs
  go, ruby    Debian packages, `apt-get download NAME=VER` + `dpkg-deb -x`
              (run `apt-get update` once first)

Downloads are cached in bench/index/.cache/ (gitignored). Dropped everywhere:
files > 1 MB, binary files, minified files (*.min.*, very long lines), source
maps, and git metadata files (.gitignore/.gitattributes/...) so that every
copied file is committed and visible.

Writes OUT_DIR/../corpus-manifest.json (lines/bytes per language, commit id,
timings) and prints a summary table.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("CORPUS_CACHE") or os.path.join(HERE, ".cache")  # download cache
MAX_BYTES = 1024 * 1024
MAX_LINE = 5000  # a line longer than this in a text source file => minified/generated

# ---------------------------------------------------------------- inputs ----

# crate directory in ~/.cargo/registry/src/<index>/  (exact versions)
RUST_CRATES = [
    "tokio-1.54.1",
    "hyper-1.12.0",
    "axum-0.8.9",
    "regex-1.13.2",
    "serde_json-1.0.154",
    "rusqlite-0.37.0",
    "clap_builder-4.6.7",
    "reqwest-0.13.5",
    "tower-0.5.3",
    "gix-config-0.62.2",
    "gix-pack-0.77.0",
    "gix-ref-0.69.1",
]

# (language, crate dir, sub-directory of the crate (or ""), dest name, extensions)
VENDORED_NATIVE = [
    ("c", "ring-0.17.14", "", "ring-0.17.14", (".c", ".h")),
    ("c", "tree-sitter-0.25.10", "", "tree-sitter-0.25.10", (".c", ".h")),
    ("c", "libsqlite3-sys-0.35.0", "sqlite3", "sqlite3-libsqlite3-sys-0.35.0", (".c", ".h")),
    ("cpp", "aws-lc-sys-0.47.0", "aws-lc/ssl", "aws-lc-ssl-0.47.0", (".cc", ".h")),
]

PYPI = [  # (name, version)  -> sdist
    ("flask", "3.0.3"),
    ("werkzeug", "3.0.3"),
    ("requests", "2.32.3"),
    ("click", "8.1.7"),
    ("jinja2", "3.1.4"),
    ("urllib3", "2.2.2"),
    ("httpx", "0.27.0"),
    ("starlette", "0.37.2"),
    ("attrs", "23.2.0"),
]

# (language, npm spec name, version, extra top-level entries to drop)
NPM = [
    ("javascript", "express", "4.19.2", []),
    ("javascript", "koa", "2.15.3", []),
    ("javascript", "lodash-es", "4.17.21", []),
    ("javascript", "axios", "1.7.2", []),
    ("javascript", "commander", "12.1.0", []),
    ("javascript", "webpack", "5.92.0", ["schemas", "types.d.ts"]),  # generated
    ("typescript", "rxjs", "7.8.1", []),
    ("typescript", "effect", "3.3.2", []),
    ("typescript", "@tanstack/query-core", "5.45.0", []),
    ("typescript", "@trpc/server", "10.45.2", []),
]
NPM_DROP_TOP = {"dist", "build"}  # compiled bundles; real source is kept

# (language, debian package, exact debian version, root inside the .deb, dest name, dest subdir)
DEBIAN = [
    ("go", "golang-github-gin-gonic-gin-dev", "1.8.1-1", "usr/share/gocode/src/github.com/gin-gonic/gin", "gin-1.8.1", ""),
    ("go", "golang-github-go-chi-chi-dev", "5.0.7-1", "usr/share/gocode/src/github.com/go-chi/chi", "chi-5.0.7", ""),
    ("go", "golang-github-go-playground-validator-v10-dev", "10.4.1-4", "usr/share/gocode/src/github.com/go-playground/validator", "validator-10.4.1", ""),
    ("go", "golang-github-gorilla-mux-dev", "1.8.0-1", "usr/share/gocode/src/github.com/gorilla/mux", "gorilla-mux-1.8.0", ""),
    ("go", "golang-github-gorilla-securecookie-dev", "1.1.1-2", "usr/share/gocode/src/github.com/gorilla/securecookie", "gorilla-securecookie-1.1.1", ""),
    ("go", "golang-github-gorilla-sessions-dev", "1.2.1-1", "usr/share/gocode/src/github.com/gorilla/sessions", "gorilla-sessions-1.2.1", ""),
    ("go", "golang-github-gorilla-websocket-dev", "1.5.0-2", "usr/share/gocode/src/github.com/gorilla/websocket", "gorilla-websocket-1.5.0", ""),
    ("go", "golang-github-hashicorp-go-memdb-dev", "1.2.1-1", "usr/share/gocode/src/github.com/hashicorp/go-memdb", "go-memdb-1.2.1", ""),
    ("go", "golang-github-hashicorp-go-retryablehttp-dev", "0.7.1-1", "usr/share/gocode/src/github.com/hashicorp/go-retryablehttp", "go-retryablehttp-0.7.1", ""),
    ("go", "golang-github-hashicorp-raft-dev", "1.1.2-1", "usr/share/gocode/src/github.com/hashicorp/raft", "raft-1.1.2", ""),
    ("go", "golang-github-hashicorp-serf-dev", "0.9.4~ds1-1", "usr/share/gocode/src/github.com/hashicorp/serf", "serf-0.9.4", ""),
    ("go", "golang-github-labstack-echo-dev", "4.2.1-3", "usr/share/gocode/src/github.com/labstack/echo", "echo-4.2.1", ""),
    ("go", "golang-github-prometheus-client-golang-dev", "1.14.0-3", "usr/share/gocode/src/github.com/prometheus/client_golang", "prometheus-client_golang-1.14.0", ""),
    ("go", "golang-github-sirupsen-logrus-dev", "1.9.0-1", "usr/share/gocode/src/github.com/sirupsen/logrus", "logrus-1.9.0", ""),
    ("go", "golang-github-spf13-cobra-dev", "1.6.1-1", "usr/share/gocode/src/github.com/spf13/cobra", "cobra-1.6.1", ""),
    ("go", "golang-github-spf13-viper-dev", "1.10.1-1", "usr/share/gocode/src/github.com/spf13/viper", "viper-1.10.1", ""),
    ("go", "golang-github-urfave-cli-v2-dev", "2.3.0-2", "usr/share/gocode/src/github.com/urfave/cli", "urfave-cli-2.3.0", ""),
    ("ruby", "ruby-rack", "2.2.22-0+deb12u2", "usr/share/rubygems-integration/all/gems/rack-2.2.22", "rack-2.2.22", ""),
    ("ruby", "ruby-sinatra", "3.0.5-3+deb12u1", "usr/share/rubygems-integration/all/gems/sinatra-3.0.5", "sinatra-3.0.5", ""),
    ("ruby", "ruby-mustermann", "3.0.0-2", "usr/share/rubygems-integration/all/gems/mustermann-3.0.0", "mustermann-3.0.0", ""),
    ("ruby", "ruby-thor", "1.2.1-2", "usr/share/rubygems-integration/all/gems/thor-1.2.1", "thor-1.2.1", ""),
    ("ruby", "ruby-rspec-core", "3.12.0c0e1m1s0-1", "usr/share/rubygems-integration/all/gems/rspec-core-3.12.0", "rspec-core-3.12.0", ""),
    ("ruby", "ruby-faraday", "1.1.0-7", "usr/share/rubygems-integration/all/gems/faraday-1.1.0", "faraday-1.1.0", ""),
    ("ruby", "ruby-i18n", "1.10.0-2", "usr/share/rubygems-integration/all/gems/i18n-1.10.0", "i18n-1.10.0", ""),
    ("ruby", "ruby-liquid", "5.4.0-3", "usr/share/rubygems-integration/all/gems/liquid-5.4.0", "liquid-5.4.0", ""),
    ("ruby", "ruby-sequel", "5.63.0-1", "usr/lib/ruby/vendor_ruby", "sequel-5.63.0", "lib"),
]

LANG_EXT = {
    "rust": (".rs",),
    "python": (".py", ".pyi"),
    "javascript": (".js", ".mjs", ".cjs", ".jsx"),
    "typescript": (".ts", ".tsx", ".mts", ".cts"),
    "go": (".go",),
    "ruby": (".rb", ".rake"),
    "c": (".c", ".h"),
    "cpp": (".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp"),
}

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Moat Bench",
    "GIT_AUTHOR_EMAIL": "bench@moat.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "Moat Bench",
    "GIT_COMMITTER_EMAIL": "bench@moat.invalid",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "HOME": tempfile.gettempdir(),
}


def die(msg):
    sys.exit(f"corpus.py: error: {msg}")


def run(cmd, **kw):
    try:
        return subprocess.run(cmd, check=True, **kw)
    except FileNotFoundError:
        die(f"command not found: {cmd[0]}")
    except subprocess.CalledProcessError as e:
        out = (e.stderr or b"")
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        die(f"command failed ({e.returncode}): {' '.join(cmd)}\n{out[-2000:]}")


# ------------------------------------------------------------ filtering ----

DROP_NAMES = {".gitignore", ".gitattributes", ".gitmodules", ".gitkeep", ".git",
              ".cargo-ok", ".cargo_vcs_info.json", ".DS_Store"}
DROP_SUFFIXES = (".map", ".pyc", ".pyo", ".o", ".a", ".so", ".whl")


def keep_file(path, name):
    if name in DROP_NAMES or name.endswith(DROP_SUFFIXES):
        return False
    if ".min." in name:
        return False
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        return False
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data[:8192]:
        return False  # binary
    if size > 20000 and max((len(l) for l in data.split(b"\n")), default=0) > MAX_LINE:
        return False  # minified / generated blob
    return True


def copy_tree(src, dst, exts=None, drop_top=()):
    """Copy regular, kept files from src to dst (sorted walk, normalised modes)."""
    n = 0
    for root, dirs, files in os.walk(src):
        rel_root = os.path.relpath(root, src)
        dirs[:] = sorted(d for d in dirs if d not in DROP_NAMES
                         and not (rel_root == "." and d in drop_top)
                         and not os.path.islink(os.path.join(root, d)))
        for name in sorted(files):
            if rel_root == "." and name in drop_top:
                continue
            if exts and not name.endswith(exts):
                continue
            p = os.path.join(root, name)
            if not keep_file(p, name):
                continue
            out = os.path.join(dst, rel_root, name)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            shutil.copyfile(p, out)
            os.chmod(out, 0o755 if os.stat(p).st_mode & 0o111 else 0o644)
            n += 1
    return n


def safe_extract_tar(tar_path, dest):
    with tarfile.open(tar_path) as t:
        t.extractall(dest, filter="data")


def single_subdir(d):
    entries = os.listdir(d)
    if len(entries) == 1 and os.path.isdir(os.path.join(d, entries[0])):
        return os.path.join(d, entries[0])
    return d


# --------------------------------------------------------------- sources ----

def cargo_registry_src():
    base = os.path.join(os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")), "registry", "src")
    cands = sorted(glob.glob(os.path.join(base, "index.crates.io-*")))
    if not cands:
        die(f"no crates.io registry sources under {base}; run `cargo fetch --locked` in the Moat workspace")
    return cands


def fetch_crate(crate):
    """Unpacks one pinned crate that Cargo.lock no longer pulls in (a throwaway package
    that depends on exactly that version, then `cargo fetch`)."""
    name, _, version = crate.rpartition("-")
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "src"))
        with open(os.path.join(tmp, "Cargo.toml"), "w") as f:
            f.write(f'[package]\nname = "corpus-fetch"\nversion = "0.0.0"\nedition = "2021"\n'
                    f'[dependencies]\n{name} = "={version}"\n')
        open(os.path.join(tmp, "src", "lib.rs"), "w").close()
        subprocess.run(["cargo", "fetch", "--quiet"], cwd=tmp, check=False)


def find_crate(dirs, crate, fetched=False):
    for d in dirs:
        p = os.path.join(d, crate)
        if os.path.isdir(p):
            return p
    if not fetched:
        fetch_crate(crate)
        return find_crate(dirs, crate, fetched=True)
    die(f"crate source {crate} not found in {dirs}; run `cargo fetch --locked` in /work/main "
        f"(or update RUST_CRATES/VENDORED_NATIVE in {__file__} to the versions Cargo.lock pins)")


def add_rust(out):
    dirs = cargo_registry_src()
    for crate in RUST_CRATES:
        copy_tree(find_crate(dirs, crate), os.path.join(out, "rust", crate))
    for lang, crate, sub, dest, exts in VENDORED_NATIVE:
        src = os.path.join(find_crate(dirs, crate), sub)
        if not os.path.isdir(src):
            die(f"{src} missing")
        copy_tree(src, os.path.join(out, lang, dest), exts=exts)


def add_python(out, tmp):
    cache = os.path.join(CACHE, "pypi")
    os.makedirs(cache, exist_ok=True)

    def find(name, ver):
        norm = name.lower().replace("-", "_")
        for f in sorted(os.listdir(cache)):
            low = f.lower().replace("-", "_")
            if low.startswith(f"{norm}_{ver}.") and (low.endswith(".tar.gz") or low.endswith(".zip")):
                return os.path.join(cache, f)
        return None

    missing = [f"{n}=={v}" for n, v in PYPI if not find(n, v)]
    if missing:
        print(f"  pip download (sdists; first run builds metadata, a few minutes): {' '.join(missing)}", flush=True)
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--disable-pip-version-check", "-q", "-d", cache] + missing,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for name, ver in PYPI:
        f = find(name, ver)
        if not f:
            die(f"sdist for {name}=={ver} not found in {cache} after pip download")
        x = os.path.join(tmp, f"py-{name}")
        os.makedirs(x)
        if f.endswith(".zip"):
            with zipfile.ZipFile(f) as z:
                z.extractall(x)
        else:
            safe_extract_tar(f, x)
        copy_tree(single_subdir(x), os.path.join(out, "python", f"{name.lower()}-{ver}"))


def add_npm(out, tmp):
    cache = os.path.join(CACHE, "npm")
    os.makedirs(cache, exist_ok=True)

    def tgz(name, ver):
        return os.path.join(cache, f"{name.lstrip('@').replace('/', '-')}-{ver}.tgz")

    missing = [f"{n}@{v}" for _, n, v, _ in NPM if not os.path.exists(tgz(n, v))]
    if missing:
        print(f"  npm pack {' '.join(missing)}", flush=True)
        run(["npm", "pack", "--silent", "--pack-destination", cache] + missing,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for lang, name, ver, drop in NPM:
        f = tgz(name, ver)
        if not os.path.exists(f):
            die(f"npm pack did not produce {f}")
        x = os.path.join(tmp, "npm-" + name.replace("/", "-"))
        os.makedirs(x)
        safe_extract_tar(f, x)
        dest = f"{name.lstrip('@').replace('/', '-')}-{ver}"
        copy_tree(single_subdir(x), os.path.join(out, lang, dest), drop_top=NPM_DROP_TOP | set(drop))


def add_debian(out, tmp):
    cache = os.path.join(CACHE, "apt")
    os.makedirs(cache, exist_ok=True)

    def find(pkg, ver):
        for f in sorted(glob.glob(os.path.join(cache, f"{pkg}_*.deb"))):
            v = subprocess.run(["dpkg-deb", "-f", f, "Version"], capture_output=True, text=True).stdout.strip()
            if v.split(":", 1)[-1] == ver.split(":", 1)[-1]:
                return f
        return None

    missing = [(p, v) for _, p, v, _, _, _ in DEBIAN if not find(p, v)]
    if missing:
        print(f"  apt-get download {len(missing)} packages", flush=True)
        for p, v in missing:
            r = subprocess.run(["apt-get", "download", f"{p}={v}"], cwd=cache, capture_output=True, text=True)
            if r.returncode != 0:
                die(f"apt-get download {p}={v} failed (run `apt-get update` first; if Debian no longer "
                    f"ships this exact version, update DEBIAN in {__file__}):\n{r.stderr[-1500:]}")
    for lang, pkg, ver, root, dest, sub in DEBIAN:
        f = find(pkg, ver)
        if not f:
            die(f"{pkg}={ver} not in {cache}")
        x = os.path.join(tmp, pkg)
        os.makedirs(x)
        run(["dpkg-deb", "-x", f, x])
        src = os.path.join(x, root)
        if not os.path.isdir(src):
            die(f"{pkg}: {root} not found inside the .deb")
        copy_tree(src, os.path.join(out, lang, dest, sub))


# --------------------------------------------------------------- summary ----

def measure(out):
    stats = {}
    for lang in sorted(os.listdir(out)):
        ldir = os.path.join(out, lang)
        if lang.startswith(".") or not os.path.isdir(ldir):
            continue
        s = {"packages": len(os.listdir(ldir)), "source_files": 0, "source_lines": 0, "source_bytes": 0,
             "all_files": 0, "all_lines": 0, "all_bytes": 0}
        exts = LANG_EXT.get(lang, ())
        for root, _, files in os.walk(ldir):
            for name in files:
                with open(os.path.join(root, name), "rb") as fh:
                    data = fh.read()
                lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
                s["all_files"] += 1
                s["all_lines"] += lines
                s["all_bytes"] += len(data)
                if name.endswith(exts):
                    s["source_files"] += 1
                    s["source_lines"] += lines
                    s["source_bytes"] += len(data)
        stats[lang] = s
    return stats


def git(out, *args, capture=False):
    env = dict(os.environ)
    env.update(GIT_ENV)
    r = run(["git", "-c", "core.autocrlf=false", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null",
             "-c", "init.defaultBranch=main", *args], cwd=out, env=env,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stderr=subprocess.PIPE)
    return r.stdout.decode().strip() if capture else None


def main():
    t0 = time.monotonic()
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus"))
    if os.path.exists(out):
        if os.listdir(out) and not os.path.isdir(os.path.join(out, ".git")):
            die(f"{out} exists, is not empty and is not a corpus git repo; refusing to delete it")
        shutil.rmtree(out)
    os.makedirs(out)
    timings = {}
    with tempfile.TemporaryDirectory(prefix="moat-corpus-") as tmp:
        for label, fn in [("rust+c+cpp (cargo registry)", lambda: add_rust(out)),
                          ("python (pip)", lambda: add_python(out, tmp)),
                          ("javascript+typescript (npm)", lambda: add_npm(out, tmp)),
                          ("go+ruby (debian)", lambda: add_debian(out, tmp))]:
            t = time.monotonic()
            print(f"[corpus] {label} ...", flush=True)
            fn()
            timings[label] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    print("[corpus] git commit ...", flush=True)
    git(out, "init", "-q", "-b", "main")
    git(out, "add", "-A", "-f", ".")
    git(out, "commit", "-q", "--no-verify", "-m", "Moat benchmark corpus")
    commit = git(out, "rev-parse", "HEAD", capture=True)
    timings["git"] = round(time.monotonic() - t, 1)

    stats = measure(out)
    total = {k: sum(s[k] for s in stats.values()) for k in next(iter(stats.values()))}
    timings["total"] = round(time.monotonic() - t0, 1)
    manifest = {"commit": commit, "out_dir": out, "languages": stats, "total": total, "timings_s": timings,
                "inputs": {"rust": RUST_CRATES, "vendored_native": [v[:4] for v in VENDORED_NATIVE],
                           "pypi": PYPI, "npm": [n[:3] for n in NPM], "debian": [d[:3] for d in DEBIAN]}}
    mpath = os.path.join(os.path.dirname(out), "corpus-manifest.json")
    with open(mpath, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")

    print(f"\n{'language':<12}{'pkgs':>5}{'src files':>11}{'src lines':>11}{'src bytes':>13}{'all lines':>11}{'all bytes':>13}")
    for lang, s in stats.items():
        print(f"{lang:<12}{s['packages']:>5}{s['source_files']:>11}{s['source_lines']:>11,}{s['source_bytes']:>13,}"
              f"{s['all_lines']:>11,}{s['all_bytes']:>13,}")
    print(f"{'TOTAL':<12}{total['packages']:>5}{total['source_files']:>11}{total['source_lines']:>11,}"
          f"{total['source_bytes']:>13,}{total['all_lines']:>11,}{total['all_bytes']:>13,}")
    print(f"\ncommit {commit}\nmanifest {mpath}\ntimings (s) {timings}")


if __name__ == "__main__":
    main()
