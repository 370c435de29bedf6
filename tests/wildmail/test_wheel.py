"""``pip install`` of the built wheel gives a working ``wildmail`` outside the checkout.

The wheel is built from a copy of the tree, installed with its dependencies into a plain venv
in tmp_path, and every command below runs there with tmp_path as working directory, so the
checkout is not importable: templates, static files, the sample article and the migrations
must come from the installed package data.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO

SKIP_IN_COPY = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "*.db"
)


def _env() -> dict[str, str]:
    """This process's environment without anything that points Python or wildmail at the checkout."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("WILDMAIL_")}


def _run(*cmd: str | Path, cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child_commands(pid: int) -> list[list[str]]:
    """The command lines of the processes whose parent is ``pid`` (Linux /proc)."""
    commands = []
    for proc in Path("/proc").iterdir():
        try:
            status = (proc / "status").read_text()
            if f"\nPPid:\t{pid}\n" in status:
                commands.append((proc / "cmdline").read_text().split("\0")[:-1])
        except OSError:  # not a process, or it ended meanwhile
            continue
    return commands


def _wait_for(url: str, server: subprocess.Popen[str], timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, f"wildmail serve exited {server.returncode}"
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
def test_installed_wheel_works_outside_the_checkout(tmp_path: Path) -> None:
    src, dist, venv, site = (tmp_path / name for name in ("src", "dist", "venv", "site"))
    shutil.copytree(REPO, src, ignore=SKIP_IN_COPY)  # the build writes build/ and *.egg-info beside it
    site.mkdir()
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", src, "-w", dist, cwd=tmp_path)
    (wheel,) = dist.glob("wildmail-*.whl")
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)  # a plain venv, no system site
    python, wildmail = venv / "bin" / "python", venv / "bin" / "wildmail"
    # This pip installs the wheel alone into the new venv (faster than bootstrapping a pip there);
    # its dependencies come from the test environment's site-packages, named after the venv's own
    # by a .pth file (installing them again took about half a minute). A .pth file's paths are
    # plain path entries: the checkout's editable-install hook in there is not run.
    _run(
        sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile", "--no-deps", wheel,
        cwd=tmp_path,
    )  # fmt: skip
    (own_site,) = (venv / "lib").glob("python3*/site-packages")
    (own_site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = json.loads(
        _run(
            python,
            "-c",
            "import json, campaigns, templates, tracking, wildmail\n"
            "from importlib.resources import files\n"
            "print(json.dumps({'modules': [m.__file__ for m in (campaigns, templates, tracking, wildmail)],"
            " 'sample': str(files('campaigns') / 'samples' / 'amur-leopard.md')}))",
            cwd=site,
        )
    )
    site_packages = venv.resolve()
    for module in where["modules"]:
        assert Path(module).resolve().is_relative_to(site_packages), module
    sample = Path(where["sample"])
    assert sample.read_bytes() == (REPO / "campaigns" / "samples" / "amur-leopard.md").read_bytes()

    assert "campaign" in _run(wildmail, "--help", cwd=site)
    _run(wildmail, "init", cwd=site)
    assert (site / "wildmail.toml").is_file()
    upgraded = _run(wildmail, "db", "upgrade", cwd=site)
    newest = sorted((REPO / "wildmail" / "runtime" / "migrations" / "versions").glob("[0-9]*.py"))[-1]
    assert newest.name[:4] in upgraded, upgraded  # the migrations were found, up to the newest

    plan = json.loads(_run(wildmail, "campaign", "split", sample, "--json", cwd=site))
    assert len(plan) >= 2 and all(email["subject"] for email in plan)
    _run(wildmail, "subscribers", "list-create", "supporters", "--name", "Supporters", cwd=site)
    _run(wildmail, "campaign", "create", sample, "--name", "Amur leopard", "--list", "supporters", cwd=site)
    _run(wildmail, "campaign", "preview", "amur-leopard", "--out", site / "preview", cwd=site)
    html = sorted((site / "preview").glob("*.html"))
    assert len(html) == len(plan)
    first = html[0].read_text(encoding="utf-8")
    assert plan[0]["subject"] in first and "</html>" in first.lower()  # the MJML template rendered
    assert sorted((site / "preview").glob("*.txt"))[0].read_text(encoding="utf-8").strip()

    demo = site / "demo"
    demo.mkdir()
    _run(wildmail, "demo", "--subscribers", "20", "--weeks", "1", cwd=demo)  # reads the installed sample
    figures = json.loads((demo / "demo-output" / "figures.json").read_text(encoding="utf-8"))
    assert figures["campaign"]["slug"] == "amur-leopard" and figures["total"]["sent"] > 0

    port = _free_port()
    # The default event writer starts its child process (python -m wildmail.runtime.event_writer) at startup.
    server = subprocess.Popen(
        [str(wildmail), "serve", "--port", str(port)],
        cwd=site,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        css = _wait_for(f"{base}/static/wildmail.css", server)
        assert css.status_code == 200
        assert css.content == (REPO / "wildmail" / "web" / "static" / "wildmail.css").read_bytes()
        page = httpx.get(f"{base}/subscribe/supporters", timeout=5)
        assert page.status_code == 200 and "Supporters" in page.text and "<form" in page.text
        writer = [str(python), "-m", "wildmail.runtime.event_writer"]
        assert writer in _child_commands(server.pid), _child_commands(server.pid)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "Traceback" not in output, output
