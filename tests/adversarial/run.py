"""The adversarial suite: Moat's guarantees tried from outside, as an attacker and a
reviewer would, against a real `moat serve` with real clients (the official MCP
Python SDK, the official `openai` and `anthropic` SDKs, raw sockets, the CLI).

Usage: run.py MOAT_BINARY STANDIN_BINARY. Each module's `run(moat, standin)` raises on
the first guarantee that does not hold.
"""

import sys
import time
import traceback

import cli_edges
import connections
import gateway_edges
import mcp_edges

MODULES = [mcp_edges, gateway_edges, connections, cli_edges]


def main():
    moat, standin = sys.argv[1], sys.argv[2]
    failed = []
    for module in MODULES:
        started = time.time()
        print(f"== {module.__name__}: {module.__doc__.strip().splitlines()[0]}")
        try:
            module.run(moat, standin)
            print(f"   passed in {time.time() - started:.1f} s")
        except Exception:
            traceback.print_exc()
            failed.append(module.__name__)
    if failed:
        raise SystemExit(f"adversarial suite: failed: {', '.join(failed)}")
    print("adversarial suite: every guarantee held")


if __name__ == "__main__":
    main()
