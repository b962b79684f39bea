"""A local stand-in for a Hugging Face text-to-image endpoint, for tests.

A ``ThreadingHTTPServer`` on 127.0.0.1 that speaks what
``InferenceClient.text_to_image`` sends to an endpoint URL: a POST of JSON
``{"inputs": prompt, "parameters": {...}}`` with ``Accept: image/png`` and a
Bearer token, answered with raw PNG bytes. It checks the token and the body
(401 or 400 otherwise) and records every request. Tests script other
answers (429, 503 "loading", a slow reply, garbage bytes) with
:meth:`InferenceTestServer.script` or :meth:`InferenceTestServer.always`.

Import the fixture into a test module (or conftest.py)::

    from tests.fixtures_remote import inference_server  # noqa: F401

The fixture turns huggingface_hub's offline switch off for the test: with
``HF_HUB_OFFLINE=1`` (read once, at import) even localhost calls are refused.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

HOST = "127.0.0.1"
#: The path of the endpoint URL: the client must POST here, with no suffix.
ENDPOINT_PATH = "/endpoints/text-to-image"
TOKEN = "hf_test_token_123"


@dataclass
class Reply:
    """One scripted answer. ``body=None`` with status 200 means "a real PNG"."""

    status: int = 200
    body: bytes | None = None
    content_type: str = "application/json"
    delay: float = 0.0

    @classmethod
    def error(cls, status: int, payload: dict[str, Any], delay: float = 0.0) -> Reply:
        return cls(status, json.dumps(payload).encode(), "application/json", delay)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


def png_for(width: int, height: int, seed: int) -> bytes:
    """A PNG of the asked size whose colour follows the seed (to tell images apart)."""
    colour = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class InferenceTestServer:
    host: str
    port: int
    token: str | None = TOKEN
    requests: list[Recorded] = field(default_factory=list)
    _script: list[Reply] = field(default_factory=list)
    _always: Reply | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The endpoint URL to configure (``AICREATIVE_ENDPOINT_URL``)."""
        return self.base_url + ENDPOINT_PATH

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order; then the default."""
        with self._lock:
            self._script.extend(replies)

    def always(self, reply: Reply | None) -> None:
        """Answer every request with this (None: back to real PNGs)."""
        with self._lock:
            self._always = reply

    def next_reply(self) -> Reply | None:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            return self._always

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeInference/1.0"
    protocol_version = "HTTP/1.1"
    state: InferenceTestServer  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the default writes every request line to stderr

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.state._lock:
            self.state.requests.append(Recorded("POST", self.path, headers, payload))

        if self.path != ENDPOINT_PATH:
            return self._send(Reply.error(404, {"error": f"no route {self.path}"}))
        expected = f"Bearer {self.state.token}" if self.state.token else None
        if expected is not None and headers.get("authorization") != expected:
            return self._send(
                Reply.error(401, {"error": "Invalid credentials in Authorization header"})
            )
        if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), str):
            return self._send(Reply.error(400, {"error": "expected {'inputs': str, ...}"}))

        reply = self.state.next_reply()
        if reply is None or (reply.status == 200 and reply.body is None):
            params = payload.get("parameters") or {}
            png = png_for(
                int(params.get("width") or 512),
                int(params.get("height") or 512),
                int(params.get("seed") or 0),
            )
            reply = Reply(200, png, "image/png", reply.delay if reply else 0.0)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        body = reply.body or b""
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (the timeout test)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-reply is expected in the timeout test


def start_inference_server(token: str | None = TOKEN) -> InferenceTestServer:
    state = InferenceTestServer(HOST, 0, token=token)
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = _QuietServer((HOST, 0), handler)
    state.port = int(httpd.server_address[1])
    state._httpd = httpd
    threading.Thread(
        target=httpd.serve_forever, args=(0.05,), name="fake-inference", daemon=True
    ).start()  # a short poll interval makes shutdown quick
    return state


@pytest.fixture
def inference_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[InferenceTestServer]:
    """A fake endpoint on a free loopback port that expects :data:`TOKEN`."""
    from huggingface_hub import constants

    # Read at import time from HF_HUB_OFFLINE; a conftest may have set it for
    # the model tests, and it blocks localhost calls too.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    server = start_inference_server()
    try:
        yield server
    finally:
        server.stop()
