"""``aicreative.Client`` against the real server, and which calls it retries.

The happy path and every exception run against the app on uvicorn; the
retry rules run against small real HTTP servers (``http.server`` on
127.0.0.1) that answer 503, or read a request and hang up, and count what
they received: a balance read is tried again, a generation never is once it
may have been sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from aicreative import (
    Client,
    InsufficientCredits,
    InvalidToken,
    ServerUnavailable,
    Throttled,
    ValidationError,
)

from ..conftest import PASSWORD, free_port
from ..fixtures_server import LiveServer


def token_for(live: LiveServer, name: str = "ada") -> str:
    live.studio.signup(name, f"{name}@example.org", PASSWORD)
    return live.studio.create_api_token(name, "client tests").token


def test_generate_and_balance(live_server: LiveServer) -> None:
    token = token_for(live_server)
    with Client(live_server.url + "/", token) as client:
        assert client.balance() == 10
        result = client.generate("a kite", count=2, seed=11, size="768x512", steps=2)
        assert result.seeds == [11, 12] and result.cost == 4 and result.balance == 6
        assert all(isinstance(image, Image.Image) for image in result.images)
        assert [image.size for image in result.images] == [(768, 512)] * 2
        assert all(png.startswith(b"\x89PNG") for png in result.png)
        assert client.balance() == 6
        assert token not in repr(client)
        assert "seed 11" in result._repr_html_()
        # Same seed, same pixels as the Studio in this process gives.
        again = client.generate("a kite", seed=11, size="768x512", steps=2)
        assert again.png[0] == result.png[0]


def test_exceptions(live_server: LiveServer) -> None:
    live = live_server
    token = token_for(live)
    with Client(live.url, "aic_0123456789abcdef_" + "A" * 43) as stranger:
        with pytest.raises(InvalidToken, match="not valid"):
            stranger.balance()
    with pytest.raises(InvalidToken):
        Client(live.url, "")
    with Client(live.url, token) as client:
        with pytest.raises(InsufficientCredits) as short:
            client.generate("a kite", size="1024x1024", count=4)
        assert (short.value.needed, short.value.balance) == (16, 10)
        with pytest.raises(ValidationError) as bad:
            client.generate("a kite", size="500x500")
        assert bad.value.field == "width"
        with pytest.raises(ValidationError):
            client.generate("a kite", count=9)
        live.studio._api_tokens.limit.limit = 1
        other = live.studio.create_api_token("ada", "burst").token
        with Client(live.url, other) as burst:
            burst.balance()
            with pytest.raises(Throttled) as caught:
                burst.balance()
            assert caught.value.retry_after >= 1
        live.studio.revoke_api_token("ada", token.split("_")[1])
        with pytest.raises(InvalidToken):
            client.balance()
    assert live.studio.balance("ada") == 10


def test_unreachable_server(live_server: LiveServer) -> None:
    port = free_port()  # nothing listens there
    with Client(f"http://127.0.0.1:{port}", "aic_x", retries=1) as client:
        with pytest.raises(ServerUnavailable, match="Cannot reach"):
            client.balance()
        with pytest.raises(ServerUnavailable, match="Cannot reach"):
            client.generate("a kite")
    # Something that is not an AI Creative server.
    with Client(live_server.url + "/no-such-prefix", "aic_x", retries=0) as client:
        with pytest.raises((ServerUnavailable, InvalidToken)):
            client.balance()


class _Counting(BaseHTTPRequestHandler):
    """Answers as its server's ``script`` says and counts requests by method."""

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._answer("POST")

    def _answer(self, method: str) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        with server.lock:
            server.seen.append(method)
            action = server.script.pop(0) if server.script else "ok"
        if action == "hang up":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        status = 503 if action == "503" else 200
        body = json.dumps(
            {"balance": 5}
            if status == 200
            else {"error": {"code": "unavailable", "message": "busy"}}
        ).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    seen: list[str]
    script: list[str]
    lock: threading.Lock


@contextmanager
def counting_server(script: list[str]) -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Counting)
    server.seen, server.script, server.lock = [], list(script), threading.Lock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_balance_read_is_retried() -> None:
    with counting_server(["503", "hang up"]) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with Client(url, "aic_x", retries=2) as client:
            assert client.balance() == 5
        assert server.seen == ["GET", "GET", "GET"]


def test_a_generation_that_may_have_been_sent_is_never_sent_again() -> None:
    with counting_server(["hang up"]) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with Client(url, "aic_x", retries=3) as client:
            with pytest.raises(ServerUnavailable, match="check balance"):
                client.generate("a kite")
        assert server.seen == ["POST"]
    with counting_server(["503"]) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with Client(url, "aic_x", retries=3) as client:
            with pytest.raises(ServerUnavailable, match="busy"):
                client.generate("a kite")
        assert server.seen == ["POST"]
