"""`/metrics` of a live `moat demo` passes `promtool check metrics` (Debian's
`prometheus` package), in the default format a Prometheus server scrapes, and answers
an operator's questions: MCP calls by tool and outcome with latency, the audit writer's
queue, commits and unsigned events, each repository's indexing, and the process.

Usage: metrics_promtool.py path/to/moat   (run with the venv that has the `mcp` SDK)
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

from demo import start_demo
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def samples(text: str) -> list[tuple[str, dict, float]]:
    """Every sample: its name, labels and value."""
    found = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        found.append((match.group(1), labels, float(match.group(3))))
    return found


def value(found, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    return sum(v for n, l, v in found if n == name and all(l.get(k) == w for k, w in labels.items()))


async def mcp_traffic(url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with streamablehttp_client(f"{url}/mcp", headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for _ in range(3):
                found = await session.call_tool("search_code", {"query": "transfer validation", "limit": 3})
                assert not found.isError, found
            denied = await session.call_tool("repo_overview", {"repo": "someone-elses-repo"})
            assert denied.isError, denied


def scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url + "/metrics") as response:
        return response.headers["Content-Type"], response.read().decode()


def main() -> None:
    data = tempfile.mkdtemp(prefix="moat-metrics-")
    demo = start_demo(sys.argv[1], data)
    try:
        with open(os.path.join(data, "demo.json")) as f:
            demo_info = json.load(f)
        url = demo_info["url"]
        # Some traffic first, so every family has samples.
        for path in ("/healthz", "/api/v1/whoami", "/nowhere"):
            try:
                urllib.request.urlopen(url + path).close()
            except urllib.error.HTTPError:
                pass
        asyncio.run(mcp_traffic(url, demo_info["developer_token"]))
        content_type, text = scrape(url)
    finally:
        demo.terminate()
        demo.wait(timeout=10)
    assert content_type.startswith("text/plain; version=0.0.4"), content_type
    checked = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
    output = (checked.stdout + checked.stderr).decode()
    if checked.returncode != 0 or output.strip():
        raise SystemExit(f"promtool check metrics failed ({checked.returncode}):\n{output}\n--- scraped ---\n{text[:2000]}")

    found = samples(text)
    checks = [
        (value(found, "moat_mcp_calls_total", tool="search_code", outcome="ok") == 3, "MCP calls by tool and outcome"),
        (value(found, "moat_mcp_calls_total", tool="repo_overview", outcome="denied") == 1, "a refused MCP call is counted as denied"),
        (value(found, "moat_mcp_call_duration_seconds_count", tool="search_code") == 3, "MCP latency histogram per tool"),
        (value(found, "moat_mcp_call_duration_seconds_bucket", tool="search_code", le="+Inf") == 3, "MCP latency buckets"),
        (value(found, "moat_audit_events") >= 4, "audit log size"),
        (any(n == "moat_audit_queue_depth" for n, _, _ in found), "audit queue depth"),
        (value(found, "moat_audit_queue_capacity") > 0, "audit queue capacity"),
        (value(found, "moat_audit_commit_duration_seconds_count") >= 4, "audit commit latency"),
        (value(found, "moat_audit_events_since_checkpoint") == 0, "no event outside a signed checkpoint"),
        (value(found, "moat_audit_sequencer_leader") == 1, "the one writer of an embedded store appends the log"),
        (value(found, "moat_index_indexed", repo="acme-payments") == 1, "the demo repository is indexed"),
        (any(n == "moat_index_age_seconds" and l.get("repo") == "acme-payments" for n, l, _ in found), "index freshness per repository"),
        (value(found, "moat_index_last_run_failed", repo="acme-payments") == 0, "its last indexing run succeeded"),
        (value(found, "moat_process_resident_memory_bytes") > 1_000_000, "process RSS"),
        (value(found, "moat_process_open_fds") > 3, "open files"),
        (value(found, "moat_process_threads") >= 2, "threads"),
        (value(found, "moat_http_requests_total", route="unmatched") == 1, "an unmatched route is one label, not its path"),
        ("someone-elses-repo" not in text, "nothing a caller typed becomes a label"),
    ]
    failed = [what for ok, what in checks if not ok]
    if failed:
        raise SystemExit(f"metrics missing: {failed}\n--- scraped ---\n{text}")
    print(f"promtool: /metrics passes ({len(text.splitlines())} lines); {len(checks)} operator checks passed")


if __name__ == "__main__":
    main()
