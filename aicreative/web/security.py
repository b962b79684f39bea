"""HTTP security: the session cookie, headers, origin checks and client facts.

Owns how the one login cookie is set and cleared, the security headers on
every response (CSP, HSTS under HTTPS, frame ancestors), the check that a
state-changing request comes from this site's own pages, and how the
scheme and client address are read (proxy headers only when trusted).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings

COOKIE_NAME = "aicreative_session"
#: Hosts allowed to frame the app on Hugging Face Spaces.
SPACES_FRAME_ANCESTORS = "https://huggingface.co https://*.hf.space"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_https(request: Request, settings: Settings) -> bool:
    """Whether the browser reached us over HTTPS (proxy header only if trusted)."""
    if settings.trust_proxy:
        forwarded = request.headers.get("x-forwarded-proto", "")
        if forwarded:
            return forwarded.split(",")[0].strip().lower() == "https"
    return request.url.scheme == "https"


def client_address(request: Request, settings: Settings) -> str:
    """The client's address, for throttling only (never stored)."""
    if settings.trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def own_origin(request: Request, settings: Settings) -> str:
    scheme = "https" if is_https(request, settings) else "http"
    host = request.headers.get("host", "")
    if settings.trust_proxy and request.headers.get("x-forwarded-host"):
        host = request.headers["x-forwarded-host"].split(",")[0].strip()
    return f"{scheme}://{host}".lower()


def same_origin(request: Request, settings: Settings, *, require: bool) -> bool:
    """Does Origin (or, lacking it, Referer) name this site?

    With ``require`` a request that carries neither is refused: browsers
    send Origin on every form POST, so only a non-browser omits both.
    """
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        referer = request.headers.get("referer")
        if not referer:
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
        # In another site's iframe (Spaces) browsers keep a cookie only when
        # it is partitioned to that top-level site.
        partitioned=framed,
    )


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE_NAME,
        path="/",
        httponly=True,
        secure=is_https(request, settings) or settings.on_spaces,
        samesite="none" if settings.on_spaces else "lax",
        partitioned=settings.on_spaces,
    )


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
