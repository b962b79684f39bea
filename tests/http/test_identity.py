"""Identity, roles, our address and a broken store, attacked over HTTP (issue 11).

Each test plays the attack that worked before the fix against the real
server (uvicorn on 127.0.0.1, a real TinyDB file, the real forms):

* a token outlives its account: whoever takes a freed name inherits the
  old holder's session or reset link;
* a role is taken by choosing a name listed in AICREATIVE_ADMIN_USERNAMES;
* a forged Host or client-written X-Forwarded-Host decides where a reset
  link points, and where Gradio's ``GET /logout`` redirects;
* a corrupt store shows visitors the operator's message, and an empty one
  is taken as new.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import httpx
import pytest

from aicreative import Settings, Studio
from aicreative.backends.demo import DemoBackend
from aicreative.errors import StoreError, ValidationError
from aicreative.store import AccountStore

from ..conftest import PASSWORD
from ..fixtures_server import (
    COOKIE_NAME,
    LiveServer,
    csrf_token,
    gradio_call,
    header_csrf,
    login,
    login_response,
    signup,
    signup_response,
    submit_form,
)


def logged_in(client: httpx.Client) -> bool:
    return client.get("/").status_code == 200


def session_name(client: httpx.Client) -> str:
    """The username the server shows this client in its header."""
    event, data, _ = gradio_call(client, "session", [])
    assert event == "complete", data
    match = re.search(r'data-testid="header-username">([^<]*)<', data[0])
    assert match, data[0][:300]
    return match.group(1)


def is_admin_over_http(client: httpx.Client) -> bool:
    """Whether the server shows this client the Admin tab (it decides, not the page)."""
    event, data, _ = gradio_call(client, "session", [])
    assert event == "complete", data
    return bool(data[3]["visible"])


def wait_for_mail(server: LiveServer, address: str, count: int = 1, seconds: float = 5) -> list:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        mails = server.studio.mailer.to(address)
        if len(mails) >= count:
            return mails
        time.sleep(0.02)
    return server.studio.mailer.to(address)


# -- 1. identity is the account id, never the name ------------------------------------------


def test_old_cookie_does_not_open_a_reregistered_name_after_deletion(
    live_server: LiveServer,
) -> None:
    ada = signup(live_server, "ada")
    stolen = ada.cookies.get(COOKIE_NAME)
    live_server.studio.delete_account_now("ada")
    assert not logged_in(ada)
    # Someone else registers the freed name (a new account starts at counter 0 again).
    signup(live_server, "ada", email="newcomer@example.org")
    holder = live_server.client()
    holder.cookies.set(COOKIE_NAME, stolen)
    assert not logged_in(holder)
    assert holder.get("/account/data.json").status_code == 303  # no one's data


def test_old_cookie_follows_the_rename_not_the_freed_name(live_server: LiveServer) -> None:
    ada = signup(live_server, "ada")
    other_device = login(live_server, "ada")  # keeps the cookie issued before the rename
    token = header_csrf(ada)
    renamed = submit_form(
        ada, "/account/username", {"username": "ada_l", "password": PASSWORD}, token=token
    )
    assert renamed.status_code == 303
    newcomer = signup(live_server, "ada", email="newcomer@example.org")
    assert session_name(newcomer) == "ada"
    # The old cookies are still ada_l's (same identity), never the newcomer's.
    for device in (ada, other_device):
        if logged_in(device):
            assert session_name(device) == "ada_l"
        data = device.get("/account/data.json")
        assert "newcomer@example.org" not in data.text


def test_reset_link_of_a_deleted_account_is_refused_after_its_name_is_taken(
    live_server: LiveServer,
) -> None:
    live_server.settings.public_url = live_server.url
    studio = live_server.studio
    signup(live_server, "ada")
    client = live_server.client()
    assert submit_form(client, "/forgot", {"email": "ada@example.org"}).status_code == 200
    (mail,) = wait_for_mail(live_server, "ada@example.org")
    link = re.search(r"(/reset\?token=\S+)", mail.body).group(1)
    studio.delete_account_now("ada")
    signup(live_server, "ada", email="newcomer@example.org")
    page = client.get(link)
    assert page.status_code == 400 and "no longer valid" in page.text
    token = link.split("token=", 1)[1]
    taken = submit_form(
        client,
        "/reset",
        {"token": token, "password": "the attacker's choice", "password2": "the attacker's choice"},
        form_path="/forgot",
    )
    assert taken.status_code == 400
    assert login_response(live_server.client(), "ada", "the attacker's choice").status_code == 401


def test_rename_without_the_password_is_refused(live_server: LiveServer) -> None:
    ada = signup(live_server, "ada")
    token = header_csrf(ada)
    for password in (None, "", "not the password"):
        fields = {"username": "ada_taken"}
        if password is not None:
            fields["password"] = password
        answer = submit_form(ada, "/account/username", fields, token=token)
        assert answer.status_code == 401, (password, answer.status_code)
    assert live_server.studio.store.get("ada_taken") is None
    assert live_server.studio.store.get("ada") is not None


def test_the_account_form_asks_for_the_password_to_rename(live_server: LiveServer) -> None:
    ada = signup(live_server, "ada")
    event, data, _ = gradio_call(ada, "session", [])
    forms = re.findall(r'<form method="post" action="/account/username".*?</form>', str(data), re.S)
    assert forms and 'name="password"' in forms[0]


# -- 2. a role is granted, never taken by a name ----------------------------------------------


def test_signing_up_or_renaming_to_a_listed_name_after_start_grants_nothing(
    settings: Settings, studio: Studio, start_server
) -> None:
    settings.admin_usernames = ["boss", "chief"]
    server = start_server(settings=settings)
    boss = signup(server, "boss")
    assert not is_admin_over_http(boss)
    assert server.studio.store.get("boss").role == "user"
    eve = signup(server, "eve")
    renamed = submit_form(
        eve,
        "/account/username",
        {"username": "chief", "password": PASSWORD},
        token=header_csrf(eve),
    )
    assert renamed.status_code == 303
    assert not is_admin_over_http(eve)
    event, _, _ = gradio_call(eve, "admin_list", ["", 1])
    assert event == "error"  # the server refuses, whatever the page shows


def test_an_account_listed_at_start_becomes_admin_and_it_is_stored(
    settings: Settings, studio: Studio, start_server, caplog: pytest.LogCaptureFixture
) -> None:
    studio.signup("root", "root@example.org", PASSWORD)
    settings.admin_usernames = ["root"]
    with caplog.at_level(logging.WARNING, logger="aicreative.studio"):
        server = start_server(settings=settings)
    assert any(
        "role of root" in r.getMessage() and "admin" in r.getMessage() for r in caplog.records
    )
    assert is_admin_over_http(login(server, "root"))
    # Stored: a fresh store over the same file, without the setting, says admin.
    assert AccountStore.open(settings.store_path).get("root").role == "admin"
    plain = Studio(
        AccountStore.open(settings.store_path),
        DemoBackend(),
        settings=Settings(data_dir=settings.data_dir),
    )
    assert plain.is_admin("root")


# -- 3. the Host header is not our address ----------------------------------------------------


def forgot(
    client: httpx.Client, email: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    page = client.get("/forgot")
    return client.post(
        "/forgot",
        data={"email": email, "csrf_token": csrf_token(page.text)},
        headers={"origin": str(client.base_url).rstrip("/"), **(headers or {})},
    )


def test_a_forged_host_is_refused(live_server: LiveServer) -> None:
    signup(live_server, "ada")
    client = live_server.client()
    for path in ("/forgot", "/login", "/"):
        answer = client.get(path, headers={"host": "evil.test"})
        assert answer.status_code == 400, path
    answer = client.post(
        "/forgot", data={"email": "ada@example.org"}, headers={"host": "evil.test"}
    )
    assert answer.status_code == 400
    assert wait_for_mail(live_server, "ada@example.org", seconds=0.5) == []
    # The health check answers any host (a platform's probe names none of ours).
    assert client.get("/healthz", headers={"host": "10.0.0.7:7860"}).status_code == 200


def test_without_a_public_address_no_link_is_mailed_and_the_answer_is_the_same(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    monkeypatch.delenv("SPACE_HOST", raising=False)
    live_server.settings.public_url = ""
    signup(live_server, "ada")
    client = live_server.client()
    with caplog.at_level(logging.WARNING, logger="aicreative.studio"):
        known = forgot(client, "ada@example.org")
        unknown = forgot(client, "nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    visible = [page.text.replace(csrf_token(page.text), "T") for page in (known, unknown)]
    assert visible[0] == visible[1]
    assert wait_for_mail(live_server, "ada@example.org", seconds=0.5) == []
    assert any("AICREATIVE_PUBLIC_URL" in r.getMessage() for r in caplog.records)


def test_the_link_uses_the_public_address_whatever_the_forwarded_host(
    settings: Settings, studio: Studio, start_server
) -> None:
    settings.trust_proxy = True
    settings.public_url = "https://ai.example.org"
    settings.allowed_hosts = ["ai.example.org", "127.0.0.1"]
    server = start_server(settings=settings)
    studio.signup("ada", "ada@example.org", PASSWORD)
    client = server.client()
    # The client writes the first entry; the (trusted) proxy appends ours.
    page = client.get("/forgot", headers={"x-forwarded-host": "evil.test, ai.example.org"})
    answer = client.post(
        "/forgot",
        data={"email": "ada@example.org", "csrf_token": csrf_token(page.text)},
        headers={
            "x-forwarded-host": "evil.test, ai.example.org",
            "x-forwarded-proto": "https",
            "origin": "https://ai.example.org",
        },
    )
    assert answer.status_code == 200
    (mail, *_) = wait_for_mail(server, "ada@example.org")
    assert "https://ai.example.org/reset?token=" in mail.body
    assert "evil.test" not in mail.body
    # The proxy's own entry must be ours: a rightmost forged host is refused.
    assert client.get("/forgot", headers={"x-forwarded-host": "evil.test"}).status_code == 400


def test_origin_check_uses_the_proxys_entry_not_the_clients(
    settings: Settings, studio: Studio, start_server
) -> None:
    settings.trust_proxy = True
    server = start_server(settings=settings)
    ours = server.url.split("//", 1)[1]
    client = server.client()
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": "x", "password": "y", "csrf_token": csrf_token(page.text)},
        headers={"x-forwarded-host": f"evil.test, {ours}", "origin": "http://evil.test"},
    )
    assert answer.status_code == 403 and "another site" in answer.text


def test_gradio_logout_link_never_redirects_to_a_forwarded_host(
    settings: Settings, studio: Studio, start_server
) -> None:
    for trust in (False, True):
        settings.trust_proxy = trust
        server = start_server(settings=settings)
        ours = server.url.split("//", 1)[1]
        ada = signup(server, f"ada{int(trust)}")
        answer = ada.get("/logout", headers={"x-forwarded-host": f"evil.test, {ours}"})
        assert answer.status_code in (302, 303, 307)
        location = answer.headers["location"]
        assert "evil.test" not in location and not location.startswith("//")
        assert location.startswith("/") or location.startswith(server.url)
        server.stop()


# -- 9. a broken store: visitors see "unavailable", the operator the file ---------------------


def test_an_empty_store_file_is_refused_at_start_and_kept(settings: Settings) -> None:
    settings.ensure_data_dir()
    settings.store_path.write_bytes(b"")
    with pytest.raises(StoreError, match=re.escape(str(settings.store_path))):
        Studio.from_settings(settings)
    assert settings.store_path.read_bytes() == b""  # not taken as new, not overwritten
    settings.store_path.write_bytes(b"  \n")
    with pytest.raises(StoreError, match="empty"):
        AccountStore.open(settings.store_path)
    assert settings.store_path.read_bytes() == b"  \n"


def test_a_missing_file_is_a_new_store(settings: Settings) -> None:
    studio = Studio.from_settings(settings)
    assert studio.store.count() == 0
    studio.signup("ada", "ada@example.org", PASSWORD)
    assert AccountStore.open(settings.store_path).get("ada") is not None


def test_an_unreadable_store_is_refused_at_start_and_kept(settings: Settings) -> None:
    settings.ensure_data_dir()
    path = settings.store_path
    if os.geteuid() == 0:
        path.mkdir()  # root reads any file: a folder in its place is unreadable as one
    else:
        path.write_text('{"accounts": {}}')
        path.chmod(0)
    with pytest.raises(StoreError, match="accounts.json"):
        Studio.from_settings(settings)
    assert path.exists()


def test_a_store_that_breaks_while_serving_says_only_unavailable(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    live_server.settings.public_url = live_server.url
    signup(live_server, "ada")
    path: Path = live_server.studio.store.path  # type: ignore[assignment]
    client = live_server.client()
    forms = {
        "/login": {"username": "ada", "password": PASSWORD},
        "/signup": {
            "username": "bob",
            "email": "bob@example.org",
            "password": PASSWORD,
            "password2": PASSWORD,
        },
        "/forgot": {"email": "ada@example.org"},
    }
    tokens = {p: csrf_token(client.get(p).text) for p in forms}
    ada = login(live_server, "ada")
    path.write_bytes(b'{"accounts": {"1": {"username": "ada", "email"')  # cut short
    with caplog.at_level(logging.ERROR):
        for form_path, fields in forms.items():
            answer = client.post(
                form_path,
                data={**fields, "csrf_token": tokens[form_path]},
                headers={"origin": live_server.url},
            )
            assert answer.status_code == 503, (form_path, answer.status_code, answer.text[:200])
            assert "temporarily unavailable" in answer.text
            for secret in (str(path), "accounts.json", "corrupt", str(path.parent)):
                assert secret not in answer.text, (form_path, secret)
        # A logged-in user is told the same, and keeps the cookie for when it is back.
        cookie = ada.cookies.get(COOKIE_NAME)
        home = ada.get("/")
        assert home.status_code == 503 and str(path) not in home.text
        assert "set-cookie" not in home.headers and ada.cookies.get(COOKIE_NAME) == cookie
    assert any(str(path) in r.getMessage() for r in caplog.records)  # the operator's message
    assert path.read_bytes().endswith(b'"email"')  # kept as it was
    anonymous = live_server.client()
    assert signup_response(anonymous, "carl").status_code in (200, 503)
    assert str(path) not in signup_response(anonymous, "carl").text


# -- the threat model names real tests ----------------------------------------------------------


def test_security_md_names_only_tests_that_exist() -> None:
    """Each `file::test` that SECURITY.md gives as a proof exists (TODO-MERGE rows aside)."""
    root = Path(__file__).resolve().parents[2]
    text = (root / "SECURITY.md").read_text()
    checked = 0
    for line in text.splitlines():
        if not line.startswith("|") or "TODO-MERGE" in line:
            continue
        current = None
        for ref in re.findall(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", line.split("|")[-2]):
            path, name = ref
            current = path or current
            if name:
                assert current, line
                source = (root / current).read_text()
                assert f"def {name}(" in source, f"{current}::{name} named in SECURITY.md"
                checked += 1
    assert checked >= 20


def test_trusted_hosts_come_from_the_operator_never_the_request(monkeypatch) -> None:
    from aicreative.web.security import host_allowed

    monkeypatch.delenv("SPACE_HOST", raising=False)
    assert Settings().trusted_hosts == ["localhost", "127.0.0.1", "::1"]
    assert not Settings().host_list_configured
    s = Settings(public_url="https://AI.example.org/")
    assert s.public_base_url == "https://AI.example.org"
    assert s.trusted_hosts[0] == "ai.example.org" and s.host_list_configured
    monkeypatch.setenv("SPACE_HOST", "someone-app.hf.space")
    assert Settings().public_base_url == "https://someone-app.hf.space"
    assert "someone-app.hf.space" in s.trusted_hosts  # beside a custom domain
    assert Settings(allowed_hosts="a.example, *.b.example").trusted_hosts == [
        "a.example",
        "*.b.example",
    ]
    allowed = ["ai.example.org", "*.b.example", "::1"]
    assert host_allowed("AI.example.org:443", allowed)
    assert host_allowed("x.b.example", allowed) and not host_allowed("b.example.evil", allowed)
    assert host_allowed("[::1]:7860", allowed)
    assert not host_allowed("", allowed) and not host_allowed("evil.test", allowed)
    with pytest.raises(ValidationError):
        Settings(public_url="ai.example.org")  # a host alone is no address for a link
