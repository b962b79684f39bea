"""A real server on a free port, and helpers that act like a browser or an API client.

Fixtures:

* ``start_server(settings=..., studio=...)`` starts the real app
  (``create_app``) with uvicorn in a background thread on 127.0.0.1 and
  returns a :class:`LiveServer`; a test may stop it and start another over
  the same data dir. Every server still running is stopped at teardown.
* ``live_server``: one server over the test's ``studio`` and ``settings``.

Helpers (plain functions, import them from ``tests.fixtures_server``):
``signup``/``login`` go through the real forms (GET the form, read its
``csrf_token``, POST with an ``Origin`` header, follow the 303, keep the
cookie); ``gradio_call`` and ``generate`` use Gradio's HTTP API (POST
``/gradio_api/call/<name>``, then read the server-sent events).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from aicreative import Settings, Studio
from aicreative.web.security import COOKIE_NAME

#: The password the helpers use unless told otherwise (long enough to pass).
PASSWORD = "correct horse battery"
START_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0

_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]*)"')


@dataclasses.dataclass
class LiveServer:
    """One running app: its address, the Studio and Settings behind it."""

    url: str
    studio: Studio
    settings: Settings
    app: Any
    server: Any
    thread: threading.Thread
    clients: list[httpx.Client] = dataclasses.field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for its thread (idempotent)."""
        while self.clients:
            self.clients.pop().close()
        if self.thread.is_alive():
            self.server.should_exit = True
            self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the server thread did not stop"

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for this server that does not follow redirects.

        ``stop()`` closes it; a test need not.
        """
        kwargs.setdefault("timeout", CALL_TIMEOUT)
        client = httpx.Client(base_url=self.url, follow_redirects=False, **kwargs)
        self.clients.append(client)
        return client


def run_server(studio: Studio, settings: Settings) -> LiveServer:
    """Build the app with ``create_app`` and serve it until ``stop()``."""
    import uvicorn

    from aicreative.web.app import create_app

    from .conftest import free_port

    app = create_app(studio, settings)
    last_error: Exception | None = None
    for _attempt in range(3):  # a port that was free a moment ago may be taken
        port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=3,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        live = LiveServer(f"http://127.0.0.1:{port}", studio, settings, app, server, thread)
        try:
            _wait_healthy(live)
            return live
        except Exception as exc:  # the port was taken, or start-up failed
            last_error = exc
            live.stop()
    raise RuntimeError(f"the server did not start: {last_error}")


def _wait_healthy(live: LiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not live.thread.is_alive():
            raise RuntimeError("the server thread ended during start-up")
        if live.server.started:
            try:
                if httpx.get(live.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.02)
    raise TimeoutError(f"{live.url}/healthz did not answer in {START_TIMEOUT:.0f} s")


@pytest.fixture
def start_server(settings: Settings, studio: Studio) -> Iterator[Callable[..., LiveServer]]:
    """Factory: ``start_server(settings=..., studio=...)``, the test's own by default."""
    started: list[LiveServer] = []

    def start(settings: Settings = settings, studio: Studio = studio) -> LiveServer:
        live = run_server(studio, settings)
        started.append(live)
        return live

    yield start
    for live in reversed(started):
        live.stop()


@pytest.fixture
def live_server(start_server: Callable[..., LiveServer]) -> LiveServer:
    """The real app on a free port of 127.0.0.1, over the test's studio."""
    return start_server()


# -- forms ---------------------------------------------------------------------


def csrf_token(page: str) -> str:
    """The ``csrf_token`` of the (first) form in an HTML page."""
    match = _CSRF.search(page)
    assert match, "no csrf_token field in the page"
    return html.unescape(match.group(1))


def form_error(page: str) -> str | None:
    """The text of the form's error message, if it shows one."""
    match = re.search(r'data-testid="form-error">(.*?)</p>', page, re.S)
    return html.unescape(match.group(1)).strip() if match else None


def input_value(page: str, name: str) -> str | None:
    """The ``value`` attribute of the input called ``name`` (None if absent)."""
    for tag in re.findall(r"<input\b[^>]*>", page):
        if re.search(rf'\bname="{re.escape(name)}"', tag):
            match = re.search(r'\bvalue="([^"]*)"', tag)
            return html.unescape(match.group(1)) if match else ""
    return None


def submit_form(
    client: httpx.Client,
    path: str,
    data: dict[str, str],
    *,
    form_path: str | None = None,
    origin: str | None = "self",
    token: str | None = "form",
    headers: dict[str, str] | None = None,
    form_headers: dict[str, str] | None = None,
) -> httpx.Response:
    """GET the form (``form_path``, else ``path``), POST ``data`` with its CSRF token.

    ``origin="self"`` sends the server's own origin; None sends no Origin.
    ``token="form"`` uses the form's token; None leaves it out; any other
    string is sent as the token. ``headers`` are added to the POST,
    ``form_headers`` to the GET. The response is not followed.
    """
    fields = dict(data)
    if token == "form":
        page = client.get(form_path or path, headers=form_headers)
        assert page.status_code == 200, f"GET {form_path or path}: {page.status_code}"
        fields["csrf_token"] = csrf_token(page.text)
    elif token is not None:
        fields["csrf_token"] = token
    sent = dict(headers or {})
    if origin == "self":
        sent["origin"] = str(client.base_url).rstrip("/")
    elif origin is not None:
        sent["origin"] = origin
    return client.post(path, data=fields, headers=sent)


def signup_response(
    client: httpx.Client,
    username: str,
    email: str | None = None,
    password: str = PASSWORD,
    **options: Any,
) -> httpx.Response:
    """POST the sign-up form (not followed); ``options`` go to :func:`submit_form`."""
    return submit_form(
        client,
        "/signup",
        {
            "username": username,
            "email": email or f"{username}@example.org",
            "password": password,
            "password2": password,
        },
        **options,
    )


def signup(
    server: LiveServer, username: str, email: str | None = None, password: str = PASSWORD
) -> httpx.Client:
    """A new client that signed up (and so is logged in) through the form."""
    client = server.client()
    response = signup_response(client, username, email, password)
    assert response.status_code == 303, (response.status_code, form_error(response.text))
    assert response.headers["location"] == "/"
    assert client.cookies.get(COOKIE_NAME), "sign-up set no session cookie"
    assert client.get("/").status_code == 200
    return client


def login_response(client: httpx.Client, username: str, password: str) -> httpx.Response:
    """POST the login form (not followed)."""
    return submit_form(client, "/login", {"username": username, "password": password})


def login(server: LiveServer, username: str, password: str = PASSWORD) -> httpx.Client:
    """A new client that logged in through the form."""
    client = server.client()
    response = login_response(client, username, password)
    assert response.status_code == 303, (response.status_code, form_error(response.text))
    assert client.get("/").status_code == 200
    return client


def logout(client: httpx.Client) -> httpx.Response:
    """Log out with the token of the header's log-out form (from the session event)."""
    token = header_csrf(client)
    return submit_form(client, "/logout", {}, token=token)


def header_csrf(client: httpx.Client) -> str:
    """The log-out form's CSRF token, as the Gradio page receives it."""
    event, data, _ = gradio_call(client, "session", [])
    assert event == "complete", (event, data)
    return csrf_token(data[0])


# -- Gradio's HTTP API -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SSEvent:
    event: str
    data: Any


def parse_sse(text: str) -> list[SSEvent]:
    """Server-sent events as Gradio's ``/gradio_api/call`` route writes them."""
    events = []
    for block in re.split(r"\r?\n\r?\n", text):
        name, lines = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                lines.append(line[5:].lstrip())
        if lines:
            raw = "\n".join(lines)
            try:
                data = json.loads(raw)
            except json.JSONDecodeError:
                data = raw
            events.append(SSEvent(name, data))
    return events


def gradio_submit(client: httpx.Client, api_name: str, data: list[Any]) -> httpx.Response:
    """POST ``/gradio_api/call/<api_name>``; the JSON answer has the event id."""
    return client.post(f"/gradio_api/call/{api_name}", json={"data": data})


def gradio_result(client: httpx.Client, api_name: str, event_id: str) -> httpx.Response:
    """GET the event's stream (read to the end)."""
    return client.get(f"/gradio_api/call/{api_name}/{event_id}")


def gradio_call(client: httpx.Client, api_name: str, data: list[Any]) -> tuple[str, Any, str]:
    """Call an endpoint; returns (final event name, its data, event id).

    The final event is ``complete`` (data: the outputs) or ``error``.
    """
    submitted = gradio_submit(client, api_name, data)
    assert submitted.status_code == 200, (submitted.status_code, submitted.text[:300])
    event_id = submitted.json()["event_id"]
    streamed = gradio_result(client, api_name, event_id)
    assert streamed.status_code == 200, (streamed.status_code, streamed.text[:300])
    final = [e for e in parse_sse(streamed.text) if e.event in ("complete", "error")]
    assert final, f"no complete/error event in {streamed.text[:300]!r}"
    return final[-1].event, final[-1].data, event_id


def generate_inputs(
    prompt: str,
    negative: str = "",
    *,
    size: str = "512x512",
    steps: int = 1,
    guidance: float = 0.0,
    seed: int = 0,
    random_seed: bool = False,
    count: int = 1,
) -> list[Any]:
    """The inputs of the ``generate`` event, in order."""
    return [prompt, negative, size, steps, guidance, seed, random_seed, count]


def generate(client: httpx.Client, prompt: str, **kwargs: Any) -> tuple[str, Any, str]:
    """Call ``generate``; returns (event, [payload, status HTML, header HTML], event id)."""
    return gradio_call(client, "generate", generate_inputs(prompt, **kwargs))


def balance_in(header: str) -> int:
    """The balance shown in the header HTML."""
    match = re.search(r'data-testid="balance"><b>(\d+)</b>', header)
    assert match, f"no balance in the header: {header[:200]!r}"
    return int(match.group(1))


def status_text(status: str) -> str:
    """The plain text of the status HTML."""
    return html.unescape(re.sub(r"<[^>]+>", "", status or "")).strip()


def png_size(data_url: str) -> tuple[int, int]:
    """The size of the PNG in a ``data:`` URL, after checking it is a whole, valid PNG."""
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix), data_url[:40]
    raw = base64.b64decode(data_url[len(prefix) :], validate=True)
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(raw)) as image:
        assert image.format == "PNG"
        image.verify()
        return image.size
