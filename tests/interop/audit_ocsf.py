"""`moat audit export --format ocsf` judged by an OCSF 1.5.0 schema from PyPI: the
`ocsf-emitter` package's models, generated from the OCSF schema, and its invariant
checks (class, category and type uids, sibling names, schema version). A real
`moat demo` is driven through every kind of event an auditor asks about (admin reads,
account changes, code reads over MCP, a refused repository, refused tokens), then every
exported line must validate as the OCSF class Moat chose for it, and carry the Moat event
itself, identical to the JSONL export.

Usage: audit_ocsf.py path/to/moat
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

from demo import start_demo
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from ocsf_emitter import _models, defaults, validate

CLASSES_EXPECTED = {
    6003: "admin API reads",
    6005: "code reads over MCP",
    3001: "account changes",
    3002: "refused authentications",
    3003: "tokens issued",
    2004: "refusals decided by a rule",
}


def get(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def mcp_calls(url, token):
    async with streamablehttp_client(f"{url}/mcp", headers={"Authorization": f"Bearer {token}"}) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await session.call_tool("list_repositories", {})
            await session.call_tool("search_code", {"query": "transfer"})
            denied = await session.call_tool("repo_overview", {"repo": "someone-elses-repo"})
            assert denied.isError


def main():
    moat = os.path.abspath(sys.argv[1])
    data = tempfile.mkdtemp(prefix="moat-ocsf-")
    demo = start_demo(moat, data)
    with open(os.path.join(data, "demo.json")) as f:
        info = json.load(f)
    url = info["url"]
    try:
        assert get(f"{url}/api/v1/users", info["admin_token"]) == 200
        for _ in range(5):
            assert get(f"{url}/api/v1/users", "moat_" + "0" * 64) == 401
        asyncio.run(mcp_calls(url, info["developer_token"]))
    finally:
        # Ctrl-C: the server records the refused tokens it counted before it stops.
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)

    def cli(*args):
        return subprocess.run([moat, "--data-dir", data, *args], check=True, capture_output=True, text=True).stdout

    cli("user", "suspend", "developer@example.com")
    cli("user", "reactivate", "developer@example.com")
    cli("token", "issue", "--user", "developer@example.com", "--scope", "mcp", "--json")
    ocsf_path, jsonl_path = os.path.join(data, "audit.ocsf"), os.path.join(data, "audit.jsonl")
    cli("audit", "export", "--format", "ocsf", "--out", ocsf_path)
    cli("audit", "export", "--format", "jsonl", "--out", jsonl_path)
    ocsf = [json.loads(line) for line in open(ocsf_path) if line.strip()]
    jsonl = [json.loads(line) for line in open(jsonl_path) if line.strip()]
    assert len(ocsf) == len(jsonl) > 0, (len(ocsf), len(jsonl))

    seen = {}
    for line, flat in zip(ocsf, jsonl):
        spec = defaults.class_spec_by_uid(line["class_uid"])
        assert spec is not None, f"event {flat['seq']}: class {line['class_uid']} is not an OCSF class the schema package knows"
        model = getattr(_models, spec.model_name)
        try:
            validate(model.model_validate(line))
        except Exception as error:
            raise SystemExit(f"event {flat['seq']} ({flat['action']}) is not valid OCSF {spec.class_name}: {error}\n{json.dumps(line)[:1500]}")
        assert line["unmapped"]["moat"] == flat, f"event {flat['seq']}: the Moat event is carried unchanged"
        assert line["metadata"]["uid"] == str(flat["seq"])
        seen.setdefault(line["class_uid"], set()).add(flat["action"])
    # The check can fail: a line with a wrong type_uid or without its required user is refused.
    for broken in (dict(ocsf[0], type_uid=ocsf[0]["type_uid"] + 1), {k: v for k, v in next(l for l in ocsf if l["class_uid"] == 3001).items() if k != "user"}):
        model = getattr(_models, defaults.class_spec_by_uid(broken["class_uid"]).model_name)
        try:
            validate(model.model_validate(broken))
        except Exception:
            continue
        raise SystemExit(f"the OCSF check accepted a broken event: {json.dumps(broken)[:300]}")
    missing = {uid: what for uid, what in CLASSES_EXPECTED.items() if uid not in seen}
    assert not missing, f"no {missing} in the export; classes seen: {seen}"
    refused = [l for l in ocsf if l["class_uid"] == 3002]
    assert any(l.get("count") == 5 and l["status_id"] == 2 for l in refused), refused
    for uid, actions in sorted(seen.items()):
        print(f"  OCSF {uid} {defaults.class_spec_by_uid(uid).class_name}: {', '.join(sorted(actions))}")
    print(f"audit OCSF interop: all {len(ocsf)} exported events are valid OCSF 1.5.0 (ocsf-emitter's schema models)")


if __name__ == "__main__":
    main()
