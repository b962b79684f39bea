"""HTTP security: the session cookie, headers, origin and host checks, client facts.

Owns how the one login cookie is set and cleared, the security headers on
every response (CSP, HSTS under HTTPS, frame ancestors), the check that a
state-changing request comes from this site's own pages, the trusted-host
check, how the scheme and client address are read (proxy headers only when
trusted), the failing store's 503 and the log-in redirect at ``/``. Body
limits are :mod:`.body_limits`'s; Gradio's session ids, :mod:`.gradio_guard`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
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


class HTTPMiddleware:
    """A pure ASGI middleware for HTTP requests: other scopes pass straight through.

    Subclasses write :meth:`http`; pure ASGI (not Starlette's
    ``BaseHTTPMiddleware``) so that streamed answers are not buffered.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer or pass on one HTTP request."""
        raise NotImplementedError


class StoreUnavailable(HTTPMiddleware):
    """Answers 503 "temporarily unavailable" when the account store fails.

    The store's message is for the operator (it names the file and its
    path): it goes to the log, never into a response. Handlers let a
    :class:`~aicreative.errors.StoreError` rise to here.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        def unavailable(exc: Exception) -> Response:
            log.error("the account store failed: %s", exc)
            return PlainTextResponse(
                UNAVAILABLE,
                status_code=503,
                headers={"retry-after": "60", "cache-control": "no-store"},
            )

        await answer_unless_started(self.app, scope, receive, send, StoreError, unavailable)


async def answer_unless_started(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    catch: type[Exception],
    answer: Callable[[Exception], Response],
) -> None:
    """Run ``app``; an error of type ``catch`` gets ``answer(exc)`` as the response.

    ``answer`` is called for every such error (it may log it); once the app's
    own answer has begun, nothing else can be sent, so the error rises on.
    """
    started = False

    async def tracking(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, receive, tracking)
    except catch as exc:
        response = answer(exc)
        if started:
            raise
        await response(scope, receive, send)


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
