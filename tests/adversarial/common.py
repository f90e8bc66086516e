"""What the adversarial tests share: real git repositories, the real `moat` binary
(`moat serve` on a free port, CLI commands), the stand-in vendor, and checks that
print what they held."""

import json
import os
import socket
import subprocess
import tempfile
import time

GIT_ENV = dict(
    os.environ,
    GIT_AUTHOR_NAME="t",
    GIT_AUTHOR_EMAIL="t@example.com",
    GIT_COMMITTER_NAME="t",
    GIT_COMMITTER_EMAIL="t@example.com",
)


def check(condition, message):
    if not condition:
        raise AssertionError(f"FAIL: {message}")
    print(f"  ok: {message}")


def git_repo(root, name, files):
    """A git repository `root/name` with `files` ({path: text}) committed."""
    path = os.path.join(root, name)
    for relative, text in files.items():
        full = os.path.join(path, relative)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "files"]):
        subprocess.run(["git", *args], cwd=path, env=GIT_ENV, check=True)
    return path


class Moat:
    """One deployment: a data directory with its moat.toml, driven through the binary."""

    def __init__(self, binary, config_text):
        self.binary = binary
        self.root = tempfile.mkdtemp(prefix="moat-adversarial-")
        self.config = os.path.join(self.root, "moat.toml")
        self.env = dict(
            os.environ,
            MOAT_LOG="warn",
            STANDIN_ANTHROPIC_KEY="sk-ant-org-key",
            STANDIN_OPENAI_KEY="sk-org-key",
        )
        self.env.pop("MOAT_OPERATOR", None)
        with open(self.config, "w") as f:
            f.write(config_text.replace("{root}", self.root))
        self.server = None
        self.url = None

    def run(self, *args, check_exit=True):
        result = subprocess.run(
            [self.binary, "--config", self.config, *args],
            capture_output=True,
            text=True,
            env=self.env,
        )
        if check_exit and result.returncode != 0:
            raise AssertionError(f"moat {' '.join(args)} failed: {result.stderr}")
        return result

    def json(self, *args):
        return json.loads(self.run(*args, "--json").stdout)

    def token(self, email, scopes):
        return self.json("token", "issue", "--user", email, "--scope", scopes)["secret"]

    def serve(self):
        self.server, self.url = start(
            [self.binary, "--config", self.config, "serve", "--listen", "127.0.0.1:0"],
            self.env,
            "moat listening on ",
        )
        return self.url

    def stop(self):
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=20)
            self.server = None

    def files(self):
        """Every file Moat wrote (data directory, exports, witnesses), as bytes."""
        out = {}
        for base, _, names in os.walk(self.root):
            if "/repos/" in base + "/" or base.endswith("/repos"):
                continue
            for name in names:
                path = os.path.join(base, name)
                with open(path, "rb") as f:
                    out[path] = f.read()
        return out


def start(command, env, prefix):
    """Starts a server that prints `<prefix>http://ADDR`; returns (process, url)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    line = process.stdout.readline()
    if not line.startswith(prefix):
        process.kill()
        raise AssertionError(f"{command[0]} did not start: {line!r} {process.stderr.read()}")
    return process, line[len(prefix) :].strip()


def address(url):
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def raw_connect(url):
    sock = socket.create_connection(address(url), timeout=30)
    return sock


def wait_closed(sock, seconds):
    """True if the server closes `sock` within `seconds`."""
    sock.settimeout(seconds)
    deadline = time.time() + seconds
    try:
        while time.time() < deadline:
            data = sock.recv(4096)
            if not data:
                return True
    except (socket.timeout, TimeoutError):
        return False
    except OSError:
        return True
    return False
