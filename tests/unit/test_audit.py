"""The self-audit: each check fails on the fault it guards against."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aicreative import Settings
from aicreative.audit import audit, check_password_library, is_image, run_audit
from aicreative.store import Account, AccountStore
from aicreative.web.audit_ui import ui_problems

STRONG = "k3Y-" + "abcdefghijklmnopqrstuvwxyz0123456789"


def good_settings(tmp_path: Path) -> Settings:
    s = Settings(data_dir=tmp_path / "data", secret_key=STRONG, backend="demo", trust_proxy=True)
    AccountStore.open(s.store_path).add(Account("ada", "ada@example.org", "$argon2id$h", credits=3))
    return s


def verdicts(settings: Settings) -> dict[str, bool]:
    return {check.name: check.ok for check in audit(settings)}


def test_a_good_deployment_passes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    s = good_settings(tmp_path)
    out = io.StringIO()
    # As `aicreative audit` runs it: with the web app inspected.
    assert run_audit(s, out, inspect_ui=ui_problems) == 0, out.getvalue()
    text = out.getvalue()
    assert text.count("PASS") == 12 and "FAIL" not in text
    assert "12 passed, 0 failed" in text


@pytest.mark.parametrize("key", ["", "change-me", "short-key", "a" * 40])
def test_weak_or_missing_secret_fails(tmp_path: Path, key: str) -> None:
    s = good_settings(tmp_path)
    s.secret_key = key
    assert verdicts(s)["secret key"] is False


def test_generated_key_file_passes_when_private(tmp_path: Path) -> None:
    s = good_settings(tmp_path)
    s.secret_key = ""
    Settings(data_dir=s.data_dir).resolve_secret_key()
    assert verdicts(s)["secret key"] is True
    (Path(s.data_dir) / "secret_key").chmod(0o644)
    assert verdicts(s)["secret key"] is False


def test_plain_http_fails_and_https_passes(tmp_path: Path) -> None:
    s = good_settings(tmp_path)
    s.trust_proxy = False
    assert verdicts(s)["encryption in transit"] is False
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    s.ssl_certfile, s.ssl_keyfile = str(cert), str(key)
    assert verdicts(s)["encryption in transit"] is True


def test_reachable_server_without_public_address_or_host_list_fails(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("SPACE_HOST", raising=False)
    s = good_settings(tmp_path)
    s.host = "0.0.0.0"  # noqa: S104 - the fault under test
    result = {check.name: check for check in audit(s)}
    assert (
        not result["public address"].ok
        and "AICREATIVE_PUBLIC_URL" in result["public address"].detail
    )
    assert not result["trusted hosts"].ok
    s.public_url = "https://ai.example.org"
    result = {check.name: check for check in audit(s)}
    assert result["public address"].ok and result["trusted hosts"].ok
    assert "ai.example.org" in result["trusted hosts"].detail
    s.public_url = ""
    s.allowed_hosts = ["*"]
    assert verdicts(s)["trusted hosts"] is False  # a wildcard list is no list
    s.allowed_hosts = ["ai.example.org"]
    assert verdicts(s)["trusted hosts"] is True
    assert verdicts(s)["public address"] is False  # hosts alone mail no links


def test_on_spaces_the_space_host_is_the_public_address(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SPACE_ID", "someone/aicreative")
    monkeypatch.delenv("SPACE_HOST", raising=False)
    s = good_settings(tmp_path)
    assert verdicts(s)["public address"] is False
    monkeypatch.setenv("SPACE_HOST", "someone-aicreative.hf.space")
    result = {check.name: check for check in audit(s)}
    assert (
        result["public address"].ok
        and "https://someone-aicreative.hf.space" in result["public address"].detail
    )
    assert result["trusted hosts"].ok


def test_email_confirmation_off_on_a_reachable_server_fails(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SPACE_ID", raising=False)
    s = good_settings(tmp_path)
    s.public_url = "https://ai.example.org"
    assert verdicts(s)["email confirmation"] is True  # on by default
    # The setting comes with the sign-up limits (issue 11, items 4-7); set
    # on the object so the check is tested before and after it exists.
    object.__setattr__(s, "confirm_email", False)
    assert verdicts(s)["email confirmation"] is True  # local only: a demo
    s.host = "0.0.0.0"  # noqa: S104
    assert verdicts(s)["email confirmation"] is False


def test_analytics_env_fails(tmp_path: Path, monkeypatch) -> None:
    s = good_settings(tmp_path)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "True")
    assert verdicts(s)["analytics and telemetry"] is False


def test_analytics_reads_what_the_web_layer_finds(tmp_path: Path) -> None:
    """The core audit imports no web code: the caller hands it the inspector."""
    s = good_settings(tmp_path)
    check = {c.name: c for c in audit(s)}["analytics and telemetry"]
    assert not check.ok and "not inspected" in check.detail
    found = {c.name: c for c in audit(s, inspect_ui=lambda _: ["Gradio analytics on"])}
    assert found["analytics and telemetry"].detail == "Gradio analytics on"
    lost = {c.name: c for c in audit(s, inspect_ui=lambda _: None)}
    assert "could not find the Gradio app" in lost["analytics and telemetry"].detail

    def broken(settings: Settings) -> list[str]:
        raise RuntimeError("no app")

    crashed = audit(s, inspect_ui=broken)
    assert any(c.name == "check_analytics" and "no app" in c.detail for c in crashed)


def test_loose_permissions_fail(tmp_path: Path) -> None:
    s = good_settings(tmp_path)
    s.store_path.chmod(0o644)
    assert verdicts(s)["data permissions"] is False
    s.store_path.chmod(0o600)
    Path(s.data_dir).chmod(0o755)
    assert verdicts(s)["data permissions"] is False


def test_extra_field_in_the_file_fails(tmp_path: Path) -> None:
    s = good_settings(tmp_path)
    raw = s.store_path.read_text().replace('"credits":3', '"credits":3,"prompt":"a secret"')
    s.store_path.write_text(raw)
    check = {c.name: c for c in audit(s)}["stored fields"]
    assert not check.ok and "prompt" in check.detail


def test_orphan_temp_file_fails(tmp_path: Path) -> None:
    s = good_settings(tmp_path)
    (Path(s.data_dir) / ".accounts-x.tmp").write_text("{}")
    assert verdicts(s)["temp files"] is False


@pytest.mark.parametrize(
    "head", [b"\x89PNG\r\n\x1a\nrest", b"\xff\xd8\xff\xe0JFIF", b"RIFF\x00\x00\x00\x00WEBPVP8 "]
)
def test_image_files_fail(tmp_path: Path, monkeypatch, head: bytes) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    s = good_settings(tmp_path)
    assert is_image(head)
    target = tmp_path / "gradio" / "abc" / "image.webp"
    target.parent.mkdir(parents=True)
    target.write_bytes(head)
    assert verdicts(s)["no images on the server"] is False


def test_passlib_beside_libpass_fails(tmp_path: Path, monkeypatch) -> None:
    assert check_password_library().ok
    # A fake distribution on sys.path is how a stray `pip install passlib` looks.
    site = tmp_path / "site"
    dist = site / "passlib-1.7.4.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: passlib\nVersion: 1.7.4\n")
    monkeypatch.syspath_prepend(str(site))
    check = check_password_library()
    assert not check.ok and "passlib is installed" in check.detail


def test_cli_exit_code(tmp_path: Path) -> None:
    env = {**os.environ, "AICREATIVE_DATA_DIR": str(tmp_path / "d"), "AICREATIVE_BACKEND": "demo"}
    env.pop("AICREATIVE_SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "aicreative.cli", "audit"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "FAIL  secret key" in result.stdout and "FAIL  encryption in transit" in result.stdout
    # The CLI hands the audit the web app's inspector.
    assert "PASS  analytics and telemetry" in result.stdout
