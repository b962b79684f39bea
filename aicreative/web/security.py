"""HTTP security: the session cookie, headers, origin checks and client facts.

Owns how the one login cookie is set and cleared, the security headers on
every response (CSP, HSTS under HTTPS, frame ancestors), the check that a
state-changing request comes from this site's own pages, and how the
scheme and client address are read (proxy headers only when trusted).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from ..errors import StoreError

COOKIE_NAME = "aicreative_session"
#: Hosts allowed to frame the app on Hugging Face Spaces.
SPACES_FRAME_ANCESTORS = "https://huggingface.co https://*.hf.space"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Paths of static files (the same for everyone, no personal data): the only
#: responses a browser may cache. Everything else is ``Cache-Control: no-store``.
CACHEABLE_PREFIXES = (
    "/ac-static/",
    "/assets/",
    "/static/",
    "/favicon.ico",
    "/theme.css",
    "/gradio_api/file=",
)
log = logging.getLogger(__name__)


def _proxy_says(request: Request, settings: Settings, header: str) -> str:
    """The trusted proxy's entry in a forwarded header; "" when not trusted or absent.

    The proxy appends what it saw; entries to its left were written by the
    client and prove nothing.
    """
    if not settings.trust_proxy:
        return ""
    return request.headers.get(header, "").split(",")[-1].strip()


def is_https(request: Request, settings: Settings) -> bool:
    """Whether the browser reached us over HTTPS (proxy header only if trusted)."""
    proto = _proxy_says(request, settings, "x-forwarded-proto")
    if proto:
        return proto.lower() == "https"
    return request.url.scheme == "https"


def client_address(request: Request, settings: Settings) -> str:
    """The client's address, for throttling only (never stored)."""
    address = _proxy_says(request, settings, "x-forwarded-for")
    if address:
        return address
    return request.client.host if request.client else "unknown"


def request_host(request: Request, settings: Settings) -> str:
    """The host (with port) the request was sent to, lower case.

    The trusted proxy's (rightmost) ``X-Forwarded-Host`` entry when the
    proxy is trusted, else ``Host``. It is checked against the trusted-host
    list and used for the origin check, never to build a link.
    """
    host = _proxy_says(request, settings, "x-forwarded-host") or request.headers.get("host", "")
    return host.strip().lower()


def own_origin(request: Request, settings: Settings) -> str:
    scheme = "https" if is_https(request, settings) else "http"
    return f"{scheme}://{request_host(request, settings)}"


def host_name(host: str) -> str:
    """``host`` without its port: ``example.org:8443`` → ``example.org``, ``[::1]:80`` → ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Whether ``host`` (a Host header value) is one of ``allowed``.

    ``*`` allows every host; ``*.example.org`` allows its sub-domains.

    >>> host_allowed("app.example.org:443", ["*.example.org"])
    True
    >>> host_allowed("evil.test", ["app.example.org", "localhost"])
    False
    """
    name = host_name(host)
    if not name:
        return False
    for pattern in allowed:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


#: Forwarded headers that Gradio reads (it takes the first, client-written
#: entry): reduced to the trusted proxy's entry, or removed when untrusted.
FORWARDED_HEADERS = (b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-for")
#: Answered whatever the Host: a health check names no host we know.
HOST_CHECK_EXEMPT = frozenset({"/healthz"})


class TrustedHosts:
    """Refuses requests for hosts that are not ours (400), like Starlette's
    TrustedHostMiddleware, but reading the trusted proxy's forwarded host.

    It also rewrites the forwarded headers that reach the routes behind it:
    Gradio builds redirects and its root URL from the first
    ``X-Forwarded-Host`` entry, which the client writes. Behind a trusted
    proxy only the proxy's own (last) entry is kept; otherwise none is.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.allowed = settings.trusted_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        host = request_host(request, self.settings)
        if scope.get("path") not in HOST_CHECK_EXEMPT and not host_allowed(host, self.allowed):
            log.info("refused a request for an unknown host")
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            response = PlainTextResponse("Invalid host header", status_code=400)
            await response(scope, receive, send)
            return
        headers = []
        for name, value in scope.get("headers", []):
            if name in FORWARDED_HEADERS:
                if not self.settings.trust_proxy:
                    continue
                value = value.split(b",")[-1].strip()
            headers.append((name, value))
        await self.app({**scope, "headers": headers}, receive, send)


def same_origin(request: Request, settings: Settings, *, require: bool) -> bool:
    """Does the request come from this site's own pages?

    Origin names the site, or, lacking it, Referer. Under this app's
    ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` and no
    Referer even for the site's own forms and fetches, so then the Fetch
    Metadata header ``Sec-Fetch-Site`` (which no page can set) decides:
    ``same-origin`` passes; ``cross-site`` or ``same-site`` never does.
    With ``require`` a request that carries none of these is refused: every
    current browser sends them on a POST, so only a non-browser omits all.
    """
    site = (request.headers.get("sec-fetch-site") or "").lower()
    if site in ("cross-site", "same-site"):
        return False
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        referer = request.headers.get("referer")
        if not referer:
            if site == "same-origin":
                return True
            return not require and origin is None
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.lower().rstrip("/") == own_origin(request, settings)


def set_session_cookie(
    response: Response, token: str, request: Request, settings: Settings
) -> None:
    """The one cookie: HttpOnly, SameSite, Secure under HTTPS, Partitioned in an iframe."""
    secure = is_https(request, settings)
    framed = settings.on_spaces
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(settings.session_days * 86400),
        path="/",
        httponly=True,
        secure=secure or framed,
        samesite="none" if framed else "lax",
    )
    if framed:
        _partition_last_cookie(response)


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE_NAME,
        path="/",
        httponly=True,
        secure=is_https(request, settings) or settings.on_spaces,
        samesite="none" if settings.on_spaces else "lax",
    )
    if settings.on_spaces:
        _partition_last_cookie(response)


def _partition_last_cookie(response: Response) -> None:
    """Add ``Partitioned`` to the cookie just set.

    In another site's iframe (Spaces) browsers keep a cookie only when it is
    partitioned to that top-level site; starlette sets the attribute only on
    Python 3.14+, so it is appended here.
    """
    for index in range(len(response.raw_headers) - 1, -1, -1):
        name, value = response.raw_headers[index]
        if name == b"set-cookie":
            response.raw_headers[index] = (name, value + b"; Partitioned")
            return


def security_headers(settings: Settings, https: bool) -> list[tuple[bytes, bytes]]:
    """Headers for every response. Gradio's front end needs inline scripts and
    eval (its HTML components run code through ``new Function``), so those
    two are allowed, but only from this origin: no third-party source at all.
    """
    ancestors = "'self'" + (" " + SPACES_FRAME_ANCESTORS if settings.on_spaces else "")
    csp = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "media-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (
            b"permissions-policy",
            b"camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
            b"interest-cohort=(), browsing-topics=()",
        ),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"x-frame-options", b"SAMEORIGIN")
        if not settings.on_spaces
        else (b"x-robots-tag", b"noindex"),
    ]
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class SecurityMiddleware:
    """Adds the headers and refuses cross-site state changes before any route runs."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        https = is_https(request, self.settings)
        extra = security_headers(self.settings, https)
        if scope["path"].startswith("/gradio_api/"):
            # Gradio's answers carry prompts and images (the queue's event stream):
            # Chromium otherwise keeps them in its disk cache, readable after logout.
            extra = [*extra, (b"cache-control", b"no-store")]

        if not scope.get("path", "").startswith(CACHEABLE_PREFIXES):
            # Pages, account routes and Gradio's calls and event streams carry
            # prompts, images or personal data: no browser or proxy keeps them.
            extra = [*extra, (b"cache-control", b"no-store")]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in extra}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = headers + extra
            await send(message)

        if request.method in UNSAFE_METHODS and not same_origin(
            request, self.settings, require=False
        ):
            response = PlainTextResponse(
                "Refused: this request came from another site.", status_code=403
            )
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


UNAVAILABLE = "AI Creative is temporarily unavailable. Please try again in a few minutes."


class StoreUnavailable:
    """Answers 503 "temporarily unavailable" when the account store fails.

    The store's message is for the operator (it names the file and its
    path): it goes to the log, never into a response. Handlers let a
    :class:`~aicreative.errors.StoreError` rise to here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except StoreError as exc:
            log.error("the account store failed: %s", exc)
            if started:
                raise
            response = PlainTextResponse(
                UNAVAILABLE,
                status_code=503,
                headers={"retry-after": "60", "cache-control": "no-store"},
            )
            await response(scope, receive, send)


#: Gradio routes this app never uses and that write a session's values (the
#: prompt, the images) to disk: ``deep_link`` saves them under
#: GRADIO_TEMP_DIR/deep_links/ and any logged-in user may ask for any session.
GRADIO_REFUSED_PATHS = frozenset({"/gradio_api/deep_link", "/gradio_api/deep_link/"})


class LoginFirst:
    """A visitor at ``/`` without a session is sent to the front page, not a bare 401.

    ``front`` is where (the landing page, ``/welcome``); a redirect, so that
    ``/`` answers 200 only with a session, as every check of a session expects.

    Pure ASGI and acting on ``GET /`` only: every other request, Gradio's
    event streams among them, passes straight through (an ``http``
    middleware would wrap each one).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        user_of: Callable[[Request], str | None],
        settings: Settings,
        front: str = "/login",
    ) -> None:
        self.app = app
        self.user_of = user_of
        self.settings = settings
        self.front = front

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/":
            request = Request(scope)
            if self.user_of(request) is None:
                response = RedirectResponse(self.front, status_code=303)
                if request.cookies.get(COOKIE_NAME):
                    # A stale or forged cookie: clear it, with the attributes it was set with.
                    clear_session_cookie(response, request, self.settings)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class GradioSessionGuard:
    """Binds Gradio's session hashes and event ids to the user who used them first.

    Gradio 6.31 checks that a caller is logged in, not that the session hash
    or event id named in a request is the caller's own: any logged-in user
    who learns another's event id reads that user's results (prompt and
    images) from ``/gradio_api/call/<api>/<event_id>``, and with a session
    hash from ``/gradio_api/queue/data``. This middleware remembers who owns
    each id (a session hash when first named by a logged-in user, an event
    id when Gradio hands it out) and answers 404 to anyone else.
    """

    PREFIX = "/gradio_api/"
    #: Larger request bodies are refused (Gradio's own inputs here are a few
    #: KB; uploads are multipart and off in this app).
    MAX_BODY = 1 << 20

    def __init__(
        self,
        app: ASGIApp,
        user_of: Callable[[Request], str | None],
        max_ids: int = 100_000,
        known_fn: Callable[[int], bool] | None = None,
    ) -> None:
        self.app = app
        self.user_of = user_of
        #: Whether Gradio has a function of this index (an unknown one made it answer 500).
        self.known_fn = known_fn
        self.max_ids = max_ids
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def _claim(self, key: str, user: str) -> bool:
        """True when ``user`` owns ``key`` (taking it when nobody does)."""
        with self._lock:
            owner = self._owners.get(key)
            if owner is None:
                self._owners[key] = user
                while len(self._owners) > self.max_ids:
                    self._owners.popitem(last=False)
                return True
            self._owners.move_to_end(key)
            return owner == user

    def _owns(self, key: str, user: str) -> bool:
        with self._lock:
            return self._owners.get(key) == user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(self.PREFIX):
            await self.app(scope, receive, send)
            return
        if path in GRADIO_REFUSED_PATHS:
            await JSONResponse({"detail": "Not Found"}, 404)(scope, receive, send)
            return
        request = Request(scope)
        parts = [p for p in path[len(self.PREFIX) :].split("/") if p]
        sessions = list(request.query_params.getlist("session_hash"))
        events: list[str] = []
        if parts and parts[0] in ("heartbeat", "stream") and len(parts) >= 2:
            # heartbeat/{session}, stream/{session}/... (GET), stream/{event_id} (POST)
            (events if scope["method"] == "POST" else sessions).append(parts[1])
        if parts and parts[0] == "call" and scope["method"] == "GET":
            # call/{api}/{event_id} and call/v2/{api}/{event_id}
            if len(parts) == 3 or (len(parts) == 4 and parts[1] == "v2"):
                events.append(parts[-1])

        body: bytes | None = None
        content_type = request.headers.get("content-type", "").lower()
        form = content_type.startswith(("multipart/", "application/x-www-form-urlencoded"))
        if scope["method"] == "POST" and form and parts[:1] == ["component_server"]:
            # A form body here could name any session; this app uploads nothing.
            await JSONResponse({"detail": "Unsupported"}, 415)(scope, receive, send)
            return
        if scope["method"] == "POST" and not form:
            # FastAPI reads a body without a content type as JSON too.
            body, more = b"", True
            while more and len(body) <= self.MAX_BODY:
                message = await receive()
                if message["type"] != "http.request":
                    break
                body += message.get("body", b"")
                more = message.get("more_body", False)
            if len(body) > self.MAX_BODY:
                await JSONResponse({"detail": "Too large"}, 413)(scope, receive, send)
                return
            if self.known_fn is not None and not _fn_index_ok(body, self.known_fn):
                await JSONResponse({"detail": "No such API endpoint."}, 404)(scope, receive, send)
                return
            named = _ids_in_json(body)
            sessions += named.get("session_hash", [])
            events += named.get("event_id", [])

        user = self.user_of(request) if sessions or events or parts[:1] == ["call"] else None
        if sessions or events:
            if user is None:
                await JSONResponse({"detail": "Not authenticated"}, 401)(scope, receive, send)
                return
            if not all(self._claim(s, user) for s in sessions) or not all(
                self._owns(e, user) for e in events
            ):
                await JSONResponse({"detail": "Not Found"}, 404)(scope, receive, send)
                return

        if body is not None:
            replayed = False

            async def receive_again() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            downstream_receive: Receive = receive_again
        else:
            downstream_receive = receive

        hands_out_ids = (
            scope["method"] == "POST"
            and user is not None
            and (parts[:1] == ["call"] or parts[:2] == ["queue", "join"])
        )
        if user is None or not hands_out_ids:
            await _ending_streams_cleanly(self.app, scope, downstream_receive, send)
            return

        # Hold the (small JSON) answer until its event id is recorded, so that
        # the caller's next request already finds it.
        start: Message | None = None
        chunks: list[bytes] = []

        async def record_then_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            answer = b"".join(chunks)
            if start.get("status") == 200:
                for event_id in _ids_in_json(answer).get("event_id", []):
                    self._claim(event_id, user)
            await send(start)
            await send({"type": "http.response.body", "body": answer, "more_body": False})

        await self.app(scope, downstream_receive, record_then_send)


async def _ending_streams_cleanly(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app``; when it fails after its answer began, end that answer properly.

    Gradio's event streams send an error event and then raise (for an
    unknown session hash, say). Raised that late, the exception can only
    cut the connection mid-stream, so the client loses the clean end of a
    message it already has. Failures before the answer began still raise.
    """
    started = finished = False

    async def tracking(message: Message) -> None:
        nonlocal started, finished
        if message["type"] == "http.response.start":
            started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            finished = True
        await send(message)

    try:
        await app(scope, receive, tracking)
    except Exception as exc:
        if not started:
            raise
        # The type only: Gradio's messages can quote what a request held.
        log.warning("a Gradio stream at %s ended with %s", scope.get("path"), type(exc).__name__)
        if not finished:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _fn_index_ok(raw: bytes, known_fn: Callable[[int], bool]) -> bool:
    """False when the JSON names a number ``fn_index`` that Gradio has no function for.

    Gradio looks the index up unchecked (``fns[body.fn_index]``), so -1 or a
    large number was a KeyError and a 500. Values that are not numbers are
    left to its own validation (a 422).
    """
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        return True
    if not isinstance(data, dict) or "fn_index" not in data:
        return True
    value = data["fn_index"]
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    if isinstance(value, float) and not value.is_integer():
        return True
    return known_fn(int(value))


def _ids_in_json(raw: bytes) -> dict[str, list[str]]:
    """The ``session_hash`` and ``event_id`` strings at the top of a JSON object."""
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        key: [data[key]]
        for key in ("session_hash", "event_id")
        if isinstance(data.get(key), str) and data[key]
    }


#: Largest body of the server-rendered forms (a password is at most 4 KB).
FORM_BODY_LIMIT = 16 << 10
#: Largest body anywhere else: Gradio's JSON calls (a prompt, a few numbers).
DEFAULT_BODY_LIMIT = 1 << 20
#: The server-rendered forms (urlencoded, no file): the small limit applies.
FORM_PATHS = ("/login", "/signup", "/logout", "/forgot", "/reset", "/account/")
#: Gradio's upload routes: this app takes no uploads, so they do not exist here
#: (a logged-in user could otherwise create files with chosen names in its temp folder).
UPLOAD_PATHS = frozenset(
    {"/gradio_api/upload", "/gradio_api/upload_progress", "/gradio_api/process_recording"}
)


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` when a streamed body passes its limit."""

    def __init__(self) -> None:
        super().__init__(413, "Request body too large.")


def _normal_path(path: str) -> str:
    """The path as routing will see it: no repeated or trailing slashes."""
    while "//" in path:
        path = path.replace("//", "/")
    return path.rstrip("/") or "/"


def body_limit_for(path: str) -> int:
    """The body limit of a path: small for the forms, 1 MB elsewhere."""
    normal = _normal_path(path)
    if any(normal == p.rstrip("/") or normal.startswith(p.rstrip("/") + "/") for p in FORM_PATHS):
        return FORM_BODY_LIMIT
    return DEFAULT_BODY_LIMIT


class BodyLimit:
    """Judges a request body before it is read.

    Pure ASGI, in front of every route: a declared ``Content-Length`` over
    the path's limit is refused (413) at once; a chunked body is counted as
    it streams and refused when it passes the limit, so no more than the
    limit is ever read. ``multipart/*`` bodies are refused everywhere (415):
    no route of this app takes a file, and Starlette's parser would spool a
    file part to the temp folder before any route could refuse it. Gradio's
    upload routes answer 404.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _normal_path(scope.get("path", ""))
        if path in UPLOAD_PATHS:
            await JSONResponse({"detail": "Not Found"}, 404)(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("content-type", "").lower().lstrip().startswith("multipart/"):
            await PlainTextResponse("This site takes no uploads.", 415)(scope, receive, send)
            return
        limit = body_limit_for(path)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await PlainTextResponse("Bad Content-Length.", 400)(scope, receive, send)
                return
            if int(declared) > limit:
                await PlainTextResponse("Request body too large.", 413)(scope, receive, send)
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking)
        except BodyTooLarge:
            # Raised where no exception handler answered it (a middleware reading).
            if started:
                raise
            await PlainTextResponse("Request body too large.", 413)(scope, receive, send)


#: Gradio routes this app never uses and that write a session's values (the
#: prompt, the images) to disk: ``deep_link`` saves them under
#: GRADIO_TEMP_DIR/deep_links/ and any logged-in user may ask for any session.
