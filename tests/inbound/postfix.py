"""A private Postfix instance for the loop test: its own config, queue and data directories in a
temporary folder, listening on a loopback port; ``loop.test`` is a virtual mailbox domain whose
unknown users are accepted and then bounced with a real DSN (``smtpd_reject_unlisted_recipient =
no``), and mail for the bounce domain is relayed to wildmail's listener.

Postfix's master must start as root (it creates its queue and drops to ``mail_owner``); the test
skips, naming the reason, when not root or when Postfix is not installed (``.ci/run`` installs it).
No chroot (every service runs with chroot ``n``), no system-wide instance touched, no postmulti.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
MASTERS = (Path("/etc/postfix/master.cf"), Path("/usr/share/postfix/master.cf.dist"))
DEFAULT_MASTER = next((p for p in MASTERS if p.exists()), MASTERS[0])


def unavailable() -> str | None:
    """Why the private instance cannot run here, or None."""
    if not os.path.exists(POSTFIX) or not DEFAULT_MASTER.exists():
        return "postfix is not installed (.ci/run installs it)"
    if os.geteuid() != 0:
        return "postfix's master must be started as root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no 'postfix' user (install the postfix package)"
    return None


@dataclass
class PrivatePostfix:
    root: Path
    port: int
    bounce_domain: str
    bounce_port: int
    users: tuple[str, ...]

    @property
    def config(self) -> Path:
        return self.root / "etc"

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [POSTFIX, "-c", str(self.config), *args], capture_output=True, text=True, timeout=60
        )

    def start(self) -> PrivatePostfix:
        etc, queue, data, mail = (self.root / d for d in ("etc", "queue", "data", "mail"))
        for d in (etc, queue, data, mail):
            d.mkdir(parents=True, exist_ok=True)
        owner = pwd.getpwnam("postfix")
        self.root.chmod(0o755)  # the daemons run as mail_owner and must reach their directories
        for d in (mail, data):
            os.chown(d, owner.pw_uid, owner.pw_gid)
        (etc / "vmailbox").write_text("".join(f"{u}@loop.test {u}/\n" for u in self.users))
        (etc / "transport").write_text(f"{self.bounce_domain} smtp:[127.0.0.1]:{self.bounce_port}\n")
        (etc / "main.cf").write_text(
            f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.loop.test
mydomain = loop.test
myorigin = loop.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = loop.test
virtual_mailbox_maps = texthash:{etc}/vmailbox
virtual_mailbox_base = {mail}
virtual_minimum_uid = 1
virtual_uid_maps = static:{owner.pw_uid}
virtual_gid_maps = static:{owner.pw_gid}
transport_maps = texthash:{etc}/transport
smtp_dns_support_level = disabled
smtputf8_enable = no
biff = no
maillog_file = {self.root}/maillog
maillog_file_prefixes = {self.root}
notify_classes =
"""
        )
        (etc / "master.cf").write_text(_master(self.port))
        done = self._postfix("start")
        if done.returncode != 0:
            raise RuntimeError(f"postfix start failed: {done.stdout}{done.stderr}{self.log()}")
        return self

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self._postfix("stop")


def _master(port: int) -> str:
    """The packaged master.cf with chroot off everywhere and smtpd on ``port`` only."""
    out = []
    for line in DEFAULT_MASTER.read_text().splitlines():
        fields = line.split()
        if not line or line[0] in "# \t" or len(fields) < 8:
            out.append(line)
            continue
        if fields[0] in ("smtp", "submission", "submissions", "smtps") and fields[1] == "inet":
            continue
        fields[4] = "n"
        out.append(" ".join(fields))
    out.append(f"127.0.0.1:{port} inet n - n - - smtpd")
    return "\n".join(out) + "\n"


def delivered(root: Path, user: str) -> int:
    """How many messages the virtual mailbox of ``user`` holds."""
    box = root / "mail" / user
    return sum(1 for sub in ("new", "cur") for _ in (box / sub).glob("*")) if box.exists() else 0


def queue_ids(log: str) -> list[str]:
    return re.findall(r"postfix/\w+\[\d+\]: ([0-9A-F]{6,}):", log)
