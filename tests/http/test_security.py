"""HTTPS, the proxy switch, the Spaces iframe cookie, headers and session lifetimes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from aicreative import Settings, Studio
from aicreative.web.app import create_app
from aicreative.web.security import COOKIE_NAME

from ..conftest import PASSWORD, free_port
from ..fixtures_mail import self_signed_cert
from ..fixtures_server import csrf_token, gradio_call, login, signup, signup_response, submit_form


def test_https_server_sends_hsts_and_secure_cookie(
    tmp_path: Path, settings: Settings, studio: Studio
) -> None:
    import uvicorn

    cert = self_signed_cert(tmp_path)
    settings.ssl_certfile, settings.ssl_keyfile = str(cert.cert), str(cert.key)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(studio, settings),
            host="127.0.0.1",
            port=port,
            ssl_certfile=settings.ssl_certfile,
            ssl_keyfile=settings.ssl_keyfile,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(
            base_url=url, verify=cert.client_context(), follow_redirects=False
        ) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    health = client.get("/healthz")
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            assert health.headers["strict-transport-security"].startswith("max-age=31536000")
            response = signup_response(client, "ada", origin=url)
            assert response.status_code == 303
            cookie = response.headers["set-cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3)  # no plain HTTP there
    finally:
        server.should_exit = True
        thread.join(10)


def test_plain_http_has_no_hsts_and_no_secure(live_server) -> None:
    client = live_server.client()
    assert "strict-transport-security" not in client.get("/healthz").headers
    response = signup_response(client, "ada", origin=live_server.url)
    assert "Secure" not in response.headers["set-cookie"]


@pytest.mark.parametrize("trusted", [True, False])
def test_forwarded_proto_only_when_trusted(
    settings: Settings, studio: Studio, trusted: bool
) -> None:
    settings.trust_proxy = trusted
    settings.allowed_hosts = ["testserver"]  # TestClient's Host
    client = TestClient(
        create_app(studio, settings), base_url="http://testserver", follow_redirects=False
    )
    headers = {"x-forwarded-proto": "https"}
    health = client.get("/healthz", headers=headers)
    assert ("strict-transport-security" in health.headers) is trusted
    response = signup_response(
        client,
        "ada",
        headers=headers,
        form_headers=headers,
        origin="https://testserver" if trusted else "http://testserver",
    )
    assert response.status_code == 303
    assert ("Secure" in response.headers["set-cookie"]) is trusted


def test_spaces_iframe_cookie_and_frame_ancestors(
    settings: Settings, studio: Studio, monkeypatch
) -> None:
    monkeypatch.setenv("SPACE_ID", "someone/ai-creative")
    settings.trust_proxy = True
    settings.allowed_hosts = ["testserver"]  # TestClient's Host
    client = TestClient(
        create_app(studio, settings), base_url="http://testserver", follow_redirects=False
    )
    headers = {"x-forwarded-proto": "https"}
    csp = client.get("/login", headers=headers).headers["content-security-policy"]
    assert "frame-ancestors 'self' https://huggingface.co https://*.hf.space" in csp
    response = signup_response(
        client, "ada", headers=headers, form_headers=headers, origin="https://testserver"
    )
    cookie = response.headers["set-cookie"]
    for part in ("SameSite=none", "Secure", "Partitioned", "HttpOnly"):
        assert part in cookie
    # With SameSite=None, the Origin check is what stops a cross-site form.
    evil = client.post("/logout", data={}, headers={**headers, "origin": "https://evil.example"})
    assert evil.status_code == 403


def test_listen_address_follows_spaces(monkeypatch) -> None:
    assert Settings().listen_host == "127.0.0.1"
    monkeypatch.setenv("SPACE_ID", "someone/ai-creative")
    assert Settings().listen_host == "0.0.0.0"
    assert Settings(host="10.1.2.3").listen_host == "10.1.2.3"


@pytest.mark.parametrize("path", ["/login", "/privacy", "/healthz", "/ac-static/site.css"])
def test_security_headers_everywhere(live_server, path: str) -> None:
    headers = live_server.client().get(path).headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert "http" not in csp.replace("https://huggingface.co", "")  # no third-party source
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "camera=()" in headers["permissions-policy"]


def test_gradio_page_has_the_headers_too(live_server) -> None:
    client = signup(live_server, "ada")
    headers = client.get("/").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"


def test_sessions_rotate_at_login(live_server) -> None:
    signup(live_server, "ada")
    first = login(live_server, "ada").cookies[COOKIE_NAME]
    time.sleep(1.05)  # the token carries its signing time in seconds
    second = login(live_server, "ada").cookies[COOKIE_NAME]
    assert first != second


def test_sessions_expire(settings: Settings, studio: Studio) -> None:
    studio.signup("ada", "ada@example.org", PASSWORD)
    token = studio.login("ada", PASSWORD)
    studio.tokens.session_max_age = 0
    time.sleep(1.05)
    settings.allowed_hosts = ["testserver"]  # TestClient's Host
    client = TestClient(create_app(studio, settings), follow_redirects=False)
    client.cookies.set(COOKIE_NAME, token)
    assert client.get("/").status_code == 303


def test_sessions_end_on_logout_password_change_and_deletion(live_server) -> None:
    studio = live_server.studio
    client = signup(live_server, "ada")
    copy = login(live_server, "ada")
    event, data, _ = gradio_call(client, "session", [])
    token = csrf_token(data[0])
    assert submit_form(client, "/logout", {}, token=token).status_code == 303
    assert copy.get("/").status_code == 303  # logout ended every session
    assert copy.post("/gradio_api/call/generate", json={"data": []}).status_code == 401

    a = login(live_server, "ada")
    b = login(live_server, "ada")
    studio.change_password("ada", PASSWORD, "another long password")
    assert a.get("/").status_code == 303 and b.get("/").status_code == 303

    c = login(live_server, "ada", "another long password")
    studio.delete_account("ada", "another long password", "ada")
    assert c.get("/").status_code == 303
