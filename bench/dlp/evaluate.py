#!/usr/bin/env python3
"""Scores Moat, detect-secrets and secretlint on the labelled corpus, side by side.

A planted value counts as found when a tool reports any line it spans; a reported line
that no planted value spans is a false positive. Precision and recall are per planted
value (overall and, for recall, per kind); Moat's per-kind precision counts its findings
of each rule. Usage: python3 bench/dlp/evaluate.py (after generate.py); bench/dlp/run
does everything, installing the other tools.
"""
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS = HERE / "corpus"


def moat():
    binary = REPO / "target" / "release" / "moat"
    out = subprocess.run([str(binary), "scan", "--path", str(CORPUS), "--json", "--fail-on", "never"],
                         capture_output=True, text=True, check=True)
    return [(f["path"], f["line"], f["rule"]) for f in json.loads(out.stdout)["findings"]]


def detect_secrets():
    tool = HERE / ".venv" / "bin" / "detect-secrets"
    out = subprocess.run([str(tool), "scan", "--all-files", "."], cwd=CORPUS, capture_output=True, text=True, check=True)
    results = json.loads(out.stdout)["results"]
    return [(path, r["line_number"], r["type"]) for path, found in results.items() for r in found]


def secretlint():
    config = HERE / ".secretlintrc.json"
    config.write_text(json.dumps({"rules": [{"id": "@secretlint/secretlint-rule-preset-recommend"}]}))
    # Large reports are cut off on a pipe; secretlint writes them whole with --output.
    (HERE / "results").mkdir(exist_ok=True)
    report = HERE / "results" / "secretlint.json"
    out = subprocess.run(["npx", "--no-install", "secretlint", "corpus/**/*", "--format", "json",
                          "--secretlintrc", str(config), "--output", str(report)],
                         cwd=HERE, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise SystemExit(f"secretlint failed: {out.stderr[-2000:]}")
    findings = []
    for entry in json.loads(report.read_text() or "[]"):
        path = os.path.relpath(entry["filePath"], CORPUS)
        for message in entry.get("messages", []):
            findings.append((path, message["loc"]["start"]["line"], message.get("ruleId", "?")))
    return findings


def score(labels, findings):
    spans = defaultdict(list)
    for index, label in enumerate(labels):
        spans[label["file"]].append((label["first_line"], label["last_line"], index))
    found = set()
    false_positive_lines = set()
    for path, line, _ in findings:
        hit = [i for first, last, i in spans.get(path, []) if first <= line <= last]
        if hit:
            found.update(hit)
        else:
            false_positive_lines.add((path, line))
    tp, fn, fp = len(found), len(labels) - len(found), len(false_positive_lines)
    per_kind = defaultdict(lambda: [0, 0])
    for index, label in enumerate(labels):
        per_kind[label["kind"]][1] += 1
        if index in found:
            per_kind[label["kind"]][0] += 1
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if labels else 0.0,
        "tp": tp, "fn": fn, "fp": fp,
        "recall_by_kind": {k: v[0] / v[1] for k, v in per_kind.items()},
        "false_positives": sorted(false_positive_lines)[:20],
    }


def moat_precision_by_kind(labels, findings):
    spans = defaultdict(list)
    for label in labels:
        spans[label["file"]].append((label["first_line"], label["last_line"], label["kind"]))
    by_rule = defaultdict(lambda: [0, 0])
    for path, line, rule in findings:
        kinds = [k for first, last, k in spans.get(path, []) if first <= line <= last]
        by_rule[rule][1] += 1
        # An evasion form is not one rule's: any rule that finds it is right.
        if rule in kinds or any(k.startswith("evasion:") for k in kinds):
            by_rule[rule][0] += 1
    return {rule: right / total for rule, (right, total) in by_rule.items()}


def main():
    labels = json.loads((HERE / "labels.json").read_text())
    negatives = sum(len(p.read_text().splitlines()) for p in (CORPUS / "negatives").iterdir())
    tools = {"moat": moat()}
    for name, run in (("detect-secrets", detect_secrets), ("secretlint", secretlint)):
        try:
            tools[name] = run()
        except (FileNotFoundError, subprocess.CalledProcessError, SystemExit) as error:
            print(f"warning: {name} did not run: {error}", file=sys.stderr)
    scores = {name: score(labels, findings) for name, findings in tools.items()}
    precision_by_kind = moat_precision_by_kind(labels, tools["moat"])

    kinds = sorted({l["kind"] for l in labels})
    out = []
    out.append(f"Corpus: {len(labels)} planted values across {len(kinds)} kinds; {negatives} negative lines.\n")
    out.append("| tool | precision | recall | found | missed | false positives |")
    out.append("|---|---|---|---|---|---|")
    for name, s in scores.items():
        out.append(f"| {name} | {s['precision']:.1%} | {s['recall']:.1%} | {s['tp']} | {s['fn']} | {s['fp']} |")
    out.append("")
    header = "| kind | moat precision | " + " | ".join(f"{n} recall" for n in scores) + " |"
    out.append(header)
    out.append("|---" * (2 + len(scores)) + "|")
    for kind in kinds:
        precision = precision_by_kind.get(kind)
        cells = [f"{scores[n]['recall_by_kind'].get(kind, 0.0):.0%}" for n in scores]
        out.append(f"| {kind} | {'-' if precision is None else f'{precision:.0%}'} | " + " | ".join(cells) + " |")
    report = "\n".join(out)
    print(report)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "report.md").write_text(report + "\n")
    (HERE / "results" / "scores.json").write_text(json.dumps(scores, indent=1, default=list))
    if "moat" in scores and scores["moat"]["false_positives"]:
        print("\nmoat false positives (first 20):", scores["moat"]["false_positives"], file=sys.stderr)


if __name__ == "__main__":
    main()
