"""Moat's code rules and Semgrep's community rules, side by side, on the labelled lines
of the community rules' own test files (written by Semgrep's contributors, not next to
Moat's rules).

Usage: compare.py MOAT_BINARY SEMGREP_RULES_CHECKOUT [SEMGREP_BINARY]

SEMGREP_RULES_CHECKOUT is a clone of github.com/semgrep/semgrep-rules (a bare one
works: files are read with `git show HEAD:path`). Each rule in rules.txt contributes its
test file; a line after a `ruleid: <id>` comment is a vulnerable example of the rule's
class, a line after an `ok: <id>` comment a safe one. Each finding of a tool counts for
the nearest labelled line from one line before it to three after it (Semgrep's tests
label the sink, where a password is stored, say; Moat reports the source, the MD5 call
a line or two above; or a statement Moat reports by an expression on its next line), and
a labelled line is flagged when a finding of its class counts for it. Semgrep runs
only the listed rule on its own test file, so its scores are a ceiling, not a contest;
Moat runs every rule it has on the same files.

Then the time per file: both tools on every Python, JavaScript/TypeScript, Java and Go
file of the checkout (about 950 files), Moat with all its rules and Semgrep with the
listed ones, wall and CPU time of each run, less that of a run on an empty directory
(each tool's start-up).
"""

import collections
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ANNOTATION = re.compile(r"(?:#|//|/\*)\s*(ruleid|ok|todoruleid|todook)\s*:\s*([\w.,\- ]+)")


def git_show(checkout: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", checkout, "show", f"HEAD:{path}"],
        capture_output=True, text=True, check=True,
    ).stdout


def manifest():
    with open(os.path.join(HERE, "rules.txt")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                yield line.split()


def labelled(text: str):
    """(line, vulnerable) for each annotated line; `todo` annotations are skipped."""
    lines = text.split("\n")
    out = []
    for index, line in enumerate(lines):
        match = ANNOTATION.search(line)
        if not match or match.group(1).startswith("todo"):
            continue
        # The example is the next line that is not a comment or blank.
        target = index + 1
        while target < len(lines) and (
            not lines[target].strip() or ANNOTATION.search(lines[target])
        ):
            target += 1
        out.append((target + 1, match.group(1) == "ruleid"))
    return out


def moat_class(rule: str) -> str:
    for needle, cls in [
        ("sql", "sql-concatenation"),
        ("shell", "shell-injection"),
        ("deserialize", "unsafe-deserialization"),
        ("tls", "tls-verification-disabled"),
        ("weak-password-hash", "weak-password-hash"),
    ]:
        if needle in rule:
            return cls
    return "other"


def main() -> None:
    moat, checkout = sys.argv[1], sys.argv[2]
    semgrep = sys.argv[3] if len(sys.argv) > 3 else "semgrep"
    # MOAT_BENCH_VERBOSE=1 prints each line Moat misses or flags wrongly.
    verbose = os.environ.get("MOAT_BENCH_VERBOSE") == "1"
    lines_of = {}
    # (tool, language, class) -> [tp, fp, fn, tn]
    scores = collections.defaultdict(lambda: [0, 0, 0, 0])
    with tempfile.TemporaryDirectory() as work:
        cases = []
        for n, (language, cls, path, ext) in enumerate(manifest()):
            name = f"case{n:02d}_{os.path.basename(path)}.{ext}"
            text = git_show(checkout, f"{path}.{ext}")
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
            rule = os.path.join(work, f"rule{n:02d}.yaml")
            with open(rule, "w") as f:
                f.write(git_show(checkout, f"{path}.yaml"))
            lines_of[name] = text.split("\n")
            cases.append((language, cls, name, rule, labelled(text)))
        scan = subprocess.run(
            [moat, "scan", "--path", work, "--code", "--json", "--fail-on", "never"],
            capture_output=True, text=True, check=True,
        )
        moat_found = collections.defaultdict(set)
        for finding in json.loads(scan.stdout)["findings"]:
            if finding["kind"] == "code":
                moat_found[finding["path"]].add((finding["line"], moat_class(finding["rule"])))
        for language, cls, name, rule, labels in cases:
            run = subprocess.run(
                [semgrep, "--config", rule, "--json", "--metrics", "off",
                 "--disable-version-check", "--quiet", os.path.join(work, name)],
                capture_output=True, text=True,
            )
            results = json.loads(run.stdout or "{}").get("results", [])
            semgrep_found = {(r["start"]["line"], cls) for r in results}
            for tool, found in [("moat", moat_found[name]), ("semgrep", semgrep_found)]:
                flagged = set()
                for at, found_class in found:
                    if found_class != cls:
                        continue
                    near = [line for line, _ in labels if at - 1 <= line <= at + 3]
                    if near:
                        flagged.add(min(near, key=lambda line: (abs(line - at), line < at)))
                for line, vulnerable in labels:
                    hit = line in flagged
                    if verbose and tool == "moat" and hit != vulnerable:
                        what = "missed" if vulnerable else "wrongly flagged"
                        print(f"{what}: {name}:{line}: {lines_of[name][line - 1].strip()[:110]}", file=sys.stderr)
                    score = scores[(tool, language, cls)]
                    score[{(True, True): 0, (True, False): 2, (False, True): 1, (False, False): 3}[(vulnerable, hit)]] += 1

    def ratio(a, b):
        return f"{100 * a / b:.0f}%" if b else "-"

    print("| language | class | examples (vulnerable/safe) | Moat precision | Moat recall | Semgrep precision | Semgrep recall |")
    print("|---|---|---|---|---|---|---|")
    totals = {"moat": [0, 0, 0, 0], "semgrep": [0, 0, 0, 0]}
    keys = sorted({(lang, cls) for (_, lang, cls) in scores})
    for language, cls in keys:
        m, s = scores[("moat", language, cls)], scores[("semgrep", language, cls)]
        for tool, score in [("moat", m), ("semgrep", s)]:
            for i in range(4):
                totals[tool][i] += score[i]
        print(f"| {language} | {cls} | {m[0] + m[2]}/{m[1] + m[3]} | {ratio(m[0], m[0] + m[1])} | {ratio(m[0], m[0] + m[2])} | {ratio(s[0], s[0] + s[1])} | {ratio(s[0], s[0] + s[2])} |")
    m, s = totals["moat"], totals["semgrep"]
    print(f"| all | all | {m[0] + m[2]}/{m[1] + m[3]} | {ratio(m[0], m[0] + m[1])} | {ratio(m[0], m[0] + m[2])} | {ratio(s[0], s[0] + s[1])} | {ratio(s[0], s[0] + s[2])} |")
    print(json.dumps({"moat": {"tp": m[0], "fp": m[1], "fn": m[2], "tn": m[3]},
                      "semgrep": {"tp": s[0], "fp": s[1], "fn": s[2], "tn": s[3]}}))
    timing(moat, checkout, semgrep)


def measured(command):
    """Wall and CPU seconds (the child's user + system) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def timing(moat, checkout, semgrep):
    files = [
        path for path in subprocess.run(
            ["git", "-C", checkout, "ls-tree", "-r", "--name-only", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.split("\n")
        if path.endswith((".py", ".js", ".ts", ".java", ".go"))
    ]
    with tempfile.TemporaryDirectory() as work:
        corpus, empty, rules = (os.path.join(work, d) for d in ("corpus", "empty", "rules"))
        for d in (corpus, empty, rules):
            os.mkdir(d)
        size = 0
        for n, path in enumerate(files):
            text = git_show(checkout, path)
            size += len(text.encode())
            with open(os.path.join(corpus, f"{n:04d}_{os.path.basename(path)}"), "w") as f:
                f.write(text)
        configs = []
        for n, (_, _, path, _) in enumerate(manifest()):
            rule = os.path.join(rules, f"rule{n:02d}.yaml")
            with open(rule, "w") as f:
                f.write(git_show(checkout, f"{path}.yaml"))
            configs += ["--config", rule]
        commands = {
            "Moat": lambda d: [moat, "scan", "--path", d, "--code", "--json", "--fail-on", "never"],
            "Semgrep": lambda d: [semgrep, *configs, "--json", "--metrics", "off",
                                  "--disable-version-check", "--quiet", d],
        }
        print()
        print(f"Time per file: {len(files)} files, {size / 1e6:.1f} MB")
        print("| tool | wall, all files | CPU, all files | start-up (wall) | wall per file | CPU per file |")
        print("|---|---|---|---|---|---|")
        for tool, command in commands.items():
            base_wall, base_cpu = measured(command(empty))
            wall, cpu = measured(command(corpus))
            per_wall = 1000 * max(wall - base_wall, 0) / len(files)
            per_cpu = 1000 * max(cpu - base_cpu, 0) / len(files)
            print(f"| {tool} | {wall:.2f} s | {cpu:.2f} s | {base_wall:.2f} s | {per_wall:.2f} ms | {per_cpu:.2f} ms |")


if __name__ == "__main__":
    main()
