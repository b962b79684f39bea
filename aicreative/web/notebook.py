"""The web app inline in a Jupyter notebook: one call shows it, one stops it.

Owns running the real app (:func:`aicreative.web.create_app`: the same pages,
login cookie and Gradio UI as ``python app.py``) with uvicorn in a background
thread of the kernel, and showing it as an iframe in the cell's output. The
server listens on 127.0.0.1 only; there is never a share tunnel or any other
host, so the app is reachable from this machine alone.

>>> from aicreative.web.notebook import show
>>> with show() as inline:  # in a notebook, end a cell with `inline` to see it
...     inline.url.startswith("http://127.0.0.1:")
True

Where it works, and why:

- The login cookie is ``SameSite=Lax`` and host-only. A browser keeps it in
  an iframe only when the notebook page and the app are the *same site*: a
  notebook opened at ``http://127.0.0.1:8888`` shows the app at
  ``http://127.0.0.1:PORT`` (ports do not count for "site"). If you opened
  Jupyter at ``http://localhost:8888``, call ``show(url_host="localhost")``.
- The app forbids framing by other origins (``frame-ancestors 'self'``,
  ``X-Frame-Options``), and Jupyter on another port is another origin, so an
  inline app allows exactly the local notebook origins
  (:data:`NOTEBOOK_FRAME_ANCESTORS`) and nothing else.
- Remote notebook hosts (Hugging Face Spaces' JupyterLab, Colab, a JupyterHub
  server, VS Code attached to a remote kernel): the iframe is loaded by *your*
  browser, whose 127.0.0.1 is your own machine, not the kernel's, so it shows
  nothing. This module will not open a public tunnel to work around that; use
  port forwarding (``ssh -L PORT:127.0.0.1:PORT host``) and open
  :attr:`InlineApp.url`, or deploy the app (``python app.py``, a Space).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import TYPE_CHECKING, Literal

import httpx
import uvicorn

from .app import create_app

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from ..config import Settings
    from ..studio import Studio

__all__ = ["NOTEBOOK_FRAME_ANCESTORS", "InlineApp", "running", "show", "stop_all"]

#: The only address an inline server listens on.
LISTEN_HOST = "127.0.0.1"
#: Who may frame an inline app: the app itself and notebooks served from this
#: machine on any port. Nothing remote.
NOTEBOOK_FRAME_ANCESTORS = "'self' http://127.0.0.1:* http://localhost:*"
_FRAME_ANCESTORS = re.compile(rb"frame-ancestors[^;]*")

_lock = threading.Lock()
_running: dict[int, InlineApp] = {}


class _FramableByNotebook:
    """ASGI wrapper that lets a local notebook page frame the app.

    It sits outside the app's own security middleware, so it sees the final
    headers: it rewrites only the CSP's ``frame-ancestors`` and drops
    ``X-Frame-Options`` (which cannot name another port); every other header,
    the cookie and the origin checks stay as the app sets them.
    """

    def __init__(self, app: ASGIApp, ancestors: str = NOTEBOOK_FRAME_ANCESTORS) -> None:
        self.app = app
        self.directive = b"frame-ancestors " + ancestors.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_framable(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers", []):
                    lowered = name.lower()
                    if lowered == b"x-frame-options":
                        continue
                    if lowered == b"content-security-policy":
                        value = _FRAME_ANCESTORS.sub(self.directive, value)
                    headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_framable)


class InlineApp:
    """A running inline app: display it to see the UI, :meth:`stop` it when done.

    Made by :func:`show`. Also a context manager that stops the server on exit.
    """

    def __init__(
        self,
        studio: Studio,
        server: uvicorn.Server,
        sock: socket.socket,
        *,
        url_host: str,
        height: int,
    ) -> None:
        self.studio = studio
        self.port: int = sock.getsockname()[1]
        self.height = height
        self.url = f"http://{url_host}:{self.port}/"
        self._server = server
        self._sock = sock
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._serve, name=f"aicreative-inline-{self.port}", daemon=True
        )

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # uvicorn ends a failed start with SystemExit
            self._error = exc

    def _start(self, timeout: float) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        # trust_env=False: a proxy from the environment must not see 127.0.0.1 calls.
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while True:
                if not self._thread.is_alive():
                    self._sock.close()
                    raise RuntimeError(
                        f"The inline app stopped while starting ({self._error!r}); "
                        "see the log above."
                    )
                if self._server.started:
                    try:
                        if (
                            client.get(f"http://{LISTEN_HOST}:{self.port}/healthz").status_code
                            == 200
                        ):
                            return
                    except httpx.TransportError:
                        pass  # not accepting yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"The inline app did not answer /healthz in {timeout:g} s.")
                time.sleep(0.05)

    @property
    def running(self) -> bool:
        """Whether the server thread is still serving."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down and wait for its thread; the port is free after.

        Safe to call twice. Open connections (an iframe's event stream) get a
        few seconds to finish, then are cut.
        """
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        self._sock.close()
        with _lock:
            if _running.get(self.port) is self:
                del _running[self.port]

    def __enter__(self) -> InlineApp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()  # whatever ended the block: the server never outlives it

    def _repr_html_(self) -> str:
        if not self.running:
            return f"<p>AI Creative at {self.url} is stopped.</p>"
        # Straight to the log-in form (it passes a logged-in browser on to
        # the app): a notebook user has no use for the visitors' landing page.
        return (
            f'<iframe src="{self.url}login" width="100%" height="{int(self.height)}" '
            'style="border:1px solid #ddd;border-radius:6px" title="AI Creative"></iframe>'
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<InlineApp {self.url} {state}, backend {self.studio.backend_name}>"


def show(
    studio: Studio | None = None,
    settings: Settings | None = None,
    *,
    port: int | None = None,
    height: int = 760,
    url_host: Literal["127.0.0.1", "localhost"] = "127.0.0.1",
    timeout: float = 30.0,
) -> InlineApp:
    """Start the app in this kernel and return it; display the result to see the UI.

    - ``studio``: the Studio to serve. Without one, ``settings`` build it
      (:meth:`Studio.from_settings`: account file, configured backend); with
      neither, it is :meth:`Studio.local` (in memory, demo backend, nothing on
      disk).
    - ``port``: a free port is picked when None.
    - ``height``: of the iframe, in pixels.
    - ``url_host``: how the iframe names this machine; match the address
      your notebook page was opened at (see the module's notes on cookies).
      The server itself always listens on 127.0.0.1.

    Returns once ``/healthz`` answers; raises TimeoutError or RuntimeError
    (and frees the port) if the server does not come up.
    """
    from ..studio import Studio

    if url_host not in ("127.0.0.1", "localhost"):
        raise ValueError("url_host must be 127.0.0.1 or localhost: an inline app is local only.")
    if studio is None:
        studio = Studio.local() if settings is None else Studio.from_settings(settings)
    settings = settings or studio.settings
    app = _FramableByNotebook(create_app(studio, settings))
    config = uvicorn.Config(
        app,
        log_config=None,  # leave the notebook's logging setup alone
        log_level="warning",
        # Access logs would keep client addresses and reset-link tokens.
        access_log=False,
        lifespan="on",
        # An iframe keeps an event stream open; do not wait for it forever.
        timeout_graceful_shutdown=2,
    )
    # Our own bound socket, so a free port is picked and held without a race
    # between choosing it and uvicorn binding it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LISTEN_HOST, port or 0))
    except OSError:
        sock.close()
        raise
    inline = InlineApp(studio, uvicorn.Server(config), sock, url_host=url_host, height=height)
    inline._start(timeout)
    with _lock:
        _running[inline.port] = inline
    return inline


def running() -> list[InlineApp]:
    """The inline apps started by :func:`show` in this kernel and not stopped."""
    with _lock:
        return [app for app in _running.values() if app.running]


def stop_all() -> None:
    """Stop every inline app of this kernel (handy before re-running a notebook)."""
    with _lock:
        apps = list(_running.values())
    for app in apps:
        app.stop()
