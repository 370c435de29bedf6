"""The README's tour, its shell blocks taken literally from README.md and run in order in a fresh
folder (as pasted into a terminal in a clone whose ``.venv`` is installed), against the real SMTP
server the tour starts (``wildmail dev-smtp``): the first campaign email must arrive."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from wildmail.runtime.smtp_sink import free_port

ROOT = Path(__file__).resolve().parents[2]
STAMP = ROOT / ".venv" / ".installed"


def tour_blocks(readme: str) -> list[str]:
    """The ```sh blocks of the "A 5-minute tour" section, in order."""
    section = readme.split("## A 5-minute tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def test_the_tour_has_the_steps_a_new_user_needs() -> None:
    script = "\n".join(tour_blocks((ROOT / "README.md").read_text(encoding="utf-8")))
    steps = [
        "make .venv/.installed",
        ". .venv/bin/activate",
        "wildmail init",
        "wildmail dev-smtp &",
        "wildmail subscribers list-create supporters",
        "wildmail subscribers import people.csv --list supporters",
        "wildmail campaign create campaigns/samples/amur-leopard.md --name amur-leopard --list supporters",
        "wildmail campaign schedule amur-leopard --now",
        "wildmail scheduler --once",
        "wildmail worker --until-idle",
    ]
    positions = [script.index(step) for step in steps]
    assert positions == sorted(positions), "the tour uses something before it is created"


def test_the_readme_tour_delivers_the_first_email(tmp_path: Path) -> None:
    if not STAMP.exists() or shutil.which("make") is None or shutil.which("bash") is None:
        pytest.skip("needs make, bash and the installed .venv (make .venv/.installed)")
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(ROOT / ".venv")
    for name in ("Makefile", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, clone / name)
    shutil.copytree(ROOT / "campaigns" / "samples", clone / "campaigns" / "samples")
    installed = STAMP.stat().st_mtime
    os.utime(clone / "pyproject.toml", (installed - 1, installed - 1))  # as installed: make has nothing to do

    script = "set -euo pipefail\n" + "\n".join(tour_blocks((clone / "README.md").read_text(encoding="utf-8")))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WILDMAIL_", "VIRTUAL_ENV"))}
    env["WILDMAIL_SMTP_PORT"] = str(free_port())  # the environment wins over the tour's 2525: no clash
    env["COLUMNS"] = "100"
    log = tmp_path / "tour.log"
    with log.open("w") as out:  # a file, not a pipe: dev-smtp keeps its output open after bash ends
        proc = subprocess.Popen(
            ["bash", "-c", script],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # dev-smtp runs in the background: the whole group is stopped below
        )
        try:
            proc.wait(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    output = log.read_text()
    assert proc.returncode == 0, output[-4000:]
    assert "Traceback" not in output
    assert "email 1 is due now" in output and "tick: queued 2 email(s)" in output, output[-4000:]
    mail = [
        message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted((clone / "dev-mail").glob("*.eml"))
    ]
    campaign = {str(m["To"]): str(m["Subject"]) for m in mail if not str(m["Subject"]).startswith("[TEST]")}
    assert sorted(campaign) == ["Ada Lovelace <ada@example.org>", "Bo Chen <bo@example.org>"], campaign
    tests = [m for m in mail if str(m["Subject"]).startswith("[TEST]")]
    assert tests and all(str(m["To"]).endswith("you@example.org") for m in tests)
