"""The admin API against its own OpenAPI document: schemathesis (PyPI) `run --checks all`
on a live `moat demo`, bounded examples and a fixed seed.

Usage: api_schemathesis.py path/to/moat   (with schemathesis in the same venv)

Every check runs: statuses the document lists, response and header schemas, content
types, data the document calls valid accepted and invalid refused, authentication not
ignored, unsupported methods, resources gone after deletion, and the stateful phase that
chains calls through the document's links. The suite acts as a dedicated fixture admin
(not the demo's): the server itself refuses an admin suspending or deprovisioning their
own account (409), and `schemathesis_hooks.py` keeps the fixture's own token out of
revoke and rotate, so nothing the suite does can lock it out halfway. Throwaway users
and tokens give path parameters that exist.
"""

import json
import os
import subprocess
import sys
import tempfile

from demo import start_demo

HERE = os.path.dirname(os.path.abspath(__file__))


def cli(moat: str, config: str, *args: str) -> dict:
    run = subprocess.run(
        [moat, "--config", config, *args, "--json"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, (args, run.stdout, run.stderr)
    return json.loads(run.stdout)


def main() -> None:
    moat = os.path.abspath(sys.argv[1])
    schemathesis = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "demo")
        demo = start_demo(moat, data)
        try:
            with open(os.path.join(data, "demo.json")) as f:
                url = json.load(f)["url"]
            config = os.path.join(data, "moat.toml")
            fixture = cli(moat, config, "user", "add", "st-fixture@example.com", "--role", "admin", "--name", "schemathesis fixture")
            token = cli(moat, config, "token", "issue", "--user", "st-fixture@example.com", "--scope", "admin", "--name", "schemathesis", "--ttl", "1d")
            cli(moat, config, "user", "add", "victim@example.com", "--role", "developer")
            victim_token = cli(moat, config, "token", "issue", "--user", "victim@example.com", "--scope", "mcp", "--name", "victim")
            settings = os.path.join(work, "schemathesis.toml")
            with open(settings, "w") as f:
                f.write(
                    "request-timeout = 30\n"
                    "[parameters]\n"
                    '"path.user" = "victim@example.com"\n'
                    f'"path.token" = "{victim_token["token"]["id"]}"\n'
                    '"query.user" = "developer@example.com"\n'
                    '"query.repo" = "acme-payments"\n'
                )
            env = dict(
                os.environ,
                PYTHONPATH=HERE,
                SCHEMATHESIS_HOOKS="schemathesis_hooks",
                MOAT_PROTECTED_TOKENS=token["token"]["id"],
            )
            report = os.path.join(work, "report")
            run = subprocess.run(
                [
                    schemathesis, "--config-file", settings, "run", f"{url}/api/v1/openapi.json",
                    "-H", f"Authorization: Bearer {token['secret']}",
                    "--checks", "all",
                    "--max-examples", os.environ.get("MOAT_SCHEMATHESIS_EXAMPLES", "25"),
                    "--seed", "1",
                    "--continue-on-failure",
                    "--no-color",
                    "--report", "junit", "--report-dir", report,
                ],
                capture_output=True, text=True, timeout=1200, env=env,
            )
            print(run.stdout[-6000:])
            if run.returncode != 0:
                print(run.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"schemathesis found problems (exit {run.returncode})")
            # The fixture was never locked out: it still answers as itself.
            whoami = subprocess.run(
                ["curl", "-sf", "-H", f"Authorization: Bearer {token['secret']}", f"{url}/api/v1/whoami"],
                capture_output=True, text=True,
            )
            assert whoami.returncode == 0 and json.loads(whoami.stdout)["user"]["id"] == fixture["id"], whoami
        finally:
            demo.terminate()
            demo.wait(timeout=30)
    print("schemathesis: the admin API matches its document under --checks all")


if __name__ == "__main__":
    main()
