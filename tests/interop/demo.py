"""Starts a real `moat demo` for the interop tests: on a free port, in a given data
directory; returns once `demo.json` (URL and tokens) is written."""

import os
import subprocess
import time


def start_demo(moat: str, data: str) -> subprocess.Popen:
    env = dict(os.environ, MOAT_LOG="warn")
    process = subprocess.Popen(
        [moat, "demo", "--listen", "127.0.0.1:0", "--data-dir", data],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(data, "demo.json")):
        if process.poll() is not None:
            raise SystemExit(f"moat demo exited: {process.stderr.read().decode()}")
        if time.time() > deadline:
            raise SystemExit("moat demo did not write demo.json")
        time.sleep(0.1)
    time.sleep(0.3)
    return process
