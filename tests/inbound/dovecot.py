"""A private Dovecot IMAP server for ``wildmail inbound poll``: its own config, run, state and mail
directories in a temporary folder, plain IMAP on a loopback port, one passwd-file user.

Dovecot's master starts as root and drops privileges; the test skips, naming the reason, when not
root or when Dovecot is not installed (``.ci/run`` installs ``dovecot-imapd``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
MAIL_UID = 65534  # nobody


def unavailable() -> str | None:
    if not os.path.exists(DOVECOT):
        return "dovecot is not installed (.ci/run installs dovecot-imapd)"
    if os.geteuid() != 0:
        return "dovecot's master must be started as root"
    return None


@dataclass
class PrivateDovecot:
    port: int
    user: str = "bounces"
    password: str = "imap-test-password"
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="wildmail-dovecot-")))

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def start(self) -> PrivateDovecot:
        self.root.chmod(0o755)
        mail = self.root / "mail"
        mail.mkdir()
        os.chown(mail, MAIL_UID, MAIL_UID)
        (self.root / "users").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        self.config.write_text(
            f"""protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{mail}/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/users
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_UID} home={mail}/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
        )
        # The daemon keeps inherited pipes open: its output goes to a file.
        with (self.root / "start.out").open("wb") as out:
            done = subprocess.run([DOVECOT, "-c", str(self.config)], stdout=out, stderr=out, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(
                f"dovecot failed to start: {(self.root / 'start.out').read_text()}{self.log()}"
            )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not listen: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        subprocess.run([DOVECOT, "-c", str(self.config), "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
