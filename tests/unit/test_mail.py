"""aicreative.mail against a real SMTP server (aiosmtpd) on loopback."""

# Fixtures imported from tests/fixtures_mail.py are "redefined" as test arguments:
# ruff: noqa: F811

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from aicreative import mail
from aicreative.config import Settings
from aicreative.mail import (
    ConsoleMailer,
    Mailer,
    MemoryMailer,
    SentMail,
    SMTPMailer,
    build_message,
    create_mailer,
)
from tests.fixtures_mail import (  # noqa: F401 - pytest fixtures
    SMTPTestServer,
    free_port,
    password_authenticator,
    self_signed_cert,
    smtp_server,
    smtp_server_factory,
)

SENDER = "AI Creative <no-reply@example.org>"

#: A plain-text server that requires a login (the TLS tests cover AUTH over TLS).
PLAIN_AUTH = {
    "authenticator": password_authenticator("mailer", "s3cret"),
    "auth_required": True,
    "auth_require_tls": False,
}
no_tls_auth_warning = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS:UserWarning"
)


def make_settings(tmp_path: Path, port: int, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "mail_from": SENDER,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the back-off pauses instead of sleeping."""
    pauses: list[float] = []
    monkeypatch.setattr(mail.time, "sleep", pauses.append)
    return pauses


# --- plain SMTP -------------------------------------------------------------


def test_send_delivers_a_complete_message(tmp_path: Path, smtp_server: SMTPTestServer) -> None:
    mailer = SMTPMailer(make_settings(tmp_path, smtp_server.port), retries=1)

    assert mailer.send("ada@example.org", "Reset your password", "Follow this link.") is True

    assert len(smtp_server.messages) == 1
    msg = smtp_server.messages[0]
    assert msg["From"] == SENDER
    assert msg["To"] == "ada@example.org"
    assert msg["Subject"] == "Reset your password"
    assert msg["Date"]
    assert msg["Message-ID"].endswith("@example.org>")
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content().rstrip("\n") == "Follow this link."
    envelope = smtp_server.envelopes[0]
    assert envelope.mail_from == "no-reply@example.org"
    assert envelope.rcpt_tos == ["ada@example.org"]
    assert mailer.last_attempts == 1


def test_unicode_subject_and_body_survive(tmp_path: Path, smtp_server: SMTPTestServer) -> None:
    mailer = SMTPMailer(make_settings(tmp_path, smtp_server.port), retries=1)
    subject = "Réinitialisation ✓ — 密码重置"
    body = "Grüße, Zoë!\nパスワードを再設定 🔑: https://example.org/reset?t=αβγ\n"

    assert mailer.send("zoe@example.org", subject, body) is True

    msg = smtp_server.messages[0]
    assert msg["Subject"] == subject
    assert msg.get_content() == body


def test_message_ids_are_unique(tmp_path: Path, smtp_server: SMTPTestServer) -> None:
    mailer = SMTPMailer(make_settings(tmp_path, smtp_server.port), retries=1)
    for i in range(3):
        assert mailer.send("ada@example.org", f"n{i}", "x")
    ids = {m["Message-ID"] for m in smtp_server.messages}
    assert len(ids) == 3


# --- authentication ---------------------------------------------------------


@no_tls_auth_warning
def test_login_when_a_user_is_set(
    tmp_path: Path, smtp_server_factory: Callable[..., SMTPTestServer]
) -> None:
    server = smtp_server_factory(**PLAIN_AUTH)
    settings = make_settings(tmp_path, server.port, smtp_user="mailer", smtp_password="s3cret")

    assert SMTPMailer(settings, retries=1).send("ada@example.org", "Hi", "Hello") is True
    assert len(server.messages) == 1


@no_tls_auth_warning
def test_server_refuses_mail_without_login(
    tmp_path: Path,
    smtp_server_factory: Callable[..., SMTPTestServer],
    no_sleep: list[float],
) -> None:
    server = smtp_server_factory(**PLAIN_AUTH)
    mailer = SMTPMailer(make_settings(tmp_path, server.port), retries=3, backoff=0.01)

    assert mailer.send("ada@example.org", "Hi", "Hello") is False
    assert server.messages == []
    # "530 authentication required" is a 5xx reply: permanent, not retried.
    assert mailer.last_attempts == 1


@no_tls_auth_warning
def test_wrong_password_is_not_retried(
    tmp_path: Path,
    smtp_server_factory: Callable[..., SMTPTestServer],
    no_sleep: list[float],
) -> None:
    server = smtp_server_factory(**PLAIN_AUTH)
    settings = make_settings(tmp_path, server.port, smtp_user="mailer", smtp_password="wrong")
    mailer = SMTPMailer(settings, retries=3, backoff=0.01)

    assert mailer.send("ada@example.org", "Hi", "Hello") is False
    assert mailer.last_attempts == 1
    assert server.connections == 1
    assert no_sleep == []
    assert server.messages == []


def test_password_is_not_in_repr(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, 2525, smtp_user="mailer", smtp_password="hunter2-secret")
    assert "hunter2-secret" not in repr(SMTPMailer(settings))


# --- TLS --------------------------------------------------------------------


def test_starttls_with_login(
    tmp_path: Path, smtp_server_factory: Callable[..., SMTPTestServer]
) -> None:
    cert = self_signed_cert(tmp_path)
    server = smtp_server_factory(
        tls_context=cert.server_context(),
        require_starttls=True,
        authenticator=password_authenticator("mailer", "s3cret"),
        auth_required=True,  # and AUTH only after STARTTLS (aiosmtpd's default)
    )
    settings = make_settings(
        tmp_path,
        server.port,
        smtp_security="starttls",
        smtp_user="mailer",
        smtp_password="s3cret",
    )
    mailer = SMTPMailer(settings, retries=1, ssl_context=cert.client_context())

    assert mailer.send("ada@example.org", "Over TLS", "Encrypted ✓") is True
    assert server.messages[0].get_content().rstrip("\n") == "Encrypted ✓"


def test_starttls_checks_the_certificate(
    tmp_path: Path,
    smtp_server_factory: Callable[..., SMTPTestServer],
    no_sleep: list[float],
) -> None:
    cert = self_signed_cert(tmp_path)
    server = smtp_server_factory(tls_context=cert.server_context(), require_starttls=True)
    settings = make_settings(tmp_path, server.port, smtp_security="starttls")
    # The default context trusts the system CAs only, not this self-signed cert.
    mailer = SMTPMailer(settings, retries=3, backoff=0.01)

    assert mailer.send("ada@example.org", "Hi", "Hello") is False
    assert server.messages == []
    assert mailer.last_attempts == 1  # an untrusted certificate is permanent


def test_implicit_tls(tmp_path: Path, smtp_server_factory: Callable[..., SMTPTestServer]) -> None:
    cert = self_signed_cert(tmp_path)
    server = smtp_server_factory(ssl_context=cert.server_context())
    settings = make_settings(tmp_path, server.port, smtp_security="tls")
    mailer = SMTPMailer(settings, retries=1, ssl_context=cert.client_context())

    assert mailer.send("ada@example.org", "Implicit TLS", "Hello") is True
    assert server.messages[0]["Subject"] == "Implicit TLS"


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_against_a_plain_server_fails_cleanly(
    tmp_path: Path, smtp_server: SMTPTestServer, no_sleep: list[float], security: str
) -> None:
    settings = make_settings(tmp_path, smtp_server.port, smtp_security=security)
    mailer = SMTPMailer(settings, retries=3, backoff=0.01)

    assert mailer.send("ada@example.org", "Hi", "Hello") is False

    assert mailer.last_attempts == 3
    assert smtp_server.connections == 3
    assert no_sleep == [0.01, 0.02]  # doubling back-off between attempts
    # Never a silent fallback to plain text.
    assert smtp_server.messages == []


# --- failures and retries ---------------------------------------------------


def test_closed_port_returns_false_after_retries(
    tmp_path: Path, no_sleep: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there
    mailer = SMTPMailer(make_settings(tmp_path, port), retries=4, backoff=0.5)

    with caplog.at_level(logging.WARNING, logger="aicreative.mail"):
        assert mailer.send("ada@example.org", "Hi", "secret-reset-link") is False

    assert mailer.last_attempts == 4
    assert no_sleep == [0.5, 1.0, 2.0]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4
    assert "ada@example.org" in caplog.text
    assert "secret-reset-link" not in caplog.text


def test_closed_port_really_waits(tmp_path: Path) -> None:
    """Without patching sleep: bounded, and quick with a small back-off."""
    mailer = SMTPMailer(make_settings(tmp_path, free_port()), retries=2, backoff=0.01)
    assert mailer.send("ada@example.org", "Hi", "Hello") is False
    assert mailer.last_attempts == 2


def test_transient_refusal_is_retried(
    tmp_path: Path, smtp_server: SMTPTestServer, no_sleep: list[float]
) -> None:
    smtp_server.reject_next("451 4.3.0 Try again later")
    mailer = SMTPMailer(make_settings(tmp_path, smtp_server.port), retries=3, backoff=0.01)

    assert mailer.send("ada@example.org", "Hi", "Hello") is True
    assert mailer.last_attempts == 2
    assert len(smtp_server.messages) == 1


def test_permanent_refusal_is_not_retried(
    tmp_path: Path, smtp_server: SMTPTestServer, no_sleep: list[float]
) -> None:
    smtp_server.reject_next("554 5.7.1 Rejected")
    mailer = SMTPMailer(make_settings(tmp_path, smtp_server.port), retries=3, backoff=0.01)

    assert mailer.send("ada@example.org", "Hi", "Hello") is False
    assert mailer.last_attempts == 1
    assert smtp_server.messages == []


def test_server_that_hangs_up_returns_false(tmp_path: Path, no_sleep: list[float]) -> None:
    """A server that accepts and closes at once: SMTPServerDisconnected, no raise."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]

        def hang_up() -> None:
            for _ in range(2):
                conn, _ = listener.accept()
                conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        mailer = SMTPMailer(make_settings(tmp_path, port), retries=2, backoff=0.01, timeout=5)
        assert mailer.send("ada@example.org", "Hi", "Hello") is False
        thread.join(5)
    assert mailer.last_attempts == 2


# --- logging never shows the body --------------------------------------------


def test_logs_name_recipient_and_subject_never_the_body(
    tmp_path: Path, smtp_server: SMTPTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = SMTPMailer(make_settings(tmp_path, smtp_server.port), retries=1)
    body = "Reset: https://example.org/reset?token=TOPSECRET-TOKEN-42"

    with caplog.at_level(logging.DEBUG):
        assert mailer.send("ada@example.org", "Reset your password", body)
        smtp_server.reject_next("554 no")
        assert not mailer.send("ada@example.org", "Reset your password", body)

    # The test server's own logger ("mail.log") echoes the data; ours must not.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    assert "sent mail to ada@example.org" in ours
    assert "Reset your password" in ours
    assert "TOPSECRET-TOKEN-42" not in ours


def test_header_injection_is_refused(tmp_path: Path, smtp_server: SMTPTestServer) -> None:
    mailer = SMTPMailer(make_settings(tmp_path, smtp_server.port), retries=1)
    with pytest.raises(ValueError):
        mailer.send("ada@example.org\r\nBcc: eve@example.org", "Hi", "Hello")
    with pytest.raises(ValueError):
        build_message(SENDER, "ada@example.org", "Hi\nBcc: eve@example.org", "Hello")
    assert smtp_server.messages == []


# --- console and memory -----------------------------------------------------


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_console_mailer_prints_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing.txt").write_text("x")
    before = _listing(tmp_path)

    mailer = ConsoleMailer()
    assert mailer.send("ada@example.org", "Reset your password", "Link: https://x/reset?t=1 ✓")

    out = capsys.readouterr().out
    assert "To: ada@example.org" in out
    assert "Subject: Reset your password" in out
    assert "Link: https://x/reset?t=1 ✓" in out
    assert _listing(tmp_path) == before
    assert os.listdir(tmp_path) == ["existing.txt"]


def test_console_mailer_does_not_log_the_body(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        ConsoleMailer().send("ada@example.org", "Hi", "BODY-MARKER-77")
    assert "BODY-MARKER-77" in capsys.readouterr().out
    assert "BODY-MARKER-77" not in caplog.text


def test_memory_mailer_keeps_messages() -> None:
    mailer = MemoryMailer()
    assert mailer.send("Ada@Example.org", "One", "1")
    assert mailer.send("bob@example.org", "Two", "2")
    assert mailer.messages == [
        SentMail("Ada@Example.org", "One", "1"),
        SentMail("bob@example.org", "Two", "2"),
    ]
    assert [m.subject for m in mailer.to("ada@example.org")] == ["One"]
    mailer.clear()
    assert mailer.messages == []


def test_memory_mailer_can_fail() -> None:
    mailer = MemoryMailer(deliver=False)
    assert mailer.send("ada@example.org", "One", "1") is False
    assert mailer.messages == []


# --- choosing a mailer ------------------------------------------------------


def test_create_mailer_picks_smtp_or_console(tmp_path: Path) -> None:
    smtp = create_mailer(make_settings(tmp_path, 2525))
    console = create_mailer(Settings(data_dir=tmp_path))
    assert isinstance(smtp, SMTPMailer)
    assert isinstance(console, ConsoleMailer)
    for mailer in (smtp, console, MemoryMailer()):
        assert isinstance(mailer, Mailer)


def test_settings_from_env_reach_the_mailer(tmp_path: Path, smtp_server: SMTPTestServer) -> None:
    settings = Settings.from_env(
        {
            "AICREATIVE_DATA_DIR": str(tmp_path),
            "AICREATIVE_SMTP_HOST": "127.0.0.1",
            "AICREATIVE_SMTP_PORT": str(smtp_server.port),
            "AICREATIVE_SMTP_SECURITY": "none",
            "AICREATIVE_MAIL_FROM": "Ops <ops@example.net>",
        }
    )
    assert create_mailer(settings).send("ada@example.org", "Env", "ok")
    assert smtp_server.messages[0]["From"] == "Ops <ops@example.net>"
