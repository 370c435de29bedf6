"""A weak or missing ``secret_key`` is refused in one line by every command that signs links;
``wildmail init`` writes a private settings file with a strong generated key."""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wildmail.cli import app
from wildmail.core.settings import SettingsError, load_settings, secret_key_problem

GOOD = secrets.token_urlsafe(32)


@pytest.mark.parametrize(
    "key",
    [
        "qA-hxmkr_kMi72w_kxcKa7mD4H0CxEB9pqUGdjFkDNE",  # as written by wildmail init
        hashlib.sha256(b"demo").hexdigest(),
        "test-secret-key-not-for-production",  # the test suite's key: 34 bytes, 15 different characters
        "éééé" + "3f9a0c7d51e2b846ad07c3e9",  # 32 bytes once UTF-8 encoded
    ],
)
def test_strong_keys_are_accepted(key: str) -> None:
    assert secret_key_problem(key) is None
    assert load_settings(environ={"WILDMAIL_CONFIG": "/dev/null", "WILDMAIL_SECRET_KEY": key}).secret


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("x", "too short (1 bytes"),
        ("k9x", "too short (3 bytes"),
        ("a-long-random-string", "too short"),
        ("3f9a0c7d51e2b846ad07c3e95b1f2e8", "too short (31 bytes"),
        ("a" * 64, "too predictable"),
        ("changeme-changeme-changeme-changeme", "too predictable"),
    ],
)
def test_weak_keys_are_refused_naming_the_variable(key: str, why: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(environ={"WILDMAIL_CONFIG": "/dev/null", "WILDMAIL_SECRET_KEY": key})
    message = str(info.value)
    assert message.startswith("WILDMAIL_SECRET_KEY: ") and why in message
    assert "\n" not in message and key not in message


def test_weak_key_in_the_file_names_the_file_and_the_environment_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "wildmail.toml"
    cfg.write_text('secret_key = "k9x"\n')
    with pytest.raises(SettingsError, match=rf"^'secret_key' in {cfg}: too short"):
        load_settings(environ={"WILDMAIL_CONFIG": str(cfg)})
    assert (
        load_settings(environ={"WILDMAIL_CONFIG": str(cfg), "WILDMAIL_SECRET_KEY": GOOD}).secret_key == GOOD
    )
    cfg.write_text(f'secret_key = "{GOOD}"\n')
    with pytest.raises(SettingsError, match=r"^WILDMAIL_SECRET_KEY: too short"):
        load_settings(environ={"WILDMAIL_CONFIG": str(cfg), "WILDMAIL_SECRET_KEY": "k9x"})


def test_weak_key_given_in_code_is_refused_when_used() -> None:
    from wildmail.core.settings import Settings

    with pytest.raises(SettingsError, match="secret_key: too short"):
        _ = Settings(secret_key="k9x").secret
    with pytest.raises(SettingsError, match="secret_key: too short"):
        Settings().with_overrides(secret_key="k9x")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _role_cases(tmp_path: Path) -> list[tuple[list[str], dict[str, str], str]]:
    weak_file = tmp_path / "weak.toml"
    weak_file.write_text('secret_key = "k9x"\n')
    env_weak = {"WILDMAIL_CONFIG": "/dev/null", "WILDMAIL_SECRET_KEY": "k9x"}
    file_weak = {"WILDMAIL_CONFIG": str(weak_file)}
    unset = {"WILDMAIL_CONFIG": "/dev/null"}
    return [
        (["serve", "--port", str(_free_port())], env_weak, "WILDMAIL_SECRET_KEY: too short"),
        (["serve", "--port", str(_free_port())], unset, "WILDMAIL_SECRET_KEY (or 'secret_key'"),
        (["worker"], file_weak, f"'secret_key' in {weak_file}: too short"),
        (["worker", "--concurrency", "2"], env_weak, "WILDMAIL_SECRET_KEY: too short"),
        (["scheduler"], env_weak, "WILDMAIL_SECRET_KEY: too short"),
        (["run", "--port", str(_free_port())], file_weak, f"'secret_key' in {weak_file}: too short"),
    ]


def test_long_running_roles_refuse_a_weak_or_missing_key_before_starting(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("WILDMAIL_")}
    base["WILDMAIL_DATABASE_URL"] = f"sqlite:///{tmp_path / 'w.db'}"
    base["COLUMNS"] = "400"  # one line, not wrapped by the terminal width
    started = []
    for args, env, expected in _role_cases(tmp_path):
        proc = subprocess.Popen(
            [sys.executable, "-m", "wildmail.cli", *args],
            env={**base, **env},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, so a started worker's children die with it
        )
        started.append((args, expected, proc))
    failures = []
    for args, expected, proc in started:
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            failures.append(f"{args}: started anyway (still running after 30 s)")
            continue
        lines = err.strip().splitlines()
        if proc.returncode != 2 or len(lines) != 1 or expected not in lines[0] or "k9x" in out + err:
            failures.append(f"{args}: exit {proc.returncode}, stderr {err[-300:]!r}")
    assert not failures, failures


@pytest.fixture
def cli(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", GOOD)
    monkeypatch.setenv("COLUMNS", "400")
    runner = CliRunner()

    def invoke(*args: str, key: str | None = None):  # type: ignore[no-untyped-def]
        if key is not None:
            monkeypatch.setenv("WILDMAIL_SECRET_KEY", key)
        return runner.invoke(app, list(args))

    return invoke


def test_signing_commands_refuse_a_weak_key(cli) -> None:  # type: ignore[no-untyped-def]
    sample = Path(__file__).resolve().parents[2] / "campaigns" / "samples" / "amur-leopard.md"
    assert cli("subscribers", "list-create", "news").exit_code == 0
    assert cli("subscribers", "add", "ada@example.org", "--list", "news").exit_code in (0, 1)  # no relay
    assert cli("campaign", "create", str(sample), "--name", "leo", "--list", "news").exit_code == 0
    commands = [
        ("campaign", "preview", "leo", "--out", "preview"),
        ("campaign", "test-send", "leo", "--to", "me@example.org"),
        ("subscribers", "add", "bob@example.org", "--list", "news"),
        ("subscribers", "confirm-link", "ada@example.org", "--list", "news"),
    ]
    for key, expected in [("k9x", "WILDMAIL_SECRET_KEY: too short"), ("", "WILDMAIL_SECRET_KEY (or")]:
        for args in commands:
            result = cli(*args, key=key)
            lines = result.output.strip().splitlines()
            assert result.exit_code == 2, (args, key, result.output, result.exception)
            assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (args, lines)
            assert "Traceback" not in result.output and (not key or key not in result.output)
    assert not Path("preview").exists()


def test_config_naming_a_missing_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WILDMAIL_CONFIG", str(tmp_path / "typo.toml"))
    monkeypatch.setenv("COLUMNS", "400")
    result = CliRunner().invoke(app, ["subscribers", "lists"])
    assert result.exit_code == 2, result.output
    assert (
        result.output.strip() == f"error: WILDMAIL_CONFIG: settings file '{tmp_path / 'typo.toml'}' not found"
    )
    assert not (tmp_path / "wildmail.db").exists()


def test_init_writes_a_private_file_with_a_strong_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "400")
    runner = CliRunner()
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "wildmail.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = load_settings(environ={})
    assert secret_key_problem(settings.secret_key) is None and len(settings.secret_key) >= 43
    assert "wildmail.toml" in result.output and settings.secret_key not in result.output
    text = path.read_text()
    assert "# smtp_host = " in text and "# database_url = " in text
    again = runner.invoke(app, ["init"])
    assert again.exit_code == 2 and "already exists" in again.output
    assert path.read_text() == text
    other = runner.invoke(app, ["init", "other.toml"])
    assert other.exit_code == 0 and load_settings("other.toml", environ={}).secret_key != settings.secret_key
