"""The four rights and policy changes, through the Python API and over HTTP."""

from __future__ import annotations

import datetime as dt
import html
import json
import shutil
import time
from pathlib import Path

import pytest

from aicreative import Settings, Studio
from aicreative.accounts import PasswordHasher
from aicreative.backends.demo import DemoBackend
from aicreative.errors import AuthError, Conflict, NotFound, ValidationError
from aicreative.mail import MemoryMailer, SMTPMailer
from aicreative.policy import SHIPPED_DIR, PolicyBook
from aicreative.store import FIELDS, AccountStore

from ..conftest import PASSWORD, free_port
from ..fixtures_server import COOKIE_NAME, gradio_call, login, signup, submit_form

# -- see -----------------------------------------------------------------------


def test_my_data_shows_every_stored_field(studio: Studio, user: str) -> None:
    data = studio.my_data("ada")
    assert set(data["stored"]) == set(FIELDS)
    assert data["stored"]["password_hash"] == "set, argon2id"
    assert data["stored"]["email"] == "ada@example.org"
    exported = json.loads(studio.export_data("ada"))
    assert exported["stored"] == data["stored"]
    assert "$argon2id$" not in studio.export_data("ada").decode()


# -- correct ---------------------------------------------------------------------


def test_change_email_needs_the_password(studio: Studio, user: str) -> None:
    with pytest.raises(AuthError, match="password is not right"):
        studio.change_email("ada", "wrong password", "new@example.org")
    with pytest.raises(ValidationError, match="not valid"):
        studio.change_email("ada", PASSWORD, "not an email")
    studio.signup("bob", "bob@example.org", PASSWORD)
    with pytest.raises(Conflict):
        studio.change_email("ada", PASSWORD, "BOB@example.org")
    assert studio.change_email("ada", PASSWORD, "new@example.org").email == "new@example.org"
    assert studio.store.get("ada").email == "new@example.org"


def test_change_username_is_unique_needs_the_password_and_keeps_the_identity(
    studio: Studio, user: str
) -> None:
    token = studio.login("ada", PASSWORD)
    studio.signup("bob", "bob@example.org", PASSWORD)
    with pytest.raises(AuthError, match="password is not right"):
        studio.change_username("ada", "wrong password", "ada2")
    with pytest.raises(Conflict):
        studio.change_username("ada", PASSWORD, "Bob")
    with pytest.raises(ValidationError):
        studio.change_username("ada", PASSWORD, "<b>x</b>")
    assert studio.store.get("ada2") is None
    studio.change_username("ada", PASSWORD, "ada2")
    # The session names the account's id: it follows the rename, not the name.
    assert studio.user_from_session(token).username == "ada2"
    studio.signup("ada", "other@example.org", PASSWORD)  # the freed name, taken by another
    assert studio.user_from_session(token).username == "ada2"
    assert studio.balance("ada2") == 10


def test_change_password_ends_other_sessions(studio: Studio, user: str) -> None:
    other = studio.login("ada", PASSWORD)
    with pytest.raises(AuthError):
        studio.change_password("ada", "wrong password", "a new long password")
    with pytest.raises(ValidationError, match="at least 10"):
        studio.change_password("ada", PASSWORD, "short")
    fresh = studio.change_password("ada", PASSWORD, "a new long password")
    with pytest.raises(AuthError):
        studio.user_from_session(other)
    assert studio.user_from_session(fresh).username == "ada"
    studio.login("ada", "a new long password")


# -- delete ------------------------------------------------------------------------


def test_delete_needs_password_and_typed_username(studio: Studio, user: str) -> None:
    token = studio.login("ada", PASSWORD)
    with pytest.raises(AuthError):
        studio.delete_account("ada", "wrong password", "ada")
    with pytest.raises(ValidationError, match="Type your username"):
        studio.delete_account("ada", PASSWORD, "adb")
    studio.delete_account("ada", PASSWORD, "ADA")
    with pytest.raises(AuthError):
        studio.user_from_session(token)
    with pytest.raises(NotFound):
        studio.balance("ada")
    raw = studio.store.path.read_bytes()
    assert b"ada" not in raw and b"ada@example.org" not in raw
    mails = studio.mailer.to("ada@example.org")
    assert [m.subject for m in mails] == ["Your AI Creative account was deleted"]


def test_deletion_happens_even_when_mail_fails(settings: Settings, hasher) -> None:
    # A port nobody listens on: every send fails.
    settings.smtp_host, settings.smtp_port, settings.smtp_security = (
        "127.0.0.1",
        free_port(),
        "none",
    )
    mailer = SMTPMailer(settings, retries=2, backoff=0.01)
    studio = Studio(
        AccountStore.open(settings.store_path),
        DemoBackend(),
        settings=settings,
        hasher=hasher,
        mailer=mailer,
    )
    studio.signup("ada", "ada@example.org", PASSWORD)
    studio.delete_account("ada", PASSWORD, "ada")
    assert studio.store.get("ada") is None


# -- object ---------------------------------------------------------------------------


def policy_studio(
    tmp_path: Path, settings: Settings, hasher, mailer, today: list[dt.date]
) -> Studio:
    folder = tmp_path / "policies"
    folder.mkdir()
    shutil.copy(SHIPPED_DIR / "v1.md", folder)  # v1 only, whatever later versions ship
    return Studio(
        AccountStore.open(settings.store_path),
        DemoBackend(),
        settings=settings,
        hasher=hasher,
        mailer=mailer,
        policy=PolicyBook(folder, clock=lambda: today[0]),
    )


def draft(tmp_path: Path) -> Path:
    path = tmp_path / "draft.md"
    path.write_text("# Privacy Policy\n\nWe now also keep nothing at all, even more so.\n")
    return path


def test_publish_notifies_by_notice_and_email_then_records_acceptance(
    tmp_path: Path, settings: Settings, hasher, smtp_server
) -> None:
    settings.smtp_host, settings.smtp_port, settings.smtp_security = (
        smtp_server.host,
        smtp_server.port,
        "none",
    )
    settings.public_url = "https://ai.example.org"
    today = [dt.date(2026, 12, 1)]
    studio = policy_studio(tmp_path, settings, hasher, SMTPMailer(settings), today)
    studio.signup("ada", "ada@example.org", PASSWORD)
    studio.signup("obi", "obi@example.org", PASSWORD)
    studio.set_objection("obi", True)
    assert studio.policy_notices("ada") == []

    doc, sent = studio.publish_policy(
        draft(tmp_path), dt.date(2026, 12, 15), summary="Clearer wording."
    )
    assert (doc.version, sent) == (2, 1)
    recipients = [m["To"] for m in smtp_server.messages]
    assert recipients == ["ada@example.org"]  # the objector gets no email
    body = smtp_server.messages[0].get_content()
    assert "15 December 2026" in body and "Clearer wording." in body
    assert "https://ai.example.org/privacy" in body

    for name in ("ada", "obi"):  # both see it on the site
        (notice,) = studio.policy_notices(name)
        assert notice.kind == "upcoming" and "15 December 2026" in notice.message
        assert "Clearer wording." in notice.message
    assert studio.record_use("ada") is None  # before the date: nothing accepted
    assert studio.store.get("ada").policy_version == 1

    today[0] = dt.date(2026, 12, 15)
    (notice,) = studio.policy_notices("ada")
    assert notice.kind == "changed" and "continuing to use" in notice.message
    assert studio.record_use("ada") == 2
    assert studio.store.get("ada").policy_version == 2
    assert studio.policy_notices("ada") == []
    assert len(smtp_server.messages) == 1  # emailed once


def test_publish_dry_run_and_refusals(tmp_path: Path, settings: Settings, hasher) -> None:
    today = [dt.date(2026, 12, 1)]
    studio = policy_studio(tmp_path, settings, hasher, MemoryMailer(), today)
    studio.signup("ada", "ada@example.org", PASSWORD)
    doc, sent = studio.publish_policy(
        draft(tmp_path), dt.date(2027, 1, 1), summary="x", dry_run=True
    )
    assert (doc.version, sent) == (2, 0)
    assert not (tmp_path / "policies" / "v2.md").exists()
    assert studio.mailer.messages == []
    with pytest.raises(ValidationError):
        studio.publish_policy(draft(tmp_path), dt.date(2026, 11, 1), summary="past date")


def test_objection_flag(studio: Studio, user: str) -> None:
    assert studio.set_objection("ada", True).objected is True
    studio.signup("root", "root@example.org", PASSWORD)
    studio.set_role("root", "admin")
    rows, _ = studio.admin_accounts("root", "ada")
    assert rows[0]["objected"] is True
    assert studio.set_objection("ada", False).objected is False


def test_objector_still_gets_a_reset_link(studio: Studio, user: str) -> None:
    studio.settings.public_url = "https://ai.example.org"
    studio.set_objection("ada", True)
    studio.request_password_reset("ada@example.org")
    deadline = time.monotonic() + 5
    while not studio.mailer.to("ada@example.org") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "reset" in studio.mailer.to("ada@example.org")[0].subject.lower()


# -- over HTTP -----------------------------------------------------------------------------


def test_rights_over_http(live_server) -> None:
    client = signup(live_server, "ada")
    # See and download.
    download = client.get("/account/data.json")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert download.json()["stored"]["username"] == "ada"
    # The Account tab's forms arrive with the session event; take a token.
    event, data, _ = gradio_call(client, "session", [])
    assert event == "complete"
    forms = data[2]
    assert 'action="/account/email"' in forms and "set, argon2id" in forms
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', forms).group(1)

    bad = submit_form(
        client, "/account/email", {"email": "x@example.org", "password": "wrong one!"}, token=token
    )
    assert bad.status_code == 401 and "password is not right" in bad.text
    ok = submit_form(
        client, "/account/email", {"email": "new@example.org", "password": PASSWORD}, token=token
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/?done=email"
    assert live_server.studio.store.get("ada").email == "new@example.org"

    forged = submit_form(client, "/account/objection", {"objected": "on"}, token="forged")
    assert forged.status_code == 400 and not live_server.studio.store.get("ada").objected
    assert (
        submit_form(client, "/account/objection", {"objected": "on"}, token=token).status_code
        == 303
    )
    assert live_server.studio.store.get("ada").objected

    unsure = submit_form(client, "/account/username", {"username": "ada_l"}, token=token)
    assert unsure.status_code == 401 and live_server.studio.store.get("ada_l") is None
    renamed = submit_form(
        client, "/account/username", {"username": "ada_l", "password": PASSWORD}, token=token
    )
    # The gallery is the account id's: the redirect names no old name to move from.
    assert renamed.status_code == 303 and renamed.headers["location"] == "/?done=username"
    assert client.get("/").status_code == 200  # the new cookie keeps this device logged in
    event, data, _ = gradio_call(client, "session", [])
    token = re.search(r'name="csrf_token" value="([^"]+)"', data[2]).group(1)

    other = login(live_server, "ada_l")
    changed = submit_form(
        client,
        "/account/password",
        {"current": PASSWORD, "new": "a brand new password", "new2": "a brand new password"},
        token=token,
    )
    assert changed.status_code == 303
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 303  # the other session ended

    event, data, _ = gradio_call(client, "session", [])
    token = re.search(r'name="csrf_token" value="([^"]+)"', data[2]).group(1)
    deleted = submit_form(
        client,
        "/account/delete",
        {"password": "a brand new password", "confirm_username": "ada_l"},
        token=token,
    )
    assert deleted.status_code == 303 and deleted.headers["location"].startswith("/goodbye")
    assert COOKIE_NAME not in client.cookies or not client.cookies.get(COOKIE_NAME)
    assert live_server.studio.store.get("ada_l") is None
    raw = live_server.studio.store.path.read_bytes()
    assert b"ada_l" not in raw and b"new@example.org" not in raw
    goodbye = client.get(deleted.headers["location"])
    assert "Wipe this browser" in goodbye.text and "unreadable" in goodbye.text
    # The signed instruction wipes once: the page spends it, a second try gets 410.
    token = re.search(r'data-token="([^"]+)"', goodbye.text).group(1)
    own = {"origin": str(client.base_url).rstrip("/")}
    first = client.post("/goodbye/wipe", json={"w": html.unescape(token)}, headers=own)
    assert first.status_code == 200 and first.json()["account"]
    again = client.post("/goodbye/wipe", json={"w": html.unescape(token)}, headers=own)
    assert again.status_code == 410
    assert client.post("/goodbye/wipe", json={"w": "forged"}, headers=own).status_code == 410
    # A goodbye link without the server's signature offers to wipe nothing.
    for forged in ("/goodbye?u=ada_l", "/goodbye?w=forged", "/goodbye?w=" + "x" * 5000):
        page = client.get(forged)
        assert page.status_code == 200 and "Wipe this browser" not in page.text


def test_hasher_fast_is_used_in_tests() -> None:
    assert PasswordHasher.fast().hash("x" * 10).startswith("$argon2id$v=19$m=1024")


# -- password reset through a real SMTP server ----------------------------------------------


def test_reset_link_read_back_from_smtp_works_once(settings: Settings, hasher, smtp_server) -> None:
    import re

    settings.smtp_host, settings.smtp_port, settings.smtp_security = (
        smtp_server.host,
        smtp_server.port,
        "none",
    )
    settings.public_url = "http://app.test"  # links come from the setting only
    studio = Studio(
        AccountStore.open(settings.store_path),
        DemoBackend(),
        settings=settings,
        hasher=hasher,
        mailer=SMTPMailer(settings),
    )
    studio.signup("ada", "ada@example.org", PASSWORD)
    session = studio.login("ada", PASSWORD)
    studio.request_password_reset("nobody@example.org")
    studio.request_password_reset("ADA@example.org")
    deadline = time.monotonic() + 10
    while not smtp_server.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # a mail for the unknown address would have come by now
    (mail,) = smtp_server.messages
    assert mail["To"] == "ada@example.org"
    link = re.search(r"http://app\.test/reset\?token=(\S+)", mail.get_content())
    assert link, mail.get_content()
    token = link.group(1)
    assert studio.check_reset_token(token) == "ada"
    studio.reset_password(token, "a fresh password here")
    with pytest.raises(AuthError):
        studio.user_from_session(session)  # other sessions ended
    with pytest.raises(AuthError, match="already used"):
        studio.reset_password(token, "yet another password")

    # A second link dies when the password changes another way.
    studio.request_password_reset("ada@example.org")
    while len(smtp_server.messages) < 2 and time.monotonic() < deadline + 10:
        time.sleep(0.02)
    second = re.search(r"token=(\S+)", smtp_server.messages[1].get_content()).group(1)
    studio.change_password("ada", "a fresh password here", "changed in the account tab")
    with pytest.raises(AuthError, match="no longer valid"):
        studio.reset_password(second, "should not work at all")


def test_reset_requests_are_throttled(studio: Studio, user: str) -> None:
    from aicreative.errors import Throttled

    for _ in range(3):
        studio.request_password_reset("ada@example.org")
    with pytest.raises(Throttled, match="reset requests"):
        studio.request_password_reset("ada@example.org")
