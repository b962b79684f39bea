"""Personal API tokens and the REST API (issue 15), against a real server.

Tokens: stored as hashes only, found by their id through the store's index,
listed without the hash in "my data" and the export, throttled, dead after
revocation, expiry, a password change or a reset, and the account's
deletion (even when someone takes the name again). The API: every refusal
with its status code, a token that only generates and reads the balance,
no cookie and no CORS, bodies judged before reading, the OpenAI Images
shape through the ``openai`` package's own client, a schemathesis run over
the OpenAPI document, and a privacy scan after API use.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image

from aicreative import Studio
from aicreative.apitokens import LAST_USED_EVERY, hash_secret
from aicreative.errors import AuthError, NotFound, Throttled, ValidationError
from aicreative.store import Account, AccountStore
from aicreative.web.security import COOKIE_NAME

from ..conftest import PASSWORD
from ..fixtures_server import LiveServer, generate, signup

# -- the store's part -----------------------------------------------------------------


def test_store_finds_a_token_by_id_and_changes_tokens_in_one_step(store: AccountStore) -> None:
    ada = store.add(Account("ada", "ada@example.org", "h"))
    bob = store.add(Account("bob", "bob@example.org", "h"))
    assert store.find_token("0123456789abcdef") is None
    store.change_tokens(ada.account_id, lambda t: (*t, {"id": "a1", "hash": "x", "name": "n"}))
    store.change_tokens(bob.account_id, lambda t: (*t, {"id": "b1", "hash": "y", "name": "n"}))
    found = store.find_token("a1")
    assert found is not None and found.username == "ada"
    assert store.find_token("b1").username == "bob"  # type: ignore[union-attr]
    # The index follows a rename and a removal.
    store.update("ada", username="ada2")
    assert store.find_token("a1").username == "ada2"  # type: ignore[union-attr]
    store.change_tokens(ada.account_id, lambda t: ())
    assert store.find_token("a1") is None
    # The whitelist holds inside a token entry too: never a secret.
    with pytest.raises(ValidationError, match="API token entry"):
        store.change_tokens(ada.account_id, lambda t: ({"id": "a2", "secret": "s"},))
    assert store.get("ada2").api_tokens == ()  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        store.change_tokens("no-such-id", lambda t: t)
    store.delete("bob")
    assert store.find_token("b1") is None


def test_store_token_index_sees_another_writer(tmp_path: Path) -> None:
    # Two store objects over one file, as two processes would have.
    first = AccountStore.open(tmp_path / "accounts.json")
    second = AccountStore.open(tmp_path / "accounts.json")
    ada = first.add(Account("ada", "ada@example.org", "h"))
    assert second.find_token("t1") is None
    first.change_tokens(ada.account_id, lambda t: ({"id": "t1", "hash": "x", "name": "n"},))
    assert second.find_token("t1").username == "ada"  # type: ignore[union-attr]
    first.close()
    second.close()


# -- tokens in the Studio ----------------------------------------------------------------


def test_a_token_is_stored_as_a_hash_and_listed_without_it(studio: Studio, user: str) -> None:
    new = studio.create_api_token(user, "  my   laptop ", days=30)
    token_id, secret = new.token.split("_", 2)[1:]
    assert new.info["id"] == token_id and new.info["name"] == "my laptop"
    raw = json.dumps(studio.store.raw_records())
    assert secret not in raw and new.token not in raw
    (entry,) = studio.store.require(user).api_tokens
    assert entry["hash"] == hash_secret(secret)
    assert set(entry) == {"id", "hash", "name", "created", "last_used", "expires"}
    listed = studio.api_token_list(user)
    assert [t["name"] for t in listed] == ["my laptop"] and "hash" not in listed[0]
    assert listed[0]["expires"] is not None and listed[0]["expired"] is False
    # "My data" and the export list the token, never its hash.
    stored = studio.my_data(user)["stored"]["api_tokens"]
    assert stored == listed
    export = studio.export_data(user).decode()
    assert token_id in export and entry["hash"] not in export and secret not in export


def test_token_rules(studio: Studio, user: str) -> None:
    for name in ("", "   ", "x" * 65, "bad\x00name"):
        with pytest.raises(ValidationError):
            studio.create_api_token(user, name)
    for days in (0, -1, 4000, True):
        with pytest.raises(ValidationError):
            studio.create_api_token(user, "n", days=days)  # type: ignore[arg-type]
    studio._api_tokens.max_per_account = 2
    studio.create_api_token(user, "one")
    studio.create_api_token(user, "two")
    with pytest.raises(ValidationError, match="revoke one first"):
        studio.create_api_token(user, "three")
    with pytest.raises(NotFound):
        studio.revoke_api_token(user, "0123456789abcdef")
    for bad in (None, "", "aic_", "Bearer x", "aic_0123456789abcdef_" + "a" * 43, "x" * 10_000):
        with pytest.raises(AuthError):
            studio.user_from_api_token(bad)


def test_last_used_is_written_at_most_once_a_minute(studio: Studio, user: str) -> None:
    now = [dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)]
    studio._api_tokens.clock = lambda: now[0]
    new = studio.create_api_token(user, "script")
    assert studio.api_token_list(user)[0]["last_used"] is None
    studio.user_from_api_token(new.token)
    assert studio.api_token_list(user)[0]["last_used"] == "2026-12-01T08:00:00Z"
    writes = []
    original = studio.store.change_tokens
    studio.store.change_tokens = lambda *a: writes.append(a) or original(*a)  # type: ignore[method-assign]
    for seconds in (1, 30, LAST_USED_EVERY - 1):
        now[0] = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
        studio.user_from_api_token(new.token)
    assert writes == []
    now[0] += dt.timedelta(seconds=2)
    studio.user_from_api_token(new.token)
    assert len(writes) == 1
    assert studio.api_token_list(user)[0]["last_used"] == "2026-12-01T08:01:01Z"


def test_expiry(studio: Studio, user: str) -> None:
    now = [dt.datetime(2026, 12, 1, tzinfo=dt.UTC)]
    studio._api_tokens.clock = lambda: now[0]
    new = studio.create_api_token(user, "week", days=7)
    assert studio.user_from_api_token(new.token).username == user
    now[0] += dt.timedelta(days=7)
    with pytest.raises(AuthError, match="expired"):
        studio.user_from_api_token(new.token)
    assert studio.api_token_list(user)[0]["expired"] is True


def test_tokens_die_with_a_password_change_and_a_reset(studio: Studio, user: str) -> None:
    first = studio.create_api_token(user, "a")
    studio.change_password(user, PASSWORD, "another long password")
    with pytest.raises(AuthError):
        studio.user_from_api_token(first.token)
    assert studio.api_token_list(user) == []
    second = studio.create_api_token(user, "b")
    link = studio.reset_token(user)
    studio.reset_password(link, "a third long password")
    with pytest.raises(AuthError):
        studio.user_from_api_token(second.token)


def test_a_token_follows_the_account_not_the_name(studio: Studio, user: str) -> None:
    new = studio.create_api_token(user, "a")
    studio.store.update(user, username="ada_renamed")
    assert studio.user_from_api_token(new.token).username == "ada_renamed"
    studio.delete_account_now("ada_renamed")
    studio.signup("ada_renamed", "other@example.org", PASSWORD)
    with pytest.raises(AuthError):
        studio.user_from_api_token(new.token)


def test_a_token_is_throttled(studio: Studio, user: str) -> None:
    studio._api_tokens.limit.limit = 3
    first, second = studio.create_api_token(user, "a"), studio.create_api_token(user, "b")
    for _ in range(3):
        studio.user_from_api_token(first.token)
    with pytest.raises(Throttled):
        studio.user_from_api_token(first.token)
    # Per token: the other one still works.
    studio.user_from_api_token(second.token)


# -- the API over HTTP ----------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def api_user(live: LiveServer, name: str = "ada", credits: int | None = None) -> str:
    live.studio.signup(name, f"{name}@example.org", PASSWORD)
    if credits is not None:
        live.studio.take(name, 1000)
        live.studio.grant(name, credits)
    return live.studio.create_api_token(name, "tests").token


def test_generate_and_balance(live_server: LiveServer) -> None:
    token = api_user(live_server)
    client = live_server.client(headers=bearer(token))
    assert client.get("/api/v1/balance").json() == {"balance": 10}
    answer = client.post(
        "/api/v1/images", json={"prompt": "a kite", "count": 2, "seed": 5, "size": "512x768"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    data = answer.json()
    assert data["seeds"] == [5, 6] and data["cost"] == 4 and data["balance"] == 6
    assert [i["seed"] for i in data["images"]] == [5, 6]
    for item in data["images"]:
        with Image.open(io.BytesIO(base64.b64decode(item["png_base64"]))) as picture:
            assert picture.format == "PNG" and picture.size == (512, 768)
    assert client.get("/api/v1/balance").json() == {"balance": 6}
    # The same seed gives the same bytes as the Studio itself.
    again = client.post("/api/v1/images", json={"prompt": "a kite", "seed": 5, "size": "512x768"})
    assert again.json()["images"][0]["png_base64"] == data["images"][0]["png_base64"]


def test_every_refusal_has_its_status(live_server: LiveServer) -> None:
    live = live_server
    token = api_user(live)
    anonymous = live.client()
    body = {"prompt": "a kite"}

    def error(response: httpx.Response, status: int) -> dict[str, object]:
        assert response.status_code == status, (response.status_code, response.text)
        detail = response.json()["error"]
        assert isinstance(detail["message"], str) and detail["message"]
        return detail  # type: ignore[no-any-return]

    # No token, a malformed one, a made-up one.
    no_token = anonymous.post("/api/v1/images", json=body)
    assert error(no_token, 401)["code"] == "invalid_token"
    assert no_token.headers["www-authenticate"].startswith("Bearer")
    error(anonymous.get("/api/v1/balance"), 401)
    error(anonymous.get("/api/v1/balance", headers=bearer("nonsense")), 401)
    made_up = "aic_0123456789abcdef_" + "A" * 43
    error(anonymous.get("/api/v1/balance", headers=bearer(made_up)), 401)
    # Basic auth is not a bearer token.
    error(anonymous.get("/api/v1/balance", headers={"authorization": "Basic YTpi"}), 401)

    # Revoked.
    revoked = live.studio.create_api_token("ada", "gone")
    assert anonymous.get("/api/v1/balance", headers=bearer(revoked.token)).status_code == 200
    live.studio.revoke_api_token("ada", revoked.info["id"])
    error(anonymous.get("/api/v1/balance", headers=bearer(revoked.token)), 401)

    # Expired.
    expiring = live.studio.create_api_token("ada", "old", days=1)
    real_clock = live.studio._api_tokens.clock
    live.studio._api_tokens.clock = lambda: real_clock() + dt.timedelta(days=2)
    detail = error(anonymous.get("/api/v1/balance", headers=bearer(expiring.token)), 401)
    assert "expired" in str(detail["message"])
    live.studio._api_tokens.clock = real_clock

    # Another user's token after that user deleted the account, and the
    # name taken again by someone else: nothing of either is reachable.
    bob = api_user(live, "bob")
    live.studio.delete_account_now("bob")
    live.studio.signup("bob", "bob2@example.org", PASSWORD)
    error(anonymous.get("/api/v1/balance", headers=bearer(bob)), 401)
    error(anonymous.post("/api/v1/images", json=body, headers=bearer(bob)), 401)
    assert live.studio.balance("bob") == 10

    # Not enough credits: nothing charged.
    client = live.client(headers=bearer(token))
    big = {"prompt": "a kite", "size": "1024x1024", "count": 4}
    detail = error(client.post("/api/v1/images", json=big), 402)
    assert detail["code"] == "not_enough_credits"
    assert (detail["needed"], detail["balance"]) == (16, 10)
    assert live.studio.balance("ada") == 10

    # Bad input: clear messages, no charge.
    for bad, status, field in (
        ({"prompt": "a kite", "size": "500x500"}, 400, "width"),
        ({"prompt": "a kite", "size": "huge"}, 422, "size"),
        ({"prompt": "   "}, 400, "prompt"),
        ({"prompt": "x" * 1001}, 400, "prompt"),
        ({"prompt": "a kite", "count": 5}, 422, "count"),
        ({"prompt": "a kite", "steps": 0}, 422, "steps"),
        ({"prompt": "a kite", "guidance": "lots"}, 422, "guidance"),
        ({"prompt": "a kite", "seed": -1}, 422, "seed"),
        ({"prompt": "a kite", "cookies": 1}, 422, "cookies"),
        ({}, 422, "prompt"),
    ):
        detail = error(client.post("/api/v1/images", json=bad), status)
        assert detail.get("field") == field, (bad, detail)
        assert "x" * 50 not in json.dumps(detail)  # the input is not echoed
    error(
        client.post(
            "/api/v1/images", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
    )
    assert live.studio.balance("ada") == 10

    # Too large: judged by the declared size, before reading.
    huge = client.post(
        "/api/v1/images", content=b"x" * 100_000, headers={"content-type": "application/json"}
    )
    assert error(huge, 413)["code"] == "body_too_large"
    # Without a declared size (chunked), reading stops at the limit.
    chunked = client.post(
        "/api/v1/images",
        content=iter([b"x" * 20_000] * 50),
        headers={"content-type": "application/json"},
    )
    assert error(chunked, 413)["code"] == "body_too_large"
    openai_huge = client.post("/v1/images/generations", content=b"x" * 100_000)
    assert openai_huge.status_code == 413 and openai_huge.json()["error"]["type"]

    # Too many requests with one token: 429 with Retry-After.
    live.studio._api_tokens.limit.limit = 2
    throttled = live.studio.create_api_token("ada", "burst")
    burst = live.client(headers=bearer(throttled.token))
    assert [burst.get("/api/v1/balance").status_code for _ in range(2)] == [200, 200]
    answer = burst.get("/api/v1/balance")
    detail = error(answer, 429)
    assert int(answer.headers["retry-after"]) >= 1 and detail["retry_after"] >= 1  # type: ignore[operator]
    error(burst.post("/api/v1/images", json=body), 429)
    assert live.studio.balance("ada") == 10


def test_a_session_cookie_opens_nothing_and_a_token_opens_nothing_else(
    live_server: LiveServer,
) -> None:
    live = live_server
    browser = signup(live, "ada")
    # The logged-in browser's cookie is not an API credential (no CSRF surface).
    assert browser.get("/api/v1/balance").status_code == 401
    assert browser.post("/api/v1/images", json={"prompt": "a kite"}).status_code == 401
    token = live.studio.create_api_token("ada", "script").token
    stranger = live.client(headers=bearer(token))
    # The token is no session: the app, Gradio's API and the account forms stay closed.
    assert stranger.get("/").status_code == 303
    assert stranger.get("/my-data").status_code in (303, 401, 403, 404)
    stranger.cookies.set(COOKIE_NAME, token)
    assert stranger.get("/").status_code == 303
    submitted = stranger.post("/gradio_api/call/generate", json={"data": []})
    assert submitted.status_code in (401, 403)
    assert live.studio.balance("ada") == 10


def test_cors_stays_closed(live_server: LiveServer) -> None:
    token = api_user(live_server)
    client = live_server.client()
    evil = "https://evil.example"
    preflight = client.options(
        "/api/v1/images",
        headers={
            "origin": evil,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers
    answer = client.get("/api/v1/balance", headers={**bearer(token), "origin": evil})
    assert "access-control-allow-origin" not in answer.headers
    # A page on another site that has the token still cannot POST from a browser.
    posted = client.post(
        "/api/v1/images",
        json={"prompt": "a kite"},
        headers={**bearer(token), "origin": evil, "sec-fetch-site": "cross-site"},
    )
    assert posted.status_code == 403
    assert live_server.studio.balance("ada") == 10


def test_openapi_document_and_docs_page(live_server: LiveServer) -> None:
    client = live_server.client()
    doc = client.get("/api/v1/openapi.json").json()
    assert set(doc["paths"]) == {"/api/v1/images", "/api/v1/balance", "/v1/images/generations"}
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "POST /api/v1/images" in page.text
    # Self-contained: nothing from another host, no script at all.
    assert "<script" not in page.text and "cdn" not in page.text.lower()
    import re

    assert not re.search(r'(src|href)\s*=\s*"?(https?:)?//', page.text)
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # The app's own OpenAPI document (Gradio's routes) stays unpublished.
    assert client.get("/openapi.json").status_code in (303, 401, 404)
    assert client.get("/docs").status_code in (303, 401, 404)


def test_a_caller_that_hangs_up_is_refunded(live_server: LiveServer) -> None:
    live = live_server
    token = api_user(live)
    live.studio.backend.step_delay = 0.2  # type: ignore[attr-defined]
    body = json.dumps({"prompt": "a slow kite", "steps": 10, "seed": 1}).encode()
    request = (
        f"POST /api/v1/images HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", live.port)) as sock:
        sock.sendall(request)
        deadline = time.monotonic() + 10
        while live.studio.balance("ada") == 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert live.studio.balance("ada") == 9  # charged, running
    deadline = time.monotonic() + 15
    while live.studio.balance("ada") != 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.studio.balance("ada") == 10


# -- the OpenAI shape, through the openai package's own client ------------------------------


def test_openai_client_generates(live_server: LiveServer) -> None:
    import openai

    token = api_user(live_server)
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=token, max_retries=0)
    result = client.images.generate(
        model="sd-turbo", prompt="a kite", n=2, size="512x512", response_format="b64_json"
    )
    assert len(result.data) == 2 and result.created > 0
    for item in result.data:
        with Image.open(io.BytesIO(base64.b64decode(item.b64_json or ""))) as picture:
            assert picture.size == (512, 512)
    assert live_server.studio.balance("ada") == 8

    # Refusals come back as the openai package's own exceptions, with OpenAI's error shape.
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(
            base_url=live_server.url + "/v1", api_key="wrong", max_retries=0
        ).images.generate(prompt="a kite")
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    with pytest.raises(openai.BadRequestError) as bad:
        client.images.generate(prompt="a kite", response_format="url")
    assert bad.value.param == "response_format" and "b64_json" in bad.value.message
    with pytest.raises(openai.APIStatusError) as poor:
        client.images.generate(prompt="a kite", size="1024x1024", n=4)
    assert poor.value.status_code == 402 and poor.value.code == "insufficient_quota"
    with pytest.raises(openai.UnprocessableEntityError) as invalid:
        client.images.generate(prompt="a kite", n=9)
    assert invalid.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert live_server.studio.balance("ada") == 8


# -- fuzzing from the OpenAPI document -----------------------------------------------------


def test_schemathesis_finds_no_server_error_or_schema_violation(live_server: LiveServer) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    live = live_server
    live.studio.signup("ada", "ada@example.org", PASSWORD)
    live.studio.grant("ada", 10_000)
    live.studio._api_tokens.limit.limit = 100_000
    token = live.studio.create_api_token("ada", "fuzz").token
    schema = schemathesis.openapi.from_url(live.url + "/api/v1/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    failures: list[str] = []
    examples = {"count": 0}

    def run(case: schemathesis.Case) -> None:
        examples["count"] += 1
        response = case.call(headers=bearer(token), timeout=30)
        try:
            case.validate_response(response, checks=checks)
        except Exception as exc:  # collect all, report together
            failures.append(f"{case.method} {case.path}: {exc}")

    for operation in schema.get_all_operations():
        strategy = operation.ok().as_strategy()
        bounded = settings(
            max_examples=60,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        bounded(given(case=strategy)(run))()
    assert not failures, "\n".join(failures[:5])
    assert examples["count"] >= 30, examples
    # Anonymous calls conform too (401 is documented).
    for path in ("/api/v1/balance",):
        assert httpx.get(live.url + path).status_code == 401


# -- privacy ---------------------------------------------------------------------------------------


def test_no_prompt_on_disk_or_in_logs_after_api_use(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    start_server: Callable[..., LiveServer],
) -> None:
    from .test_privacy import every_log_record, files_written, scan_files, scan_for_leaks

    gradio_tmp, cwd, own_tmp = tmp_path / "gradio", tmp_path / "cwd", tmp_path / "systemp"
    for folder in (gradio_tmp, cwd, own_tmp):
        folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(gradio_tmp))
    monkeypatch.setenv("TMPDIR", str(own_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    monkeypatch.chdir(cwd)
    caplog.set_level(logging.DEBUG)
    tag = uuid.uuid4().hex
    markers = {
        "api prompt": f"mkapi{tag}p",
        "api negative": f"mkapi{tag}n",
        "openai prompt": f"mkopenai{tag}p",
        "refused size": f"mksize{tag}p",
        "too long": f"mklong{tag}p",
        "short balance": f"mkpoor{tag}p",
    }
    with files_written() as written, every_log_record() as records:
        live = start_server()
        token = api_user(live)
        client = live.client(headers=bearer(token))
        ok = client.post(
            "/api/v1/images",
            json={
                "prompt": markers["api prompt"],
                "negative_prompt": markers["api negative"],
                "count": 2,
            },
        )
        assert ok.status_code == 200
        assert (
            client.post(
                "/v1/images/generations", json={"prompt": markers["openai prompt"]}
            ).status_code
            == 200
        )
        assert (
            client.post(
                "/api/v1/images", json={"prompt": markers["refused size"], "size": "500x500"}
            ).status_code
            == 400
        )
        assert (
            client.post(
                "/api/v1/images", json={"prompt": markers["too long"] + "x" * 3000}
            ).status_code
            == 422
        )
        poor = {"prompt": markers["short balance"], "size": "1024x1024", "count": 4}
        assert client.post("/api/v1/images", json=poor).status_code == 402
        assert client.get("/api/v1/balance").json() == {"balance": 7}
        live.stop()
        log_text = "\n".join(records.lines)
    out, err = capfd.readouterr()
    captured = "\n".join([log_text, caplog.text, out, err])
    assert "generated 2 image(s) 512x512 for ada" in captured  # the capture works
    for name, marker in markers.items():
        assert marker not in captured, f"the {name} marker is in the server's log output"
    assert token not in captured, "the API token is in the log output"
    leaks = scan_for_leaks([tmp_path, live.settings.data_dir], list(markers.values()) + [token])
    leaks += scan_files(written, list(markers.values()) + [token])
    assert not leaks, "\n".join(map(str, leaks))


def test_generate_through_the_web_ui_still_works(live_server: LiveServer) -> None:
    # The API's middleware and handlers leave the Gradio UI as it was.
    client = signup(live_server, "ada")
    event, (payload, _, _), _ = generate(client, "a kite")
    assert event == "complete" and len(payload["images"]) == 1


# -- the Account tab's token section, over Gradio's HTTP API --------------------------------


def test_account_tab_creates_lists_and_revokes_tokens(live_server: LiveServer) -> None:
    from ..fixtures_server import gradio_call

    live = live_server
    browser = signup(live, "ada")
    event, (secret, table, _, status, name), _ = gradio_call(
        browser, "create_api_token", ["my <b>script</b>", 7]
    )
    assert event == "complete", status
    token = secret["value"] if isinstance(secret, dict) else secret
    assert token.startswith("aic_") and "shown only this once" in status and name == ""
    token_id = token.split("_")[1]
    # Escaped, listed with its id and dates, never a hash.
    assert "my &lt;b&gt;script&lt;/b&gt;" in table and token_id in table
    (entry,) = live.studio.store.require("ada").api_tokens
    assert entry["hash"] not in table
    api = live.client(headers=bearer(token))
    assert api.get("/api/v1/balance").json() == {"balance": 10}
    event, (listed, _), _ = gradio_call(browser, "api_tokens", [])
    assert event == "complete" and token_id in listed and "Last used" in listed
    # Refusals in the section: no name, a bad expiry.
    _, (_, _, _, status, _), _ = gradio_call(browser, "create_api_token", ["", 30])
    assert "name" in status
    # Revoke: the token stops at once.
    event, (table, _, status, _), _ = gradio_call(browser, "revoke_api_token", [token_id])
    assert event == "complete" and "revoked" in status and token_id not in table
    assert api.get("/api/v1/balance").status_code == 401
    # Another user cannot revoke (or see) ada's tokens.
    other = live.studio.create_api_token("ada", "kept").token
    bob = signup(live, "bob")
    _, (table, _, status, _), _ = gradio_call(bob, "revoke_api_token", [other.split("_")[1]])
    assert "no API token" in status and "kept" not in table
    assert api.get("/api/v1/balance", headers=bearer(other)).status_code == 200


@pytest.mark.browser
def test_token_section_in_chromium(chromium: object, web: object) -> None:
    """Create a token on the Account tab in real Chromium, use it, see it listed
    (and its secret gone after a reload), revoke it."""
    import re

    from playwright.sync_api import expect

    from ..fixtures_browser import WAIT_MS, new_context, open_tab, signup_in_browser, wait_ready

    url = web.url  # type: ignore[attr-defined]
    context = new_context(chromium)
    try:
        page = context.new_page()
        signup_in_browser(page, url, "ada")
        open_tab(page, "Account")
        page.locator("#token-name textarea, #token-name input").first.fill("laptop")
        page.locator("#token-create").click()
        secret = page.locator("#token-secret textarea, #token-secret input").first
        expect(secret).to_have_value(re.compile(r"^aic_"), timeout=WAIT_MS)
        token = secret.input_value()
        expect(page.get_by_test_id("token-status")).to_contain_text("shown only this once")
        expect(page.get_by_test_id("token-list")).to_contain_text("laptop")
        assert httpx.get(url + "/api/v1/balance", headers=bearer(token)).json() == {"balance": 10}

        page.reload()
        wait_ready(page, "ada")
        open_tab(page, "Account")
        expect(page.get_by_test_id("token-list")).to_contain_text("laptop", timeout=WAIT_MS)
        assert token not in page.content()

        page.locator("#token-which input").first.click()
        page.get_by_role("option", name=re.compile("laptop")).click()
        page.locator("#token-revoke").click()
        expect(page.get_by_test_id("token-status")).to_contain_text("revoked", timeout=WAIT_MS)
        expect(page.get_by_test_id("token-list")).to_contain_text("No API tokens")
        assert httpx.get(url + "/api/v1/balance", headers=bearer(token)).status_code == 401
    finally:
        context.close()


def test_the_token_throttle_is_bounded() -> None:
    from aicreative.apitokens import ApiTokens
    from aicreative.limits import MemoryCounters
    from aicreative.store import AccountStore

    counters = MemoryCounters(3)
    limit = ApiTokens(AccountStore.memory(), per_minute=1, counters=counters).limit
    for key in ("a", "b", "c", "d", "e"):
        limit.hit(key)
    assert len(counters) <= 3
    with pytest.raises(Throttled):
        limit.hit("e")  # a remembered key is still throttled
    limit.hit("a")  # the oldest was forgotten: a fresh budget, never a lock-out
    assert len(counters) <= 3


def test_too_many_waiting_requests_is_429(
    start_server: Callable[..., LiveServer], settings
) -> None:  # type: ignore[no-untyped-def]
    import concurrent.futures

    live = start_server(settings=settings.replace(max_waiting=1))
    token = api_user(live)
    live.studio.backend.step_delay = 0.3  # type: ignore[attr-defined]
    body = {"prompt": "a slow kite", "steps": 5}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: httpx.post(
                    live.url + "/api/v1/images", json=body, headers=bearer(token), timeout=60
                ),
                range(4),
            )
        )
    codes = sorted(a.status_code for a in answers)
    assert 200 in codes and 429 in codes, codes
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["error"]["code"] == "throttled" and refused.headers["retry-after"] == "5"
    assert live.studio.balance("ada") == 10 - codes.count(200)
