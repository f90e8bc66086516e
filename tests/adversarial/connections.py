"""Connections against a real moat serve: half-sent headers and silent connections are closed after the header timeout while everyone else is served."""

import time
import urllib.request

from common import Moat, check, raw_connect, wait_closed

CONFIG = """
[org]
name = "Adversarial Connections"

[server]
header_timeout = "2s"
"""


def run(binary, _standin):
    moat = Moat(binary, CONFIG)
    url = moat.serve()
    try:
        stalled = []
        for n in range(1000):
            sock = raw_connect(url)
            if n % 2 == 0:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            stalled.append(sock)
        started = time.time()
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            check(response.status == 200, "/healthz answers while 1,000 connections stall")
        check(time.time() - started < 0.5, f"at once ({time.time() - started:.3f} s)")
        started = time.time()
        closed = sum(wait_closed(sock, 8) for sock in stalled)
        check(closed == 1000, f"all {closed} stalled connections are closed after the header timeout")
        check(time.time() - started < 8, f"within {time.time() - started:.1f} s")
        for sock in stalled:
            sock.close()
    finally:
        moat.stop()
