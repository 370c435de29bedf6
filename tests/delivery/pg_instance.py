"""A private PostgreSQL server for crash tests: ``initdb`` in a temporary directory, a free port.

The shared test server is never touched. PostgreSQL refuses to run as root, so when the tests
run as root the server runs as the ``postgres`` user (``runuser``), in a directory it owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from wildmail.runtime.smtp_sink import free_port

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
TOOLS = ("initdb", "pg_ctl")


def find_bin() -> Path | None:
    """The newest PostgreSQL binary directory holding ``initdb`` and ``pg_ctl``, if any."""
    for directory in BIN_DIRS:
        if all((directory / tool).exists() for tool in TOOLS):
            return directory
    found = [shutil.which(tool) for tool in TOOLS]
    if all(found):
        return Path(str(found[0])).parent
    return None


class PgInstance:
    """One throwaway server; :meth:`crash` is ``pg_ctl stop -m immediate`` (no checkpoint, no
    WAL flush: the server processes just exit), :meth:`start` brings it back through recovery."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="wm-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        # A server stopped with ``-m immediate`` loses only WAL it had not yet written to the
        # kernel; what it wrote survives in the page cache, so fsync would add nothing to this test.
        options = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.root}'",
            "fsync = off",
            "shared_buffers = 32MB",
            "max_connections = 40",
        ]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(options) + "\n")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bin / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.root,
        )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def crash(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def destroy(self) -> None:
        subprocess.run(
            [*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)
