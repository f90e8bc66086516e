#!/usr/bin/env python3
"""Build the Moat bug-localization instance set from local git mirrors.

Each instance is (query = cleaned commit message of a bug-fix PR,
answer = non-test source files the fix changed that already existed at the
parent commit, corpus = the repository at the fix's first parent).

Mirror layout: ``--mirrors DIR`` holds one directory per repository whose
name starts with ``owner+name`` (e.g. ``DIR/rust-lang+cargo``).  The git dir is
either that directory itself (``git clone --mirror URL DIR/owner+name``) or a
bare/non-bare repository below it (the agent ``fetch`` tool produces
``DIR/owner+name/repo``).  Only the commit graph is read, with ``git``
subprocesses; nothing is written to the mirrors.

Modes
-----
Build (default)::

    python3 bench/localize/build.py --mirrors /work/.mirror \
        --out bench/localize/data/instances.jsonl [--list bench/localize/instances.tsv]

  Reads the id list (TSV: repo, fix commit sha, language; ``#`` comments
  allowed) and regenerates every instance.  Fails with a clear message when a
  mirror or a commit is missing, or when an instance no longer satisfies the
  selection rules.

Discover::

    python3 bench/localize/build.py --discover --mirrors /work/.mirror \
        --list bench/localize/instances.tsv [--per-repo 24]

  Scans the first-parent history of HEAD of every repository in ``REPOS``
  with the selection rules below and writes the id list.  Per repository, the
  qualifying commits whose title carries a strong bug word (fix, crash,
  panic, wrong, regression, ...) are kept (with ``--allow-weak`` the others
  follow them), ordered by sha256("repo/sha"); the first ``--per-repo`` are
  taken (a deterministic, history-wide sample).

Selection rules (shared by both modes, see ``select``):
  * the commit message, cleaned by ``clean_message``, is >= 200 characters;
  * it looks like a bug fix: a bug word in the title, or a strong bug word
    (crash, panic, regression, wrong, incorrect, false positive, ...) in the
    body; titles of kind docs/chore/ci/build/test/refactor/style/perf/feat,
    releases, reverts, dependency bumps, bot authors are skipped;
  * the answer = changed files (first parent vs commit, no rename detection)
    that are source files of the repository's language(s) by extension, not
    tests/fixtures/snapshots/docs/benches/examples/generated, and that exist at
    the parent (status M or D); 1 to 4 of them; a fix that adds new source
    files is dropped (the answer would be incomplete).

Split: "tune" if int(sha256(id)[:8], 16) % 2 == 0 else "held-out".
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys

# repo -> (language, source extensions).  Order = order in the output.
REPOS = {
    "rust-lang/cargo": ("rust", (".rs",)),
    "rust-lang/rust-analyzer": ("rust", (".rs",)),
    "astral-sh/ruff": ("rust", (".rs",)),
    "golang/tools": ("go", (".go",)),
    "golang/net": ("go", (".go",)),
    "golang/vuln": ("go", (".go",)),
    "spf13/cobra": ("go", (".go",)),
    "python/mypy": ("python", (".py",)),
    "pylint-dev/pylint": ("python", (".py",)),
    "pytest-dev/pytest": ("python", (".py",)),
    "psf/black": ("python", (".py",)),
    "python-poetry/poetry": ("python", (".py",)),
    "eslint/eslint": ("javascript", (".js", ".mjs", ".cjs")),
    "typescript-eslint/typescript-eslint": ("typescript", (".ts", ".tsx", ".mts", ".cts")),
    "google/gson": ("java", (".java",)),
    "google/error-prone": ("java", (".java",)),
}
LANG_EXTS = {
    "rust": (".rs",),
    "go": (".go",),
    "python": (".py",),
    "javascript": (".js", ".mjs", ".cjs", ".jsx"),
    "typescript": (".ts", ".tsx", ".mts", ".cts"),
    "java": (".java",),
}

MIN_QUERY_CHARS = 200
MAX_FILES = 4

# ---------------------------------------------------------------- git helpers


def git(git_dir, *args, check=True):
    p = subprocess.run(["git", "--git-dir", git_dir, *args],
                       capture_output=True, text=True, errors="replace")
    if check and p.returncode != 0:
        raise RuntimeError("git %s failed in %s: %s" % (" ".join(args), git_dir, p.stderr.strip()))
    return p


def find_git_dir(mirrors, repo):
    """Locate the git dir of owner/name under the mirrors directory."""
    prefix = repo.replace("/", "+")
    if not os.path.isdir(mirrors):
        sys.exit("error: mirrors directory %s does not exist" % mirrors)
    cands = sorted(d for d in os.listdir(mirrors)
                   if (d == prefix or d.startswith(prefix + "+") or d.startswith(prefix + "@")
                       or d.startswith(prefix + "."))
                   and os.path.isdir(os.path.join(mirrors, d)))
    for d in cands:
        base = os.path.join(mirrors, d)
        for sub in (base, os.path.join(base, "repo"), os.path.join(base, ".git"),
                    os.path.join(base, "repo.git")):
            if os.path.isfile(os.path.join(sub, "HEAD")) and os.path.isdir(os.path.join(sub, "objects")):
                return os.path.abspath(sub)
        for sub in sorted(os.listdir(base)):  # any bare repo one level down
            s = os.path.join(base, sub)
            if os.path.isfile(os.path.join(s, "HEAD")) and os.path.isdir(os.path.join(s, "objects")):
                return os.path.abspath(s)
    sys.exit("error: no mirror for %s under %s (expected a directory named %s "
             "holding a git dir; clone it with: git clone --mirror https://github.com/%s %s/%s)"
             % (repo, mirrors, prefix, repo, mirrors, prefix))


# ---------------------------------------------------------- message cleaning

TRAILER_RE = re.compile(
    r"^\s*(signed-off-by|co-authored-by|reviewed-by|reviewed-on|change-id|run-trybot|"
    r"trybot-result|auto-submit|luci-trybot-result|commit-queue|cq-include-trybots|"
    r"trybot-bypass|trust|piperorigin-revid|acked-by|tested-by|reported-by|suggested-by|"
    r"helped-by|gitorigin-revid|github-last-rev|github-pull-request|approved-by|"
    r"reviewed-on|(future_)?copybara_integrate_review|closes-with|fixes-with|"
    r"relnotes|changelog|release-note|[a-z]+-ci|branch)\s*[:=].*$", re.I)
NOISE_LINE_RE = re.compile(
    r"^\s*(r\?\s*@\S+.*|r=\S+|@?bors\b.*|@rustbot\b.*|cc @\S+\s*|"
    r"for more information, see https://pre-commit\.ci\s*|"
    r"-\s*\[[ xX]\].*|"            # PR-template check boxes
    r"--HG--|"                      # hg-converted history
    r"this reverts commit [0-9a-f]{7,40}\.?)\s*$", re.I)
BORS_AUTO_RE = re.compile(r"^auto merge of #\d+ ?[:-] \S+, r=\S+\s*$", re.I)
BORS_NG_RE = re.compile(r"^Merge #(\d+)\s*$")
GH_MERGE_RE = re.compile(r"^Merge (pull request|branch) .*$")
SQUASH_TITLE_RE = re.compile(r"\(#\d+\)\s*$")


def clean_message(msg):
    """Return (title, cleaned text) of a commit message.  Deterministic."""
    msg = msg.replace("\r\n", "\n").replace("\r", "\n")
    msg = re.sub(r"<!--.*?-->", "", msg, flags=re.S)  # PR-template comments
    lines = msg.split("\n")
    # strip merge-bot headers: bors/homu, bors-ng, GitHub merge commits
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and (BORS_AUTO_RE.match(lines[0]) or BORS_NG_RE.match(lines[0]) or GH_MERGE_RE.match(lines[0])):
        head = lines.pop(0)
        while lines and not lines[0].strip():
            lines.pop(0)
        m = BORS_NG_RE.match(head)
        if m and lines:  # "N: title r=a a=b"
            lines[0] = re.sub(r"^\d+:\s*", "", lines[0])
            lines[0] = re.sub(r"\s+(r=\S+\s*)?(a=\S+\s*)?$", "", lines[0])
    # GitHub squash separator: everything after a line of dashes is trailers
    for i, ln in enumerate(lines):
        if re.match(r"^-{9,}\s*$", ln):
            lines = lines[:i]
            break
    lines = [ln.rstrip() for ln in lines if not TRAILER_RE.match(ln) and not NOISE_LINE_RE.match(ln)]
    text = "\n".join(lines).strip()
    paras = re.split(r"\n\s*\n", text)
    title = paras[0].strip() if paras else ""
    body = paras[1:]
    if SQUASH_TITLE_RE.search(title.split("\n")[0]):
        # squash merge: single-line "* sub-commit title" paragraphs are noise
        body = [p for p in body if not (p.lstrip().startswith("* ") and "\n" not in p.strip())]
        # ... the first bullet usually repeats the title
    body = [p.strip("\n") for p in body if p.strip()]
    # drop markdown headings left without content (e.g. an empty "## Test Plan")
    body = [p for i, p in enumerate(body)
            if not (re.match(r"^#{1,6} [^\n]*$", p.strip())
                    and (i + 1 == len(body) or re.match(r"^#{1,6} ", body[i + 1].strip())))]
    text = "\n\n".join([title] + body)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return title.split("\n")[0].strip(), text


# ---------------------------------------------------------- selection rules

BUG_TITLE_RE = re.compile(
    r"\b(fix(e[sd]|ing)?|bugs?|bugfix|crash(e[sd]|ing)?|panic(s|ked|king)?|errors?|wrong(ly)?|"
    r"incorrect(ly)?|regressions?|tracebacks?|fails?|failed|failing|failures?|broken|"
    r"false[- ](positives?|negatives?)|exceptions?|segfaults?|hang(s|ing)?|deadlocks?|"
    r"NPE|NullPointerException|unexpected(ly)?|invalid|mis\w+|leaks?|overflow|race)\b", re.I)
BUG_BODY_RE = re.compile(
    r"\b(bugs?|crash(e[sd]|ing)?|panic(s|ked|king)?|wrong(ly)?|incorrect(ly)?|regressions?|"
    r"tracebacks?|false[- ](positives?|negatives?)|segfaults?|deadlocks?|NullPointerException|"
    r"stack ?trace|exceptions? (is|was) (raised|thrown)|(is|was|were) (broken|ignored|lost)|"
    r"(doesn't|does not|didn't|did not|no longer) work|fail(s|ed)? (to|when|with|on))\b",
    re.I)
# discover ranks commits whose title says "fix"/"crash"/... before the rest
STRONG_TITLE_RE = re.compile(
    r"\b(fix(e[sd]|ing)?|bugs?|bugfix|crash(e[sd]|ing)?|panic(s|ked|king)?|wrong(ly)?|incorrect(ly)?|"
    r"regressions?|false[- ](positives?|negatives?)|hang(s|ing)?|deadlocks?)\b", re.I)
SKIP_TITLE_RE = re.compile(
    r"^\s*(\[[^\]]*\]\s*)*((docs?|chore|ci|build|test|tests|refactor|style|perf|feat|release|deps|revert)"
    r"(\([^)]*\))?!?:|bump\b|release\b|revert\b|update (dependency|dependencies|deps)\b|"
    r"sync (typeshed|vendored)|\[pre-commit\.ci\]|rollup of|prepare (for )?(release|v?\d)|"
    r"version \d|v?\d+\.\d+(\.\d+)?\s*$)|"
    r"^\s*\[(docs?|ci|tests?|chore|build|svn r\d+)\]", re.I)
# merge bots (bors, homu, GitHub) author merge commits that carry the PR text: keep them
# "fix" that is not a bug fix: suggested/auto fixes of linters, typo/doc/test/build/lint fixes
NONBUG_TITLE_RE = re.compile(
    r"\b(add(s|ed|ing)?|an?|unsafe|safe|suggested|simple|the|provide[sd]?)\s+(\w+\s+)?fix(es)?\b|"
    r"\bfix (safety|description|title|availability|applicability)\b|"
    r"\bfix(e[sd]|ing)?\s+(\w+\s+){0,3}?(typos?|docs?|documentation|comments?|build|tests?|unit tests|"
    r"ci|lint|linter|staticcheck|vet|warnings?|findings|spelling|grammar|grammatical)\b|"
    r"\b(findings|warnings|complaints)\W*(\(#\d+\))?\W*$|reported by checks|^\s*document\b|"
    r"\bfix (minor|small) issues\b", re.I)
BOT_AUTHOR_RE = re.compile(r"(dependabot|renovate|pre-commit-ci|github-actions|greenkeeper|snyk-bot)", re.I)

TEST_DIR_RE = re.compile(
    r"^(test|tests|testing|testdata|test_data|test-data|testenv|testutil|testutils|test_utils|"
    r"test-utils|testlib|testsuite|__tests__|__snapshots__|__fixtures__|__mocks__|fixtures?|"
    r"snapshots?|specs?|e2e|benches|benchmarks?|bench|examples?|docs?|changelog\.d|news|"
    r"changes|\.github|\.circleci|scripts?|ci|fakes?|mocks?|regtest|vendor|vendored|third_party|"
    r"[a-z]+test)$", re.I)   # Go test-helper packages: analysistest, packagestest, servertest, ...
TEST_WORD_RE = re.compile(r"(^|[-_.])tests?([-_.]|$)", re.I)
TEST_FILE_RE = re.compile(
    r"(^test_.*\.py$|_test\.py$|^conftest\.py$|_test\.go$|\.(test|spec)\.[cm]?[jt]sx?$|"
    r"(Test|Tests|TestCase|IT)\.java$|^tests?\.rs$|_tests?\.rs$|generated|\.pb\.go$|"
    r"_string\.go$|^setup\.py$|^noxfile\.py$|^fixtures?\.\w+$)")


def is_source(path, exts):
    if not path.endswith(tuple(exts)):
        return False
    parts = path.split("/")
    if TEST_FILE_RE.search(parts[-1]):
        return False
    for comp in parts[:-1]:
        if TEST_DIR_RE.match(comp) or TEST_WORD_RE.search(comp):
            return False
    if "typeshed" in parts:  # vendored stubs in mypy
        return False
    return True


def mentions(query, files):
    for f in files:
        base = f.rsplit("/", 1)[-1]
        if re.search(r"(?<![A-Za-z0-9_])" + re.escape(base) + r"(?![A-Za-z0-9_])", query):
            return True
    return False


def select(repo, sha, parents, author, message, changes, exts):
    """Apply the selection rules.  changes = [(status, path)] vs first parent.

    Returns (query, files) or (None, reason)."""
    if not parents:
        return None, "root commit"
    if BOT_AUTHOR_RE.search(author or ""):
        return None, "bot author"
    first = message.strip().split("\n", 1)[0]
    if re.match(r"^Merge #\d+( #\d+)+", first) or first.startswith("Rollup merge") or first.startswith("Rollup of"):
        return None, "rollup"
    title, query = clean_message(message)
    if SKIP_TITLE_RE.search(title):
        return None, "skipped title kind"
    if NONBUG_TITLE_RE.search(title):
        return None, "not a bug-fix title"
    if len(query) < MIN_QUERY_CHARS:
        return None, "short query"
    body = query[len(title):]
    if not (BUG_TITLE_RE.search(title) or BUG_BODY_RE.search(body)):
        return None, "not a bug fix"
    src = [(s, p) for s, p in changes if is_source(p, exts)]
    if any(s[0] not in "MD" for s, _ in src):
        return None, "adds source files"
    files = sorted(p for s, p in src if s[0] in "MD")
    if not 1 <= len(files) <= MAX_FILES:
        return None, "%d answer files" % len(files)
    return query, files


# ---------------------------------------------------------------- discover

def scan(git_dir):
    """Yield (sha, parents, author, message, changes) along HEAD's first-parent history."""
    fmt = "%x01%H%x00%P%x00%an <%ae>%x00%B%x00"
    p = subprocess.Popen(["git", "--git-dir", git_dir, "log", "--first-parent", "--diff-merges=first-parent",
                          "--no-renames", "--name-status", "-z", "--format=" + fmt, "HEAD"],
                         stdout=subprocess.PIPE)
    data = p.stdout.read().decode("utf-8", "replace")
    p.wait()
    for rec in data.split("\x01")[1:]:
        fields = rec.split("\x00")
        sha, parents, author, message = fields[0], fields[1].split(), fields[2], fields[3]
        rest = [x for x in fields[4:]]
        # name-status -z: "\nM" "\0" path "\0" ...
        changes = []
        i = 0
        rest = [x.strip("\n") for x in rest]
        while i + 1 < len(rest):
            st = rest[i]
            if not st:
                i += 1
                continue
            changes.append((st, rest[i + 1]))
            i += 2
        yield sha, parents, author, message, changes


def discover(args):
    rows = []
    for repo, (lang, exts) in REPOS.items():
        git_dir = find_git_dir(args.mirrors, repo)
        cands = []
        reasons = {}
        for sha, parents, author, message, changes in scan(git_dir):
            q, files = select(repo, sha, parents, author, message, changes, exts)
            if q is None:
                reasons[files] = reasons.get(files, 0) + 1
                continue
            title = clean_message(message)[0]
            tier = 0 if STRONG_TITLE_RE.search(title) else 1
            if tier and not args.allow_weak:
                continue
            cands.append((tier, hashlib.sha256(("%s/%s" % (repo, sha)).encode()).hexdigest(), sha))
        cands.sort()
        take = [c[2] for c in cands[:args.per_repo]]
        print("%-40s candidates=%5d taken=%3d  %s" % (repo, len(cands), len(take),
              dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:5])), file=sys.stderr)
        rows += [(repo, s, lang) for s in take]
    with open(args.list, "w") as f:
        f.write("# repo\tcommit\tlanguage   (generated by build.py --discover; see README.md)\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    print("wrote %d rows to %s" % (len(rows), args.list), file=sys.stderr)


# ------------------------------------------------------------------- build

def split_of(iid):
    return "tune" if int(hashlib.sha256(iid.encode()).hexdigest()[:8], 16) % 2 == 0 else "held-out"


def build_one(git_dir, repo, sha, lang):
    p = git(git_dir, "cat-file", "-t", sha, check=False)
    if p.returncode != 0 or p.stdout.strip() != "commit":
        sys.exit("error: commit %s of %s is missing from mirror %s (fetch a newer mirror?)" % (sha, repo, git_dir))
    out = git(git_dir, "log", "-1", "--format=%H%x00%P%x00%an <%ae>%x00%B", sha).stdout
    full, parents, author, message = out.split("\x00", 3)
    parents = parents.split()
    if not parents:
        sys.exit("error: %s %s is a root commit" % (repo, sha))
    parent = parents[0]
    ns = git(git_dir, "diff", "--no-renames", "--name-status", "-z", parent, full).stdout.split("\x00")
    changes = [(ns[i], ns[i + 1]) for i in range(0, len(ns) - 1, 2) if ns[i]]
    exts = REPOS.get(repo, (lang, LANG_EXTS.get(lang)))[1]
    if not exts:
        sys.exit("error: unknown language %s for %s" % (lang, repo))
    q, files = select(repo, full, parents, author, message, changes, exts)
    if q is None:
        sys.exit("error: %s %s no longer satisfies the selection rules (%s)" % (repo, sha, files))
    for f in files:  # every answer file must exist at the parent
        if git(git_dir, "cat-file", "-e", "%s:%s" % (parent, f), check=False).returncode != 0:
            sys.exit("error: %s %s: answer file %s missing at parent %s" % (repo, sha, f, parent))
    owner, name = repo.split("/")
    iid = "%s__%s-%s" % (owner, name, full[:10])
    return {"id": iid, "repo": repo, "git_dir": git_dir, "commit": full, "parent": parent,
            "language": lang, "split": split_of(iid), "query": q, "files": files,
            "mentions_answer": mentions(q, files)}


def read_list(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 3:
                sys.exit("error: %s:%d: expected 3 tab-separated columns (repo, commit, language)" % (path, n))
            rows.append(tuple(cols))
    return rows


def build(args):
    rows = read_list(args.list)
    dirs = {}
    out = []
    for repo, sha, lang in rows:
        if repo not in dirs:
            dirs[repo] = find_git_dir(args.mirrors, repo)
        out.append(build_one(dirs[repo], repo, sha, lang))
    ids = [o["id"] for o in out]
    if len(set(ids)) != len(ids):
        sys.exit("error: duplicate instance ids in %s" % args.list)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        for o in out:
            f.write(json.dumps(o, ensure_ascii=False) + "\n")
    print("wrote %d instances to %s" % (len(out), args.out), file=sys.stderr)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirrors", required=True, help="directory holding owner+name mirror dirs")
    ap.add_argument("--out", default=os.path.join(here, "data", "instances.jsonl"))
    ap.add_argument("--list", default=os.path.join(here, "instances.tsv"))
    ap.add_argument("--discover", action="store_true", help="scan mirrors and (re)write --list")
    ap.add_argument("--per-repo", type=int, default=24, help="discover: instances per repository")
    ap.add_argument("--allow-weak", action="store_true",
                    help="discover: also take commits without a strong bug word in the title")
    args = ap.parse_args()
    if args.discover:
        discover(args)
    else:
        build(args)


if __name__ == "__main__":
    main()
