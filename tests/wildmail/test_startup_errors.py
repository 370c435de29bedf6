"""Every role turns each broken setting into one line naming the key as the user wrote it (file
key or environment variable), exit 2 for a mistake and 1 for an operational failure, never a
traceback. Each case runs the real console script in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from wildmail.runtime.smtp_sink import free_port

ROLES = [
    ["serve", "--port", "0"],
    ["worker"],
    ["worker", "--concurrency", "2"],
    ["worker", "--until-idle"],
    ["run", "--port", "0"],
    ["scheduler"],
    ["scheduler", "--once"],
    ["stats"],
]
NEEDS_SECRET = {"serve", "worker", "run", "scheduler"}
GOOD_KEY = "a-strong-test-key-3f9a0c7d51e2b846ad07c3e9"
PASSWORD = "pw-must-not-show"


def _script() -> list[str]:
    script = Path(sys.executable).parent / "wildmail"
    return [str(script)] if script.exists() else [sys.executable, "-m", "wildmail.cli"]


def _cases(tmp: Path) -> list[tuple[str, str, dict[str, str | None], int, str]]:
    """(case id, settings file text or '', environment, exit code, text the one line contains)."""
    cfg = tmp / "wildmail.toml"
    closed = free_port()
    return [
        ("tls-in-file", 'smtp_tls = "maybe"\n', {}, 2, f"'smtp_tls' in {cfg}: expected none, starttls"),
        ("tls-in-env", "", {"WILDMAIL_SMTP_TLS": "maybe"}, 2, "WILDMAIL_SMTP_TLS: expected none, starttls"),
        ("port-in-file", 'smtp_port = "twenty"\n', {}, 2, f"'smtp_port' in {cfg}: expected int"),
        ("port-in-env", "", {"WILDMAIL_SMTP_PORT": "70000"}, 2, "WILDMAIL_SMTP_PORT: 70000 is not a port"),
        ("base-url", 'base_url = "news.example.org"\n', {}, 2, f"'base_url' in {cfg}: expected an http(s)"),
        ("zone", "", {"WILDMAIL_DEFAULT_TIMEZONE": "Mars/Base"}, 2, "WILDMAIL_DEFAULT_TIMEZONE: unknown"),
        (
            "dkim-file",
            f'dkim_selector = "s1"\ndkim_private_key_file = "{tmp}/none.pem"\n',
            {},
            2,
            f"'dkim_private_key_file' in {cfg}: cannot read",
        ),
        ("bad-toml", "smtp_port = = 3\n", {}, 2, f"{cfg}: not valid TOML"),
        ("unknown-key", "smtp_prot = 25\n", {}, 2, f"{cfg}: unknown setting 'smtp_prot'"),
        (
            "config-missing",
            "",
            {"WILDMAIL_CONFIG": str(tmp / "absent.toml")},
            2,
            "WILDMAIL_CONFIG: settings file",
        ),
        (
            "db-no-scheme",
            'database_url = "wildmail.db"\n',
            {"WILDMAIL_DATABASE_URL": None},
            2,
            f"'database_url' in {cfg}: expected a URL",
        ),
        (
            "db-driver",
            "",
            {"WILDMAIL_DATABASE_URL": f"mysql://u:{PASSWORD}@h/db"},
            2,
            "WILDMAIL_DATABASE_URL: cannot use 'mysql://u:***@h/db'",
        ),
        (
            "db-unreachable",
            f'database_url = "postgresql+psycopg://u:{PASSWORD}@127.0.0.1:{closed}/x"\n',
            {"WILDMAIL_DATABASE_URL": None},
            1,
            f"cannot open the database postgresql+psycopg://u:***@127.0.0.1:{closed}/x ('database_url' in",
        ),
        (
            "db-folder",
            "",
            {"WILDMAIL_DATABASE_URL": f"sqlite:///{tmp}/no/such/folder/w.db"},
            1,
            "cannot open the database sqlite:///",
        ),
        ("secret-missing", "", {"WILDMAIL_SECRET_KEY": None}, 2, "WILDMAIL_SECRET_KEY (or 'secret_key' in"),
        (
            "secret-weak-file",
            'secret_key = "k9x"\n',
            {"WILDMAIL_SECRET_KEY": None},
            2,
            f"'secret_key' in {cfg}: too short",
        ),
    ]


# Every role reads its settings through one loader; every role meets these cases (a file key, an
# environment variable, an operational failure, the secret), and the other cases meet a
# command-line role, a long-running role and the web server (8 roles x 16 cases took 4 CPU-minutes).
EVERY_ROLE = {"tls-in-file", "port-in-env", "db-unreachable", "secret-missing"}
SOME_ROLES = [["stats"], ["worker", "--concurrency", "2"], ["run", "--port", "0"]]


def _roles_for(case: str) -> list[list[str]]:
    return ROLES if case in EVERY_ROLE else SOME_ROLES


def _run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int | None, str, str]:
    proc = subprocess.Popen(
        [*_script(), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err
    return proc.returncode, out, err


@pytest.mark.parametrize("case", [c[0] for c in _cases(Path("/x"))])
def test_every_role_reports_a_broken_setting_in_one_line(case: str, tmp_path: Path) -> None:
    ((name, text, extra, code, expected),) = [c for c in _cases(tmp_path) if c[0] == case]
    cfg = tmp_path / "wildmail.toml"
    cfg.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WILDMAIL_")}
    env.update(
        COLUMNS="400",
        WILDMAIL_CONFIG=str(cfg),
        WILDMAIL_SECRET_KEY=GOOD_KEY,
        WILDMAIL_DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}",
    )
    for key, value in extra.items():
        if value is None:
            del env[key]
        else:
            env[key] = value
    roles = [r for r in _roles_for(name) if name != "secret-missing" or r[0] in NEEDS_SECRET]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda r: _run(r, env, tmp_path), roles))
    failures = []
    for role, (exit_code, out, err) in zip(roles, results, strict=True):
        lines = [line for line in err.splitlines() if line.strip()]
        ok = (
            exit_code == code
            and len(lines) == 1
            and lines[0].startswith("error: ")
            and expected in lines[0]
            and "Traceback" not in out + err
            and PASSWORD not in out + err
        )
        if not ok:
            failures.append(
                f"{' '.join(role)}: exit {exit_code}, stderr {err[-400:]!r}, stdout {out[-200:]!r}"
            )
    assert not failures, "\n".join(failures)
