#!/usr/bin/env python3
"""How much of GitHub's list of supported secret-scanning patterns Moat covers.

Reads bench/dlp/github_providers.tsv (provider, token_type, moat_rules) and prints
providers covered / total and token types covered / total, then the providers with
no covered token type. A provider counts as covered when Moat has a rule for at least
one of its token types.

It also checks that every rule id named in the tsv is defined in
crates/moat-dlp/src/rules.rs (`rule!("id", ...)`, `named!("id", ...)` or another rule
macro of that file), and exits 1 if one is not, so the mapping cannot rot
silently when rules are renamed or removed.

Generic shape rules (JWTs, database URLs, private keys, ...) find some providers'
tokens without knowing the provider; the figures are given with and without them.

Stdlib only. Usage: python3 bench/dlp/coverage.py [--tsv PATH] [--rules PATH] [-v] [--summary]
(--summary prints only one line with both sets of figures, for a report.)
"""

import argparse
import collections
import csv
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_TSV = HERE / "github_providers.tsv"
DEFAULT_RULES = HERE.parent.parent / "crates" / "moat-dlp" / "src" / "rules.rs"

# Rules that match a token by its general shape rather than by its provider.
GENERIC_RULES = {
    "jwt",
    "database-url-password",
    "url-basic-auth",
    "http-bearer-token",
    "http-basic-credentials",
    "kubernetes-secret-data",
    "generic-password-assignment",
    "generic-secret-assignment",
}
GENERIC_PREFIXES = ("private-key-",)


def is_generic(rule_id):
    return rule_id in GENERIC_RULES or rule_id.startswith(GENERIC_PREFIXES)


def read_rule_ids(path):
    """Rule ids in rules.rs: the first string argument of `rule!(...)` and of any other
    macro the file defines with `macro_rules!` (e.g. `named!`), plus `id: "..."` literals."""
    text = path.read_text(encoding="utf-8")
    macros = set(re.findall(r"macro_rules!\s+(\w+)", text)) | {"rule"}
    ids = {}  # id -> kind (Secret, Pii, Phi, ...) when the macro call names one
    for name, rid, kind in re.findall(r'\b(\w+)!\(\s*"([^"]+)"(?:\s*,\s*(\w+))?', text):
        if name in macros:
            ids[rid] = kind
    for rid in re.findall(r'\bid:\s*"([^"]+)"', text):
        ids.setdefault(rid, "")
    return ids


def read_tsv(path):
    """Rows of (line number, provider, token_type, [rule ids]); '#' lines are comments."""
    rows = []
    problems = []
    with path.open(encoding="utf-8", newline="") as f:
        lines = [(n, line) for n, line in enumerate(f, 1) if line.strip() and not line.startswith("#")]
    reader = csv.reader((line for _, line in lines), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header != ["provider", "token_type", "moat_rules"]:
        problems.append(f"{path}: header should be provider, token_type, moat_rules; found {header}")
        return rows, problems
    seen = set()
    for (lineno, _), fields in zip(lines[1:], reader):
        if len(fields) != 3:
            problems.append(f"{path}:{lineno}: expected 3 tab-separated columns, found {len(fields)}")
            continue
        provider, token_type, rules = (x.strip() for x in fields)
        if not provider or not token_type:
            problems.append(f"{path}:{lineno}: empty provider or token_type")
            continue
        if (provider, token_type) in seen:
            problems.append(f"{path}:{lineno}: duplicate row {provider} / {token_type}")
        seen.add((provider, token_type))
        ids = [r.strip() for r in rules.split(",") if r.strip()]
        rows.append((lineno, provider, token_type, ids))
    return rows, problems


def pct(a, b):
    return f"{100.0 * a / b:.1f}%" if b else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tsv", type=pathlib.Path, default=DEFAULT_TSV)
    ap.add_argument("--rules", type=pathlib.Path, default=DEFAULT_RULES)
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="also list every provider with its covered / total token types")
    ap.add_argument("--summary", action="store_true",
                    help="print only a one-line summary of the figures (for a report)")
    args = ap.parse_args()

    known = read_rule_ids(args.rules)
    if not known:
        print(f"error: no rule ids found in {args.rules}", file=sys.stderr)
        return 1
    rows, problems = read_tsv(args.tsv)

    for lineno, provider, token_type, ids in rows:
        for rid in ids:
            if rid not in known:
                problems.append(f"{args.tsv}:{lineno}: rule id '{rid}' ({provider} / {token_type}) "
                                f"is not in {args.rules}")
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        return 1

    by_provider = collections.OrderedDict()
    for _, provider, token_type, ids in rows:
        by_provider.setdefault(provider, []).append((token_type, ids))

    def covered(ids, specific_only):
        return any(not (specific_only and is_generic(r)) for r in ids)

    n_types = len(rows)
    n_prov = len(by_provider)

    def figures(specific):
        t = sum(1 for _, _, _, ids in rows if covered(ids, specific))
        p = sum(1 for types in by_provider.values() if any(covered(ids, specific) for _, ids in types))
        return p, t

    if args.summary:
        (p, t), (ps, ts) = figures(False), figures(True)
        print(f"GitHub secret-scanning patterns covered by Moat: providers {p}/{n_prov} ({pct(p, n_prov)}), "
              f"token types {t}/{n_types} ({pct(t, n_types)}); provider-specific rules only: "
              f"providers {ps}/{n_prov} ({pct(ps, n_prov)}), token types {ts}/{n_types} ({pct(ts, n_types)})")
        return 0

    print(f"GitHub supported secret-scanning patterns vs Moat rules ({args.tsv.name})")
    for label, specific in (("any Moat rule", False), ("provider-specific rules only", True)):
        p, t = figures(specific)
        print(f"  {label}:")
        print(f"    providers covered:   {p} / {n_prov} ({pct(p, n_prov)})")
        print(f"    token types covered: {t} / {n_types} ({pct(t, n_types)})")

    uncovered = [p for p, types in by_provider.items() if not any(ids for _, ids in types)]
    print(f"\nUncovered providers ({len(uncovered)}):")
    print("  " + ", ".join(uncovered))

    generic_only = [p for p, types in by_provider.items()
                    if any(ids for _, ids in types) and not any(covered(ids, True) for _, ids in types)]
    if generic_only:
        print(f"\nCovered only by generic shape rules ({len(generic_only)}):")
        print("  " + ", ".join(generic_only))

    used = {r for _, _, _, ids in rows for r in ids}
    unused = sorted(r for r, kind in known.items()
                    if r not in used and not is_generic(r) and kind in ("Secret", ""))
    print(f"\nMoat rules named in the tsv: {len(used)} of {len(known)}; "
          f"secret rules not mapped to a GitHub token type ({len(unused)}):")
    print("  " + ", ".join(unused))

    if args.verbose:
        print("\nPer provider (covered token types / total):")
        for p, types in by_provider.items():
            c = sum(1 for _, ids in types if ids)
            missing = [t for t, ids in types if not ids]
            line = f"  {p}: {c}/{len(types)}"
            if c and missing:
                line += "  missing: " + "; ".join(missing)
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
