from pathlib import Path

import pytest

from wildmail.core.settings import SettingsError, load_settings


def test_defaults_when_nothing_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./wildmail.toml and no WILDMAIL_CONFIG
    s = load_settings(environ={})
    assert s.database_url == "sqlite:///./wildmail.db"
    assert s.smtp_port == 25


def test_file_then_environment_override(tmp_path: Path) -> None:
    cfg = tmp_path / "wildmail.toml"
    cfg.write_text(
        '[wildmail]\nsmtp_port = 2525\nbase_url = "https://news.example.org/"\nsender_name = "Fund"\n'
    )
    s = load_settings(cfg, environ={"WILDMAIL_SMTP_PORT": "587"})
    assert s.smtp_port == 587
    assert s.base_url == "https://news.example.org"
    assert s.sender_name == "Fund"


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"WILDMAIL_SMTP_PORT": "twenty-five"}, "WILDMAIL_SMTP_PORT"),
        ({"WILDMAIL_SMTP_TLS": "maybe"}, "WILDMAIL_SMTP_TLS"),
        ({"WILDMAIL_BASE_URL": "ftp://x"}, "WILDMAIL_BASE_URL"),
        ({"WILDMAIL_DEFAULT_TIMEZONE": "Mars/Olympus"}, "WILDMAIL_DEFAULT_TIMEZONE"),
        ({"WILDMAIL_DATABASE_URL": "wildmail.db"}, "WILDMAIL_DATABASE_URL"),
    ],
)
def test_malformed_setting_names_the_key(tmp_path: Path, env: dict[str, str], key: str) -> None:
    env = {"WILDMAIL_CONFIG": "/dev/null", **env}
    with pytest.raises(SettingsError, match=key):
        load_settings(environ=env)


def test_bad_toml_and_unknown_key_name_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "wildmail.toml"
    cfg.write_text("smtp_port = = 3")
    with pytest.raises(SettingsError, match=r"wildmail\.toml"):
        load_settings(cfg, environ={})
    cfg.write_text("smtp_prot = 3")
    with pytest.raises(SettingsError, match="smtp_prot"):
        load_settings(cfg, environ={})


def test_missing_secret_is_named_when_required() -> None:
    from wildmail.core.settings import Settings

    with pytest.raises(SettingsError, match="WILDMAIL_SECRET_KEY"):
        _ = Settings().secret


def test_config_variable_naming_a_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(SettingsError, match=rf"^WILDMAIL_CONFIG: settings file '{missing}' not found$"):
        load_settings(environ={"WILDMAIL_CONFIG": str(missing)})
