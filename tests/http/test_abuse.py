"""Issue 11, items 4-7 and 10: abuse of sign-up, throttles, bodies and small leaks.

Every test speaks HTTP to the real app under uvicorn on a free port
(``tests/fixtures_server.py``). Mail goes to the in-memory mailer (no SMTP
server is needed to read a link; tests/unit/test_mail.py covers real SMTP).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aicreative import Settings, Studio
from aicreative.mail import MemoryMailer
from aicreative.web.body_limits import FORM_BODY_LIMIT
from aicreative.web.security import COOKIE_NAME

from ..fixtures_server import (
    PASSWORD,
    LiveServer,
    csrf_token,
    form_error,
    gradio_call,
    login,
    login_response,
    signup,
    signup_response,
    submit_form,
)

Start = Callable[..., LiveServer]


def mails(studio: Studio, to: str, wait: float = 5.0) -> list[str]:
    """The bodies mailed to ``to`` (mail leaves from a thread: wait a little)."""
    mailer = studio.mailer
    assert isinstance(mailer, MemoryMailer)
    deadline = time.monotonic() + wait
    while True:
        found = [m.body for m in mailer.messages if m.to.lower() == to.lower()]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def serve(start: Start, settings: Settings, **changes: object) -> LiveServer:
    """A server over a fresh Studio built with ``settings`` changed as told."""
    from aicreative.accounts import PasswordHasher
    from aicreative.backends.demo import DemoBackend
    from aicreative.store import AccountStore

    changed = settings.replace(**changes)
    changed.ensure_data_dir()
    studio = Studio(
        AccountStore.open(changed.store_path),
        DemoBackend(),
        settings=changed,
        hasher=PasswordHasher.fast(),
        mailer=MemoryMailer(),
        secret_key=changed.secret_key.get_secret_value(),
    )
    return start(settings=changed, studio=studio)


# -- 4. sign-up flood ----------------------------------------------------------------------


def test_signups_per_address_are_limited(start_server: Start, settings: Settings) -> None:
    # Before: one address made 30 accounts in 15 s.
    live = serve(start_server, settings, signups_per_address=3)
    for n in range(3):
        signup(live, f"flood{n}")
    refused = signup_response(live.client(), "flood3")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "wait" in (form_error(refused.text) or "")
    assert live.studio.store.get("flood3") is None


def test_credits_come_with_the_one_use_confirmation_link(
    start_server: Start, settings: Settings, studio: Studio
) -> None:
    live = serve(start_server, settings, confirm_email=True)
    settings, studio = live.settings, live.studio
    settings.public_url = live.url  # links use the configured address, never the Host
    client = live.client()
    answer = signup_response(client, "ada")
    assert answer.status_code == 200
    assert "Check your inbox" in answer.text
    assert not client.cookies.get(COOKIE_NAME)
    stored = studio.store.require("ada")
    assert (stored.credits, stored.email_confirmed) == (0, False)

    # Logged in meanwhile: the header says the email awaits confirmation.
    ada = login(live, "ada")
    event, data, _ = gradio_call(ada, "session", [])
    assert event == "complete"
    assert 'data-testid="email-unconfirmed"' in data[0]

    (body,) = mails(studio, "ada@example.org")
    link = re.search(r"(\S+/confirm\?token=\S+)", body)
    assert link, body
    assert link.group(1).startswith(live.url + "/confirm?token=")
    path = link.group(1)[len(live.url) :]
    confirmed = client.get(path)
    assert confirmed.status_code == 200 and "Email confirmed" in confirmed.text
    assert studio.balance("ada") == settings.signup_credits
    again = client.get(path)  # one use
    assert again.status_code == 400
    assert studio.balance("ada") == settings.signup_credits
    forged = client.get(path[:-3] + "xyz")
    assert forged.status_code == 400
    event, data, _ = gradio_call(ada, "session", [])
    assert 'data-testid="email-unconfirmed"' not in data[0]


def test_confirmation_can_be_resent_a_few_times(
    start_server: Start, settings: Settings, studio: Studio
) -> None:
    live = serve(start_server, settings, confirm_email=True)
    # Links (the confirmation's too) come only from the configured address.
    live.settings.public_url = live.url
    studio = live.studio
    signup_response(live.client(), "ada")
    ada = login(live, "ada")
    event, data, _ = gradio_call(ada, "session", [])
    token = csrf_token(data[0])
    answers = [submit_form(ada, "/account/confirm", {}, token=token).status_code for _ in range(4)]
    assert answers == [303, 303, 303, 429]
    assert len(mails(studio, "ada@example.org")) >= 2


# -- 7. sign-up does not say which emails have accounts -------------------------------------


def test_a_taken_email_answers_like_a_fresh_one(
    start_server: Start, settings: Settings, studio: Studio
) -> None:
    live = serve(start_server, settings, confirm_email=True)
    # Links (the confirmation's too) come only from the configured address.
    live.settings.public_url = live.url
    settings, studio = live.settings, live.studio
    studio.signup("owner", "owner@example.org", PASSWORD)
    settings.public_url = live.url
    taken = signup_response(live.client(), "mallory1", "owner@example.org")
    fresh = signup_response(live.client(), "mallory2", "fresh@example.org")
    assert taken.status_code == fresh.status_code == 200
    assert taken.text.replace("owner@example.org", "X") == fresh.text.replace(
        "fresh@example.org", "X"
    )
    assert set(taken.headers) == set(fresh.headers)
    assert studio.store.get("mallory1") is None
    # The owner of the address is told, with the reset page of the public address.
    notice = mails(studio, "owner@example.org")
    assert any("tried to open a new AI Creative account" in body for body in notice), notice
    assert any(f"{live.url}/forgot" in body for body in notice)


def test_the_notice_has_no_link_without_a_public_address(
    start_server: Start, settings: Settings, studio: Studio
) -> None:
    live = serve(start_server, settings, confirm_email=True)
    studio = live.studio
    studio.signup("owner", "owner@example.org", PASSWORD)
    signup_response(live.client(), "mallory", "owner@example.org")
    (notice,) = [m for m in mails(studio, "owner@example.org") if "tried to open" in m]
    assert "http" not in notice and "/forgot" not in notice


# -- 5. others' failures do not lock the owner out ---------------------------------------


def test_the_owner_logs_in_while_others_fail(start_server: Start, settings: Settings) -> None:
    live = serve(start_server, settings, trust_proxy=True)
    live.studio.signup("ada", "ada@example.org", PASSWORD)
    for n in range(8):  # before: 7 of these made the owner's right password answer 429
        with live.client(headers={"x-forwarded-for": f"203.0.113.{n}"}) as attacker:
            assert login_response(attacker, "ada", "not the password").status_code == 401
    with live.client(headers={"x-forwarded-for": "192.0.2.1"}) as owner:
        assert login_response(owner, "ada", PASSWORD).status_code == 303
    # One attacker address that keeps trying is slowed: its own pair is spent.
    with live.client(headers={"x-forwarded-for": "203.0.113.99"}) as attacker:
        answers = [
            login_response(attacker, "ada", "not the password").status_code for _ in range(6)
        ]
    assert answers == [401] * 5 + [429]


# -- 6. bodies judged before they are read ---------------------------------------------------


def raw_request(live: LiveServer, head: str, body: bytes, wait: float = 5.0) -> bytes:
    """Send ``head`` and only the first bytes of a (much larger) body; read the answer.

    A server that reads the whole body before judging it never answers here,
    because the rest of the body never comes.
    """
    with socket.create_connection(("127.0.0.1", live.port), timeout=wait) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pass
        return answer


def head(live: LiveServer, path: str, *lines: str) -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\n"
        f"Origin: {live.url}\r\n" + "".join(line + "\r\n" for line in lines)
    )


def test_a_large_declared_body_is_refused_before_it_is_read(live_server: LiveServer) -> None:
    declared = 50 << 20
    answer = raw_request(
        live_server,
        head(
            live_server,
            "/login",
            "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {declared}",
        ),
        b"username=" + b"a" * 60_000,
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_large_streamed_body_is_refused_when_it_passes_the_limit(
    live_server: LiveServer,
) -> None:
    chunk = b"a" * 30_000
    body = b"%x\r\n%s\r\n" % (len(b"username=" + chunk), b"username=" + chunk)
    answer = raw_request(
        live_server,
        head(
            live_server,
            "/login",
            "Content-Type: application/x-www-form-urlencoded",
            "Transfer-Encoding: chunked",
        ),
        body,
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert len(chunk) > FORM_BODY_LIMIT


def test_a_file_part_is_refused_unread(live_server: LiveServer) -> None:
    # Before: a 1 GB file part posted to /login was spooled to /tmp in full.
    boundary = "b0undary"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="x.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + b"\0" * 60_000
    answer = raw_request(
        live_server,
        head(
            live_server,
            "/login",
            f"Content-Type: multipart/form-data; boundary={boundary}",
            f"Content-Length: {1 << 30}",
        ),
        part,
    )
    assert answer.startswith(b"HTTP/1.1 415"), answer[:200]
    small = live_server.client().post(
        "/signup",
        files={"username": (None, "ada"), "f": ("x.bin", b"data")},
        headers={"origin": live_server.url},
    )
    assert small.status_code == 415


def gradio_files(live: LiveServer) -> set[Path]:
    for route in getattr(live.app, "routes", []):
        inner = getattr(route, "app", None)
        if inner is not None and hasattr(inner, "uploaded_file_dir"):
            root = Path(inner.uploaded_file_dir)
            return set(root.rglob("*")) if root.exists() else set()
    raise AssertionError("no Gradio app mounted")


@pytest.mark.parametrize(
    "path",
    [
        "/gradio_api/upload",
        "/gradio_api/upload/",
        "//gradio_api//upload",
        "/gradio_api/upload?upload_id=x",
        "/gradio_api/process_recording",
    ],
)
def test_the_upload_route_is_closed(live_server: LiveServer, path: str) -> None:
    ada = signup(live_server, "ada")
    before = gradio_files(live_server)
    for files in ({"files": ("chosen-name.txt", b"")}, None):
        response = ada.post(
            path,
            files=files,
            content=None if files else b"x",
            headers={"origin": live_server.url},
        )
        assert response.status_code in (403, 404, 405, 415), (path, response.status_code)
    assert gradio_files(live_server) == before


# -- 10. small ones ---------------------------------------------------------------------------


def test_fn_index_minus_one_is_a_client_error(live_server: LiveServer) -> None:
    ada = signup(live_server, "ada")
    for body in (
        {"data": [], "fn_index": -1, "session_hash": "abcdefgh12"},
        {"data": [], "fn_index": 10**9, "session_hash": "abcdefgh12"},
        {"data": [], "fn_index": "x", "session_hash": "abcdefgh12"},
    ):
        response = ada.post("/gradio_api/queue/join", json=body)
        assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
        assert "Traceback" not in response.text


@pytest.mark.parametrize("size", ["10", "100000", "-5", "abc", "0"])
def test_an_unknown_pwa_icon_size_is_a_client_error(live_server: LiveServer, size: str) -> None:
    response = live_server.client().get(f"/pwa_icon/{size}")
    assert 400 <= response.status_code < 500, (size, response.status_code)
    assert "Traceback" not in response.text


def test_settings_never_print_secrets() -> None:
    settings = Settings(
        secret_key="s3cret-key-value-0123456789",
        smtp_password="smtp-pass-word-value",  # noqa: S106 - a test value
        hf_token="hf_tokenvalue12345",  # noqa: S106 - a test value
        backend="demo",
    )
    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        for secret in ("s3cret-key-value", "smtp-pass-word-value", "hf_tokenvalue12345"):
            assert secret not in text
    # The values themselves still work where they are used.
    assert settings.secret_key.get_secret_value() == "s3cret-key-value-0123456789"
    assert settings.smtp_password.get_secret_value() == "smtp-pass-word-value"
    assert Settings.from_env({"AICREATIVE_HF_TOKEN": "hf_x"}).hf_token.get_secret_value() == "hf_x"


def test_personal_responses_are_not_cached(live_server: LiveServer) -> None:
    ada = signup(live_server, "ada")
    for path in ("/", "/account/data.json", "/login", "/signup"):
        response = ada.get(path)
        assert "no-store" in response.headers.get("cache-control", ""), path
    submitted = ada.post("/gradio_api/call/session", json={"data": []})
    assert "no-store" in submitted.headers.get("cache-control", "")
    event_id = submitted.json()["event_id"]
    # Event streams: the headers are enough (the queue's stream stays open).
    for path, params in (
        (f"/gradio_api/call/session/{event_id}", {}),
        ("/gradio_api/queue/data", {"session_hash": "zzzzzzzz99"}),
    ):
        with ada.stream("GET", path, params=params, timeout=10) as stream:
            assert "no-store" in stream.headers.get("cache-control", ""), path
    static = ada.get("/ac-static/app.css")
    assert "no-store" not in static.headers.get("cache-control", "")


def test_signup_refuses_the_most_common_passwords(live_server: LiveServer) -> None:
    answer = signup_response(live_server.client(), "ada", password="1234567890")
    assert answer.status_code == 400
    assert "common" in (form_error(answer.text) or "")
    assert live_server.studio.store.get("ada") is None
