"""The command line: a closed pipe ends a listing quietly; verify uses the configured witness by default, so a whole-database rollback is caught."""

import os
import shutil
import subprocess

from common import Moat, check

CONFIG = """
[org]
name = "Adversarial CLI"

[audit]
witness_files = ["{root}/worm/moat.checkpoints"]
"""


def run(binary, _standin):
    moat = Moat(binary, CONFIG)
    os.makedirs(os.path.join(moat.root, "worm"))
    for n in range(3):
        moat.run("user", "add", f"person{n}@example.com")
    # `moat user list --json | head -c 1`
    pipe = subprocess.Popen(
        [binary, "--config", moat.config, "user", "list", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=moat.env,
    )
    pipe.stdout.read(1)
    pipe.stdout.close()
    _, err = pipe.communicate(timeout=30)
    check(pipe.returncode == 0 and b"panicked" not in err, f"a closed pipe ends the listing quietly ({pipe.returncode})")

    # A copy of the database, more changes, the copy put back: a consistent, older log.
    db = os.path.join(moat.root, "moat.db")
    backup = db + ".bak"
    shutil.copy(db, backup)
    moat.run("user", "add", "later@example.com")
    shutil.copy(backup, db)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    verify = moat.run("audit", "verify", check_exit=False)
    output = verify.stdout + verify.stderr
    check(verify.returncode == 1, "verify fails after a whole-database rollback")
    check("moat.checkpoints" in output, "and names the witness it checked against")
