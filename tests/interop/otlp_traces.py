"""Traces over OTLP: `moat serve` with `[server] otlp_endpoint` sends one span per
request, the policy decision as attributes, to an OTLP/HTTP receiver.

Usage: otlp_traces.py path/to/moat   (with opentelemetry-proto from PyPI in the venv)

The receiver is a stand-in for the company's OpenTelemetry Collector: an HTTP server on
loopback that decodes what it is sent with the official OTLP protobuf definitions
(`opentelemetry-proto`) and answers as OTLP/HTTP specifies. A demo's data directory is
served with the endpoint added; an admin API read (allowed), an MCP search (allowed) and
an MCP read of a repository that is not connected (denied) must each arrive as a span
with method, path and status or tool, and `moat.decision`, `moat.rule`, `moat.user`. At
shutdown the last batch is flushed. Without the setting, nothing is sent.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from demo import start_demo
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

SPANS: list[dict] = []


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Collector(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        assert self.path == "/v1/traces", self.path
        assert self.headers.get("Content-Type") == "application/x-protobuf", self.headers
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    SPANS.append({
                        "name": span.name,
                        "service": resource.get("service.name"),
                        "attributes": {a.key: value(a.value) for a in span.attributes},
                        "duration_ms": (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6,
                    })
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def serve(moat: str, config: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [moat, "--config", config, "serve", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, MOAT_LOG="info"),
    )
    deadline = time.time() + 60
    for line in process.stdout:
        if "moat listening on " in line:
            url = line.split("moat listening on ", 1)[1].split()[0].strip()
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return process, url if url.startswith("http") else f"http://{url}"
        assert time.time() < deadline, "moat serve did not start"
    raise SystemExit(f"moat serve exited: {process.wait()}")


async def mcp_calls(url: str, token: str) -> None:
    async with streamablehttp_client(f"{url}/mcp", headers={"Authorization": f"Bearer {token}"}) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            found = await session.call_tool("search_code", {"query": "transfer validation", "limit": 2})
            assert not found.isError, found
            denied = await session.call_tool("repo_overview", {"repo": "someone-elses-repo"})
            assert denied.isError, denied


def main() -> None:
    moat = os.path.abspath(sys.argv[1])
    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_port}/v1/traces"
    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "demo")
        demo = start_demo(moat, data)
        with open(os.path.join(data, "demo.json")) as f:
            info = json.load(f)
        demo.terminate()
        demo.wait(timeout=30)
        config = os.path.join(data, "moat.toml")

        # Off by default: the demo's own configuration sends nothing.
        server, url = serve(moat, config)
        urllib.request.urlopen(urllib.request.Request(f"{url}/api/v1/users", headers={"Authorization": f"Bearer {info['admin_token']}"})).close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        assert SPANS == [], SPANS

        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace("[server]\n", f'[server]\notlp_endpoint = "{endpoint}"\n', 1))
        server, url = serve(moat, config)
        try:
            urllib.request.urlopen(urllib.request.Request(f"{url}/api/v1/users", headers={"Authorization": f"Bearer {info['admin_token']}"})).close()
            asyncio.run(mcp_calls(url, info["developer_token"]))
        finally:
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0
    collector.shutdown()

    def find(name, **attributes):
        return [s for s in SPANS if s["name"] == name and all(s["attributes"].get(k) == v for k, v in attributes.items())]

    assert all(s["service"] == "moat" for s in SPANS), SPANS
    users = find("request", **{"url.path": "/api/v1/users", "http.request.method": "GET", "moat.decision": "allow"})
    assert users and users[0]["attributes"]["http.response.status_code"] == 200, SPANS
    assert users[0]["attributes"]["moat.user"].startswith("usr_"), users
    search = find("mcp.call", **{"mcp.tool": "search_code", "moat.decision": "allow"})
    assert search and search[0]["attributes"]["moat.user"].startswith("usr_"), SPANS
    denied = find("mcp.call", **{"mcp.tool": "repo_overview", "moat.decision": "deny"})
    assert denied and denied[0]["attributes"].get("moat.rule") == "access", SPANS
    assert find("request", **{"url.path": "/mcp"}), "the MCP HTTP requests have their own spans"
    names = {s["name"] for s in SPANS}
    assert names <= {"request", "mcp.call"}, f"only requests and tool calls are exported: {names}"
    print(f"OTLP traces: {len(SPANS)} spans received; decisions on the admin API and MCP calls")


if __name__ == "__main__":
    main()
