"""Forwarding the audit log to a SIEM, judged by real receivers: Debian's rsyslog
(RFC 5424 over TLS, the gtls driver) and a local stand-in for Splunk's HTTP Event
Collector (the documented wire format: `Authorization: Splunk <token>`, concatenated
event objects, `{"text":"Success","code":0}`), plus the file sink. Load runs through
`moat serve` while the server, rsyslog and the collector are each killed mid-stream and
restarted; afterwards every event of the log has reached every sink, each exactly as
`moat audit export` writes it.

Usage: audit_sinks.py path/to/moat
"""

import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request

HEC_TOKEN = "hec-6c1f0e1e-5b57-4f4e-9a55-0d7c5fbd1a2e"
RSYSLOGD = "/usr/sbin/rsyslogd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, **kwargs):
    result = subprocess.run(list(args), capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {result.stderr}")
    return result.stdout


def make_certificates(root):
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    os.makedirs(root, exist_ok=True)
    ca_key, ca, key, csr, cert = (os.path.join(root, n) for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", "/CN=Moat test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext = os.path.join(root, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


class Rsyslog:
    """rsyslogd in the foreground with only this configuration: imtcp over TLS (gtls),
    every message's MSG (the event's JSON) appended to a file."""

    def __init__(self, root, port, ca, cert, key):
        self.root, self.port = root, port
        self.out = os.path.join(root, "rsyslog-received.log")
        work = os.path.join(root, "rsyslog-work")
        os.makedirs(work, exist_ok=True)
        self.conf = os.path.join(root, "rsyslog.conf")
        with open(self.conf, "w") as f:
            f.write(textwrap.dedent(f"""\
                global(workDirectory="{work}" maxMessageSize="256k"
                       defaultNetstreamDriver="gtls"
                       defaultNetstreamDriverCAFile="{ca}"
                       defaultNetstreamDriverCertFile="{cert}"
                       defaultNetstreamDriverKeyFile="{key}")
                main_queue(queue.type="Direct")
                module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
                template(name="moatjson" type="string" string="%msg%\\n")
                ruleset(name="moat" queue.type="Direct") {{
                    action(type="omfile" file="{self.out}" template="moatjson" flushOnTXEnd="on" asyncWriting="off")
                }}
                input(type="imtcp" port="{port}" ruleset="moat")
                """))
        self.process = None

    def start(self):
        pid = os.path.join(self.root, "rsyslogd.pid")
        self.process = subprocess.Popen([RSYSLOGD, "-n", "-f", self.conf, "-i", pid],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"rsyslogd exited: {self.process.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("rsyslogd did not listen")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def seqs(self):
        return seqs_of_lines(open(self.out).read().splitlines() if os.path.exists(self.out) else [])


def seqs_of_lines(lines):
    events = {}
    for line in lines:
        line = line.strip()
        if line:
            event = json.loads(line)
            events.setdefault(event["seq"], []).append(event)
    return events


def collector_main(port, path):
    """The collector's own process, so that the test can SIGKILL it mid-request: each
    batch is appended to `path` (one event per line) before it is acknowledged, as a
    collector that has taken responsibility for it would."""
    out = open(path, "a")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path != "/services/collector/event" or self.headers.get("Authorization") != f"Splunk {HEC_TOKEN}":
                self.send_response(401)
                self.end_headers()
                self.wfile.write(b'{"text":"Invalid token","code":4}')
                return
            decoder, text, at, batch = json.JSONDecoder(), body.decode(), 0, []
            while at < len(text):
                while at < len(text) and text[at].isspace():
                    at += 1
                if at == len(text):
                    break
                item, at = decoder.raw_decode(text, at)
                assert item["sourcetype"] == "moat:audit" and isinstance(item["time"], (int, float)), item
                batch.append(item["event"])
            with lock:
                out.write("".join(json.dumps(event) + "\n" for event in batch))
                out.flush()
            answer = b'{"text":"Success","code":0}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    lock = threading.Lock()
    http.server.ThreadingHTTPServer.allow_reuse_address = True
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


class Collector:
    """A stand-in for Splunk's HTTP Event Collector on loopback (Splunk itself is not
    something this machine can run): the documented request and answer shapes, in a
    process of its own that is killed like any other receiver."""

    def __init__(self, port, path):
        self.port, self.path, self.process = port, path, None

    def start(self):
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--collector", str(self.port), self.path])
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.time() > deadline or self.process.poll() is not None:
                    raise SystemExit("the HEC stand-in did not start")
                time.sleep(0.05)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def events(self):
        """Every event it acknowledged or had written when it was killed, by seq. A
        line cut by the kill (never acknowledged, so sent again) is not an event."""
        events = {}
        for line in open(self.path).read().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            events.setdefault(event["seq"], []).append(event)
        return events


class Moat:
    def __init__(self, binary, config_path, env):
        self.binary, self.config_path, self.env = binary, config_path, env
        self.server, self.url = None, None

    def cli(self, *args):
        return run(self.binary, "--config", self.config_path, *args, env=self.env)

    def serve(self):
        self.server = subprocess.Popen([self.binary, "--config", self.config_path, "serve", "--listen", "127.0.0.1:0"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
        line = self.server.stdout.readline()
        if not line.startswith("moat listening on "):
            raise SystemExit(f"moat serve did not start: {line!r} {self.server.stderr.read()}")
        self.url = line.split("moat listening on ", 1)[1].strip()

    def kill(self):
        self.server.send_signal(signal.SIGKILL)
        self.server.wait()

    def stop(self):
        self.server.terminate()
        self.server.wait(timeout=30)


def load(url, token, seconds, stop_early=None):
    """GET /api/v1/users from two connections for `seconds` (each an audited read);
    stops quietly when the server goes away."""
    host = url.split("://", 1)[1]
    done = {"requests": 0}

    def worker():
        connection = http.client.HTTPConnection(host, timeout=10)
        end = time.time() + seconds
        while time.time() < end and not (stop_early and stop_early.is_set()):
            try:
                connection.request("GET", "/api/v1/users", headers={"Authorization": f"Bearer {token}"})
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    done["requests"] += 1
            except (OSError, http.client.HTTPException):
                return

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    return threads, done


def main():
    binary = os.path.abspath(sys.argv[1])
    root = tempfile.mkdtemp(prefix="moat-sinks-")
    ca, cert, key = make_certificates(root)
    # A CA that did not sign rsyslog's certificate: a sink trusting it must deliver
    # nothing (the receiver could be anyone).
    other_ca = make_certificates(os.path.join(root, "other"))[0]
    syslog_port, hec_port = free_port(), free_port()
    rsyslog = Rsyslog(root, syslog_port, ca, cert, key)
    collector = Collector(hec_port, os.path.join(root, "hec-received.jsonl"))
    archive = os.path.join(root, "archive.jsonl")
    config_path = os.path.join(root, "moat.toml")
    with open(config_path, "w") as f:
        f.write(textwrap.dedent(f"""\
            [org]
            name = "Sinks Interop"

            [[audit.sinks]]
            name = "siem"
            kind = "syslog"
            address = "127.0.0.1:{syslog_port}"
            ca_file = {json.dumps(ca)}

            [[audit.sinks]]
            name = "splunk"
            kind = "http"
            url = "http://127.0.0.1:{hec_port}/services/collector/event"
            format = "hec"
            token_env = "HEC_TOKEN"

            [[audit.sinks]]
            name = "impostor-check"
            kind = "syslog"
            address = "127.0.0.1:{syslog_port}"
            ca_file = {json.dumps(other_ca)}

            [[audit.sinks]]
            name = "archive"
            kind = "file"
            path = {json.dumps(archive)}
            """))
    env = dict(os.environ, MOAT_LOG="warn", HEC_TOKEN=HEC_TOKEN)
    moat = Moat(binary, config_path, env)
    moat.cli("user", "add", "admin@example.com", "--role", "admin")
    token = json.loads(moat.cli("token", "issue", "--user", "admin@example.com", "--scope", "admin", "--json"))["secret"]

    rsyslog.start()
    collector.start()
    moat.serve()
    try:
        # 1. The server is killed (SIGKILL) mid-stream, then started again.
        threads, first = load(moat.url, token, 3)
        time.sleep(1.5)
        moat.kill()
        for t in threads:
            t.join()
        moat.serve()
        # 2. rsyslog and the collector are killed (SIGKILL) mid-stream, then both return.
        threads, second = load(moat.url, token, 6)
        time.sleep(1.5)
        rsyslog.kill()
        collector.kill()
        time.sleep(1.5)
        down = {s["name"]: s["lag_events"] for s in json.loads(moat.cli("audit", "sinks", "--json"))["sinks"]}
        assert down["siem"] > 0 and down["splunk"] > 0, f"events wait while the receivers are down: {down}"
        rsyslog.start()
        collector.start()
        for t in threads:
            t.join()
        size = wait_until_delivered(moat)
        metrics = urllib.request.urlopen(moat.url + "/metrics").read().decode()
        moat.stop()
    finally:
        if moat.server.poll() is None:
            moat.kill()
        if rsyslog.process.poll() is None:
            rsyslog.kill()
        if collector.process.poll() is None:
            collector.kill()
    print(f"  load: {first['requests'] + second['requests']} audited requests; the log holds {size} events")
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("moat_audit_sink")}
    for sink in ("siem", "splunk"):
        kind = "syslog" if sink == "siem" else "http"
        failures = samples[f'moat_audit_sink_failures_total{{sink="{sink}",kind="{kind}"}}']
        assert failures > 0, f"{sink}: the receiver's absence shows as failed deliveries: {samples}"
        assert samples[f'moat_audit_sink_lag_events{{sink="{sink}",kind="{kind}"}}'] == 0
    impostor = samples['moat_audit_sink_delivered_events_total{sink="impostor-check",kind="syslog"}']
    assert impostor == 0 and samples['moat_audit_sink_failing{sink="impostor-check",kind="syslog"}'] == 1, samples
    impostor_lag = samples['moat_audit_sink_lag_events{sink="impostor-check",kind="syslog"}']
    print(f"  a sink trusting another CA delivered nothing to rsyslog and reports failing (lag {impostor_lag:.0f})")

    exported = os.path.join(root, "export.jsonl")
    moat.cli("audit", "export", "--format", "jsonl", "--out", exported)
    expected = {e["seq"]: e for e in (json.loads(l) for l in open(exported).read().splitlines() if l.strip())}
    received = {
        "syslog (rsyslog, TLS)": rsyslog.seqs(),
        "http (HEC)": collector.events(),
        "file": seqs_of_lines(open(archive).read().splitlines()),
    }
    for sink, events in received.items():
        missing = sorted(set(expected) - set(events))
        assert not missing, f"{sink}: {len(missing)} events never arrived, first {missing[:10]}"
        for seq, copies in events.items():
            for copy in copies:
                assert copy == expected[seq], f"{sink}: event {seq} differs from the export:\n{copy}\n{expected[seq]}"
        repeats = sum(len(c) - 1 for c in events.values())
        print(f"  {sink}: all {len(expected)} events arrived, each as exported ({repeats} sent twice across the kills)")
    moat.cli("audit", "verify")
    print("audit sinks interop: all checks passed")


def wait_until_delivered(moat):
    deadline = time.time() + 120
    while True:
        status = json.loads(moat.cli("audit", "sinks", "--json"))
        size = status["log_size"]
        if all(s["next_seq"] == size for s in status["sinks"] if s["name"] != "impostor-check"):
            return size
        if time.time() > deadline:
            raise SystemExit(f"the sinks did not catch up: {status}")
        time.sleep(0.2)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--collector"]:
        collector_main(int(sys.argv[2]), sys.argv[3])
    else:
        main()
