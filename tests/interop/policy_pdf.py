"""Interop: the written policy as a PDF, read back by a real PDF reader.

`moat policy render --format pdf` writes the organisation's policy for two published
configuration versions; pypdf (PyPI) opens each, and the text it extracts holds every
section, each statement's configuration key and, after a tier rule changed, the new
sentence in place of the old one (a PDF is not something Moat can only write: it must
read as the document it claims to be).

Run by .ci/run inside the venv: `python tests/interop/policy_pdf.py path/to/moat`.
"""

import os
import re
import subprocess
import sys
import tempfile

import pypdf

CONFIG = """[org]
name = "Example Health"

[[repos]]
name = "claims"
source = "/srv/git/claims"
tier = "internal"

[permissions.static]
grants = [{ repos = ["*"], teams = ["engineering"] }]

[[vendors]]
name = "anthropic"
kind = "anthropic"
base_url = "https://api.anthropic.com"
key_env = "MOAT_TEST_VENDOR_KEY"
region = "us"
attestations = { soc2_type2 = true, dpa = true }

[[models]]
alias = "sonnet"
vendor = "anthropic"
version = "claude-sonnet-4-5-20250929"
"""

SECTIONS = ["Approved tools and models", "Prohibited uses", "Data classification",
            "Access and authentication", "Exception process", "Incident response", "Training"]


def moat(binary: str, config: str, *args: str) -> str:
    env = dict(os.environ, MOAT_TEST_VENDOR_KEY="not-a-real-key", MOAT_LOG="warn")
    done = subprocess.run([binary, "--config", config, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def text_of(path: str) -> tuple[str, pypdf.PdfReader]:
    reader = pypdf.PdfReader(path)
    text = "\n".join(page.extract_text() for page in reader.pages)
    # Wrapped lines joined again, so a sentence reads as one.
    return re.sub(r"\s+", " ", text), reader


def main() -> None:
    binary = sys.argv[1]
    root = tempfile.mkdtemp(prefix="moat-policy-pdf-")
    config = os.path.join(root, "moat.toml")
    with open(config, "w") as f:
        f.write(CONFIG)
    moat(binary, config, "config", "publish")
    with open(config, "a") as f:
        f.write('\n[tiers.internal]\nrequire = ["soc2_type2", "dpa", "baa"]\n')
    moat(binary, config, "config", "publish")

    texts = {}
    for version in ("1", "2"):
        path = os.path.join(root, f"policy-{version}.pdf")
        moat(binary, config, "policy", "render", "--version", version, "--format", "pdf", "--out", path)
        text, reader = text_of(path)
        assert reader.metadata.title == "Example Health: AI coding-tool policy", reader.metadata
        assert len(reader.pages) >= 2, len(reader.pages)
        for number, title in enumerate(SECTIONS, start=1):
            assert f"{number}. {title}" in text, (title, text)
        assert f"published configuration version {version}" in text, text
        texts[version] = text
    before = "A vendor must hold soc2_type2 and dpa to receive internal code. [tiers.internal.require]"
    after = "A vendor must hold soc2_type2, dpa and baa to receive internal code. [tiers.internal.require]"
    assert before in texts["1"] and after not in texts["1"], texts["1"]
    assert after in texts["2"] and before not in texts["2"], texts["2"]
    assert "Of the configured vendors, none may receive internal code." in texts["2"], texts["2"]
    print(f"  pypdf {pypdf.__version__} read both versions' PDFs: every section, every key, the changed tier rule")
    print("policy PDF interop: all checks passed")


if __name__ == "__main__":
    main()
