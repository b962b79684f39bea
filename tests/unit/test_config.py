"""Settings from the environment, the generated secret key, the README table."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from aicreative import Settings
from aicreative.errors import ValidationError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.backend == "auto"
    assert s.model_id == "stabilityai/sd-turbo"
    assert s.signup_credits == 10
    assert s.admin_usernames == []
    assert s.session_days == 14
    assert s.port == 7860


def test_from_env_parses_types(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "AICREATIVE_DATA_DIR": str(tmp_path),
            "AICREATIVE_BACKEND": "demo",
            "AICREATIVE_SIGNUP_CREDITS": "25",
            "AICREATIVE_ADMIN_USERNAMES": "Alice, bob ,",
            "AICREATIVE_TRUST_PROXY": "yes",
            "AICREATIVE_SESSION_DAYS": "0.5",
            "HF_TOKEN": "hf_x",
        }
    )
    assert s.data_dir == tmp_path
    assert (s.backend, s.signup_credits, s.trust_proxy, s.session_days) == ("demo", 25, True, 0.5)
    assert s.admin_usernames == ["alice", "bob"]
    assert s.hf_token.get_secret_value() == "hf_x"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AICREATIVE_BACKEND": "gpu"}, "Unknown backend"),
        ({"AICREATIVE_SIGNUP_CREDITS": "ten"}, "not a valid value"),
        ({"AICREATIVE_TRUST_PROXY": "maybe"}, "not a valid value"),
        ({"AICREATIVE_SMTP_SECURITY": "ssl3"}, "starttls, tls or none"),
    ],
)
def test_bad_values_are_refused(env: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.from_env(env)


def test_data_dir_default_is_local_unless_data_is_writable() -> None:
    from aicreative.config import default_data_dir

    expected = Path("/data") if Path("/data").is_dir() else Path("data")
    assert default_data_dir() == expected


def test_secret_key_generated_once_with_mode_0600(tmp_path: Path, caplog) -> None:
    s = Settings(data_dir=tmp_path / "d")
    with caplog.at_level("WARNING"):
        key = s.resolve_secret_key()
    assert len(key) >= 32
    path = tmp_path / "d" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "AICREATIVE_SECRET_KEY is not set" in caplog.text
    assert Settings(data_dir=tmp_path / "d").resolve_secret_key() == key


@pytest.mark.parametrize("key", ["change-me", "secret", "short"])
def test_placeholder_secret_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValidationError, match="placeholder or shorter"):
        Settings(data_dir=tmp_path, secret_key=key).resolve_secret_key()


def test_every_option_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for env, _default, help_text in Settings.help():
        assert help_text.strip()
        assert f"`{env}`" in readme, f"{env} missing from the README's settings table"


def test_settings_read_no_environment_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AICREATIVE_BACKEND", "demo")
    assert Settings().backend == "auto"
    assert Settings.from_env().backend == "demo"
    assert Settings.from_env(backend="remote").backend == "remote"  # keywords win


def test_lists_are_comma_separated_and_hf_token_falls_back() -> None:
    s = Settings.from_env(
        {"AICREATIVE_ALLOWED_HOSTS": "ai.example.org, *.example.net,", "HF_TOKEN": "hf_y"}
    )
    assert s.allowed_hosts == ["ai.example.org", "*.example.net"]
    assert s.hf_token.get_secret_value() == "hf_y"
    # The AICREATIVE_ variable wins over HF_TOKEN, even empty.
    both = {"AICREATIVE_HF_TOKEN": "", "HF_TOKEN": "hf_y"}
    assert Settings.from_env(both).hf_token.get_secret_value() == ""
    assert Settings(admin_usernames="Root, Ops").admin_usernames == ["root", "ops"]


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    url = "postgresql://app:pw-in-the-url@db/aicreative"
    s = Settings(database_url=url, gallery_secret="gallery-secret-value-123")
    assert "pw-in-the-url" not in repr(s) and "gallery-secret-value" not in str(s)
    assert s.database_url.get_secret_value() == url
    with pytest.raises(ValidationError) as refused:
        Settings(smtp_password=12345)  # not a string
    assert "12345" not in str(refused.value)


def test_replace_is_a_validated_copy() -> None:
    s = Settings(backend="demo", signup_credits=3)
    copy = s.replace(signup_credits=5)
    assert (copy.signup_credits, copy.backend, s.signup_credits) == (5, "demo", 3)
    with pytest.raises(ValidationError, match="delivery_minutes"):
        s.replace(delivery_minutes=31)
    with pytest.raises(ValidationError, match="Unknown setting"):
        s.replace(no_such_option=1)


def test_assignment_is_validated_and_a_refused_one_changes_nothing() -> None:
    s = Settings(backend="demo")
    s.port = 8000
    s.secret_key = "assigned-secret-key-value"  # type: ignore[assignment]
    assert s.port == 8000
    assert s.secret_key.get_secret_value() == "assigned-secret-key-value"
    with pytest.raises(ValidationError, match="Unknown backend"):
        s.backend = "gpu"
    assert s.backend == "demo"
