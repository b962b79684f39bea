"""Server-rendered pages: sign-up, log in and out, password reset, privacy, health.

Owns the HTML forms that work without JavaScript and with password
managers. Every POST carries a signed CSRF token and passes the origin
check of :mod:`.security`; errors are shown on the form, with what the
person typed kept (never the password).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from ..accounts import Tokens
from ..errors import AICreativeError, AuthError, NotFound, StoreError, Throttled
from ..policy import format_date
from ..studio import Studio
from .security import (
    COOKIE_NAME,
    UNAVAILABLE,
    clear_session_cookie,
    client_address,
    same_origin,
    set_session_cookie,
)

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent / "templates"
ANONYMOUS = "anonymous"


def csrf_binding(request: Request, tokens: Tokens) -> str:
    """What a CSRF token is bound to: the session, or "anonymous" before login.

    Before login nothing secret exists to bind to, so the origin check is
    what stops a cross-site form; after login the token is tied to the
    session's account id and counter and to the cookie itself, so a token
    from another session, or from before a logout, is refused.
    """
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return ANONYMOUS
    digest = hashlib.sha256(token.encode()).hexdigest()[:24]
    try:
        claims = tokens.read_session(token)
    except AICreativeError:
        return "x:" + digest  # a stale or forged cookie: bound to itself, opens nothing
    return f"s:{claims.account_id}:{claims.counter}:{digest}"


def shown(exc: AICreativeError) -> str:
    """What a visitor is told of a failure: its message, unless the store failed.

    A StoreError's message is the operator's (it names the file): it is
    raised on, and :class:`~.security.StoreUnavailable` answers 503 and logs it.
    """
    if isinstance(exc, StoreError):
        raise exc
    return str(exc)


def public_message(exc: AICreativeError) -> str:
    """Like :func:`shown`, for places that must answer in place (Gradio events):
    a failing store is logged for the operator and the user is told only
    that the site is temporarily unavailable."""
    if isinstance(exc, StoreError):
        log.error("the account store failed: %s", exc)
        return UNAVAILABLE
    return str(exc)


@functools.cache
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )


def _session_user(request: Request) -> bool:
    studio: Studio = request.app.state.studio
    try:
        studio.user_from_session(request.cookies.get(COOKIE_NAME))
    except AICreativeError:
        return False
    return True


def render_page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A template rendered with the CSRF token and contact address every page needs."""
    studio: Studio = request.app.state.studio
    context.setdefault("csrf_token", studio.tokens.csrf(csrf_binding(request, studio.tokens)))
    context.setdefault("contact_email", studio.settings.contact_email)
    if "logged_in" not in context:  # the top bar offers log-in only to visitors
        context["logged_in"] = _session_user(request)
    html = _templates().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def render_message(request: Request, title: str, message: str, status: int = 200) -> HTMLResponse:
    """A short page with one message and a way back."""
    return render_page(
        request, "message.html", status, title=title, message=message, link="/", link_text="Back"
    )


#: The landing page's example pictures (made by scripts/make_examples.py).
EXAMPLES = (
    {"file": "example-1.webp", "prompt": "A lighthouse on a cliff at dawn, watercolour"},
    {"file": "example-2.webp", "prompt": "A fox in a snowy forest, ink drawing"},
    {"file": "example-3.webp", "prompt": "A city of glass at night, neon"},
)


def landing_page(request: Request) -> HTMLResponse:
    """The front door for visitors: what the app does, the privacy promise, sign-up and log-in."""
    studio: Studio = request.app.state.studio
    if _session_user(request):
        return RedirectResponse("/", status_code=303)  # type: ignore[return-value]
    return render_page(
        request,
        "landing.html",
        logged_in=False,
        signup_credits=studio.settings.signup_credits,
        examples=EXAMPLES,
        demo=studio.is_demo,
    )


def build_router(studio: Studio) -> APIRouter:
    settings = studio.settings
    router = APIRouter()
    render = render_page

    def form_ok(request: Request, form: Any) -> bool:
        token = form.get("csrf_token")
        return (
            isinstance(token, str)
            and studio.tokens.check_csrf(token, csrf_binding(request, studio.tokens))
            and same_origin(request, settings, require=True)
        )

    def current_user(request: Request) -> str | None:
        try:
            return studio.user_from_session(request.cookies.get(COOKIE_NAME)).username
        except AICreativeError:
            return None

    def field(form: Any, name: str, limit: int = 2048) -> str:
        value = form.get(name, "")
        return value[:limit] if isinstance(value, str) else ""

    expired = "This form has expired or did not come from this site. Please try again."

    @router.get("/welcome", response_class=HTMLResponse)
    async def welcome(request: Request) -> Response:
        return landing_page(request)

    # -- log in ---------------------------------------------------------------

    @router.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        if current_user(request):
            return RedirectResponse("/", status_code=303)
        message = {
            "out": "You are logged out.",
            "reset": "Your password was changed. Please log in.",
            "deleted": "Your account was deleted.",
        }.get(request.query_params.get("m", ""))
        return render(request, "login.html", username="", message=message)

    @router.post("/login", response_class=HTMLResponse)
    async def login_submit(request: Request) -> Response:
        form = await request.form()
        username = field(form, "username", 320)  # a username or an email
        if not form_ok(request, form):
            return render(request, "login.html", 400, username=username, error=expired)
        try:
            # Hashing takes ~0.1-0.25 s of CPU: in a thread, never on the event loop.
            token = await run_in_threadpool(
                studio.login,
                username,
                field(form, "password"),
                client=client_address(request, settings),
            )
        except Throttled as exc:
            response = render(request, "login.html", 429, username=username, error=str(exc))
            response.headers["retry-after"] = str(exc.retry_after)
            return response
        except AICreativeError as exc:
            return render(request, "login.html", 401, username=username, error=shown(exc))
        redirect = RedirectResponse("/", status_code=303)
        set_session_cookie(redirect, token, request, settings)
        return redirect

    # -- sign up ----------------------------------------------------------------

    def signup_context(**extra: Any) -> dict[str, Any]:
        current = studio.policy.current()
        return {
            "signup_credits": settings.signup_credits,
            "policy_version": current.version if current else None,
            **extra,
        }

    @router.get("/signup", response_class=HTMLResponse)
    async def signup_page(request: Request) -> Response:
        if current_user(request):
            return RedirectResponse("/", status_code=303)
        return render(request, "signup.html", **signup_context(username="", email=""))

    @router.post("/signup", response_class=HTMLResponse)
    async def signup_submit(request: Request) -> Response:
        form = await request.form()
        username, email = field(form, "username", 64), field(form, "email", 320)
        context = signup_context(username=username, email=email)
        if not form_ok(request, form):
            return render(request, "signup.html", 400, error=expired, **context)
        password = field(form, "password", 4096)
        if password != field(form, "password2", 4096):
            return render(request, "signup.html", 400, error="The two passwords differ.", **context)
        client = client_address(request, settings)
        try:
            account = await run_in_threadpool(
                studio.register, username, email, password, client=client
            )
            token = None
            if account is not None and not settings.confirm_email:
                token = await run_in_threadpool(
                    studio.login, account.username, password, client=client
                )
        except Throttled as exc:
            response = render(request, "signup.html", 429, error=str(exc), **context)
            response.headers["retry-after"] = str(exc.retry_after)
            return response
        except AICreativeError as exc:
            return render(request, "signup.html", exc.status_code, error=shown(exc), **context)
        if token is None:
            # A new account awaiting confirmation, or an email that has an
            # account (its owner was told by email): the same answer.
            return render(
                request,
                "message.html",
                title="Check your inbox",
                message=(
                    f"We sent a message to {email}. Follow its link to confirm the address "
                    f"(it works for 48 hours); the {settings.signup_credits} free credits "
                    "come with the confirmation. You can log in meanwhile."
                ),
                link="/login",
                link_text="Log in",
            )
        redirect = RedirectResponse("/", status_code=303)
        set_session_cookie(redirect, token, request, settings)
        return redirect

    @router.get("/confirm", response_class=HTMLResponse)
    async def confirm(request: Request) -> Response:
        """The one-use link of the confirmation email: confirms, and grants the credits."""
        token = request.query_params.get("token", "")[:4096]
        try:
            account = await run_in_threadpool(studio.confirm_email, token)
        except AICreativeError as exc:
            return render(
                request,
                "message.html",
                400,
                title="Not confirmed",
                message=f"{exc} Log in to ask for a new link.",
                link="/login",
                link_text="Log in",
            )
        return render(
            request,
            "message.html",
            title="Email confirmed",
            message=(
                f"Thank you, {account.username}: your email address is confirmed and "
                f"{settings.signup_credits} credits were added to your account."
            ),
            link="/",
            link_text="Start creating",
        )

    # -- log out ----------------------------------------------------------------

    @router.get("/logout")
    async def logout_link(request: Request) -> Response:
        # Shadows Gradio's own GET /logout, which redirects to an address
        # built from the client-written X-Forwarded-Host. Logging out is a
        # POST with a CSRF token; a link only goes back to the site.
        return RedirectResponse("/", status_code=303)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = await request.form()
        if not form_ok(request, form):
            return render(
                request,
                "message.html",
                400,
                title="Not logged out",
                message=expired,
                link="/",
                link_text="Back",
            )
        token = request.cookies.get(COOKIE_NAME)
        if token:
            studio.logout(token)
        response = RedirectResponse("/login?m=out", status_code=303)
        clear_session_cookie(response, request, settings)
        return response

    # -- password reset -----------------------------------------------------------

    @router.get("/forgot", response_class=HTMLResponse)
    async def forgot_page(request: Request) -> Response:
        return render(request, "forgot.html", email="")

    @router.post("/forgot", response_class=HTMLResponse)
    async def forgot_submit(request: Request) -> Response:
        form = await request.form()
        email = field(form, "email", 320)
        if not form_ok(request, form):
            return render(request, "forgot.html", 400, email=email, error=expired)
        try:
            # The link comes from the configured public address, never this request's Host.
            await run_in_threadpool(
                studio.request_password_reset, email, client=client_address(request, settings)
            )
        except Throttled as exc:
            response = render(request, "forgot.html", 429, email=email, error=str(exc))
            response.headers["retry-after"] = str(exc.retry_after)
            return response
        except AICreativeError as exc:  # an empty email: say so on the form, not a 500
            return render(request, "forgot.html", exc.status_code, email=email, error=shown(exc))
        # The same answer whether or not an account has this email.
        return render(
            request,
            "forgot.html",
            email="",
            message="If an account has this email, a reset link is on its way. It works once, for one hour.",
        )

    @router.get("/reset", response_class=HTMLResponse)
    async def reset_page(request: Request) -> Response:
        token = request.query_params.get("token", "")
        try:
            username = studio.check_reset_token(token)
        except AICreativeError as exc:
            return render(request, "reset.html", 400, token="", error=shown(exc))
        return render(request, "reset.html", token=token, username=username)

    @router.post("/reset", response_class=HTMLResponse)
    async def reset_submit(request: Request) -> Response:
        form = await request.form()
        token = field(form, "token", 4096)
        if not form_ok(request, form):
            return render(request, "reset.html", 400, token=token, username="", error=expired)
        password = field(form, "password", 4096)
        if password != field(form, "password2", 4096):
            return render(
                request,
                "reset.html",
                400,
                token=token,
                username="",
                error="The two passwords differ.",
            )
        try:
            await run_in_threadpool(studio.reset_password, token, password)
        except AuthError as exc:
            return render(request, "reset.html", 400, token="", error=shown(exc))
        except AICreativeError as exc:
            return render(request, "reset.html", 400, token=token, username="", error=shown(exc))
        response = RedirectResponse("/login?m=reset", status_code=303)
        clear_session_cookie(response, request, settings)
        return response

    # -- privacy and health -------------------------------------------------------

    def privacy(request: Request, version: int | None) -> Response:
        book = studio.policy
        current = book.current()
        try:
            doc = book.get(version) if version is not None else (current or book.latest())
        except NotFound:
            return render(
                request,
                "message.html",
                404,
                title="No such version",
                message="There is no policy version with that number.",
                link="/privacy",
                link_text="The current policy",
            )
        upcoming = book.upcoming()
        others = [d for d in book.versions() if d.version != doc.version]
        return render(
            request,
            "privacy.html",
            doc=doc,
            effective=format_date(doc.effective),
            in_force=doc.in_force(book.today()),
            body=doc.html(settings.contact_email),
            upcoming=upcoming if upcoming and upcoming.version != doc.version else None,
            upcoming_date=format_date(upcoming.effective) if upcoming else "",
            others=others,
            logged_in=current_user(request) is not None,
        )

    @router.get("/privacy", response_class=HTMLResponse)
    async def privacy_page(request: Request) -> Response:
        return privacy(request, None)

    @router.get("/privacy/v{version:int}", response_class=HTMLResponse)
    async def privacy_version(request: Request, version: int) -> Response:
        return privacy(request, version)

    @router.get("/goodbye", response_class=HTMLResponse)
    async def goodbye(request: Request) -> Response:
        # Only a wipe instruction the server signed names a gallery to wipe.
        token = request.query_params.get("w", "")[:1000]
        signed = studio.gallery_keys.read_wipe(token)
        account_id, username = signed or ("", "")
        return render(
            request,
            "goodbye.html",
            username=username,
            account_id=account_id,
            wipe_token=token if signed else "",
        )

    @router.post("/goodbye/wipe")
    async def goodbye_wipe(request: Request) -> JSONResponse:
        """Spend the signed wipe instruction, once; the page wipes only on a yes."""
        if not same_origin(request, settings, require=True):
            return JSONResponse({"detail": "Refused."}, 403)
        try:
            token = str((await request.json()).get("w", ""))[:1000]  # BodyLimit judged the size
        except (ValueError, AttributeError):
            return JSONResponse({"detail": "Bad request."}, 400)
        signed = studio.gallery_keys.spend_wipe(token)
        if signed is None:
            return JSONResponse(
                {"detail": "This wipe link was used already, or is not valid."}, 410
            )
        return JSONResponse({"account": signed[0]}, headers={"cache-control": "no-store"})

    @router.get("/pwa_icon/{size:path}")
    async def pwa_icon(size: str) -> JSONResponse:
        """The app is no PWA (``pwa=False``), but Gradio still answers here, and
        any size made it resize an SVG it cannot open (a 500; and a large
        size would be a huge image): no icon of any size."""
        return JSONResponse({"detail": "Not Found"}, 404)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "backend": studio.backend_name,
                "label": studio.backend_label,
                "reason": studio.backend_reason,
            },
            headers={"cache-control": "no-store"},
        )

    return router
