#!/usr/bin/env python3
"""Mechanically verify bench/retrieval/questions.jsonl against a corpus checkout.

Usage: python3 bench/retrieval/check.py [CORPUS_DIR] [QUESTIONS_JSONL]
  defaults: bench/index/corpus and bench/retrieval/questions.jsonl

For every expected answer it checks that the path exists in the corpus and that
the symbol appears in a definition-like line of that file (per-language regex).
It also checks ids are unique, 1-3 answers per question, at least 6 questions per
corpus language, and that no question spells out a code-like symbol
(snake_case / camelCase / CamelCase identifiers) verbatim.
Exits non-zero on any failure.
"""

import collections
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CORPUS = os.path.join(HERE, "..", "index", "corpus")


def def_patterns(ext, name):
    n = re.escape(name)
    end = r"(?![\w?!])"
    if ext == ".rs":
        return [rf"\b(fn|struct|enum|trait|type|mod|union|const|static)\s+{n}{end}", rf"macro_rules!\s*{n}{end}"]
    if ext in (".py", ".pyi"):
        return [rf"^\s*(async\s+)?(def|class)\s+{n}{end}"]
    if ext in (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts"):
        return [
            rf"\bfunction\s*\*?\s*{n}{end}\s*[<(]",                 # function NAME(
            rf"\b(class|interface|enum|type|namespace)\s+{n}{end}",  # class NAME
            rf"\b(const|let|var)\s+{n}\s*[:=]",                    # const NAME =
            rf"\.{n}\s*=\s*(async\s+)?function\b",                 # obj.NAME = function
            rf"^\s*((public|private|protected|static|async|readonly|override|get|set)\s+)*\*?{n}\s*(<[^>]*>)?\s*\([^;]*$",  # method
        ]
    if ext == ".go":
        return [rf"^func\s+(\([^)]*\)\s*)?{n}\s*[\[(]", rf"^type\s+{n}{end}", rf"^\s+{n}\s+(struct|interface)\b"]
    if ext in (".rb", ".rake"):
        return [rf"^\s*def\s+(self\.)?{n}{end}", rf"^\s*(class|module)\s+([\w:]+::)?{n}{end}"]
    if ext in (".c", ".h", ".cc", ".cpp", ".cxx", ".hh", ".hpp"):
        return [
            rf"^[A-Za-z_].*(^|[\s*&:]){n}\s*\((?!.*;\s*$)",         # return-type NAME( ... (not a prototype)
            rf"^\s*(class|struct|enum|union)\s+{n}\b(?!\s*;)",
            rf"^\s*typedef\b.*\b{n}\s*;",
        ]
    return [rf"\b{n}\b"]


CODE_LIKE = re.compile(r"(_|[a-z][A-Z]|^[A-Z][a-z]+[A-Z])")


def main():
    corpus = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_CORPUS)
    qfile = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "questions.jsonl")
    if not os.path.isdir(corpus):
        sys.exit(f"corpus dir {corpus} not found; build it with python3 bench/index/corpus.py")
    failures, ids, per_lang, n = [], set(), collections.Counter(), 0
    with open(qfile) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            n += 1
            try:
                q = json.loads(line)
            except json.JSONDecodeError as e:
                failures.append(f"line {lineno}: bad JSON: {e}")
                continue
            qid = q.get("id")
            if qid in ids:
                failures.append(f"{qid}: duplicate id")
            ids.add(qid)
            exp = q.get("expected") or []
            if not q.get("question") or not 1 <= len(exp) <= 3:
                failures.append(f"{qid}: needs a question and 1-3 expected answers")
            langs = set()
            for e in exp:
                path, sym = e.get("path", ""), e.get("symbol", "")
                langs.add(path.split("/", 1)[0])
                if CODE_LIKE.search(sym) and re.search(rf"(?<![\w.]){re.escape(sym)}(?![\w])", q["question"]):
                    failures.append(f"{qid}: question spells out the symbol {sym!r}")
                full = os.path.join(corpus, path)
                if not os.path.isfile(full):
                    failures.append(f"{qid}: missing file {path}")
                    continue
                with open(full, encoding="utf-8", errors="replace") as fh:
                    lines = fh.read().splitlines()
                pats = [re.compile(p) for p in def_patterns(os.path.splitext(path)[1], sym)]
                if not any(p.search(l) for l in lines for p in pats):
                    failures.append(f"{qid}: no definition of {sym!r} in {path}")
            for lang in langs:
                per_lang[lang] += 1
    corpus_langs = sorted(d for d in os.listdir(corpus) if not d.startswith(".") and os.path.isdir(os.path.join(corpus, d)))
    for lang in corpus_langs:
        if per_lang[lang] < 6:
            failures.append(f"language {lang}: only {per_lang[lang]} questions (need >= 6)")
    print(f"{n} questions; per language: {dict(sorted(per_lang.items()))}")
    for fl in failures:
        print("FAIL", fl)
    bad = {f.split(":", 1)[0] for f in failures} & ids
    print(f"{n - len(bad)} passed, {len(bad)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
