"""`/metrics` of a live `moat demo` passes `promtool check metrics` (Debian's
`prometheus` package), in the default format a Prometheus server scrapes.

Usage: metrics_promtool.py path/to/moat
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request

from demo import start_demo


def main() -> None:
    data = tempfile.mkdtemp(prefix="moat-metrics-")
    demo = start_demo(sys.argv[1], data)
    try:
        with open(os.path.join(data, "demo.json")) as f:
            url = json.load(f)["url"]
        # Some traffic first, so every family has samples.
        for path in ("/healthz", "/api/v1/whoami", "/nowhere"):
            try:
                urllib.request.urlopen(url + path).close()
            except urllib.error.HTTPError:
                pass
        with urllib.request.urlopen(url + "/metrics") as response:
            content_type = response.headers["Content-Type"]
            text = response.read()
    finally:
        demo.terminate()
        demo.wait(timeout=10)
    assert content_type.startswith("text/plain; version=0.0.4"), content_type
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
    output = (checked.stdout + checked.stderr).decode()
    if checked.returncode != 0 or output.strip():
        raise SystemExit(f"promtool check metrics failed ({checked.returncode}):\n{output}\n--- scraped ---\n{text.decode()[:2000]}")
    print(f"promtool: /metrics passes ({len(text.splitlines())} lines)")


if __name__ == "__main__":
    main()
