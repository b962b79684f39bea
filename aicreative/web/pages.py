"""Server-rendered pages: sign-up, log in and out, password reset, privacy, health.

Owns the HTML forms that work without JavaScript and with password
managers. Every POST carries a signed CSRF token and passes the origin
check of :mod:`.security` (:data:`.deps.PostedForm`); errors are shown on
the form, with what the person typed kept (never the password). The
routes are plain functions on the module's ``router``; the studio and the
session come from :mod:`.deps`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import AICreativeError, AuthError, NotFound, Throttled
from ..policy import format_date
from ..studio import Studio
from .deps import EXPIRED, OptionalAccount, PostedForm, StudioDep, get_studio, session_account
from .rendering import public_message as public_message  # where ui.py reads it
from .rendering import render_message, render_page, shown
from .security import (
    COOKIE_NAME,
    clear_session_cookie,
    client_address,
    same_origin,
    set_session_cookie,
)

log = logging.getLogger(__name__)
router = APIRouter()


def form_refused(
    request: Request, template: str, exc: AICreativeError, status: int, **context: Any
) -> HTMLResponse:
    """The form again with the error's message (and Retry-After when it says one)."""
    return render_page(
        request,
        template,
        status,
        error=shown(exc),
        retry_after=getattr(exc, "retry_after", None),
        **context,
    )


#: The landing page's example pictures (made by scripts/make_examples.py).
EXAMPLES = (
    {"file": "example-1.webp", "prompt": "A lighthouse on a cliff at dawn, watercolour"},
    {"file": "example-2.webp", "prompt": "A fox in a snowy forest, ink drawing"},
    {"file": "example-3.webp", "prompt": "A city of glass at night, neon"},
)


def landing_page(request: Request) -> HTMLResponse:
    """The front door for visitors: what the app does, the privacy promise, sign-up and log-in."""
    studio = get_studio(request)
    if session_account(request) is not None:
        return RedirectResponse("/", status_code=303)  # type: ignore[return-value]
    return render_page(
        request,
        "landing.html",
        logged_in=False,
        signup_credits=studio.settings.signup_credits,
        examples=EXAMPLES,
        demo=studio.is_demo,
    )


@router.get("/welcome", response_class=HTMLResponse)
async def welcome(request: Request) -> Response:
    return landing_page(request)


# -- log in ---------------------------------------------------------------------

LOGIN_MESSAGES = {
    "out": "You are logged out.",
    "reset": "Your password was changed. Please log in.",
    "deleted": "Your account was deleted.",
}


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, account: OptionalAccount) -> Response:
    if account is not None:
        return RedirectResponse("/", status_code=303)
    message = LOGIN_MESSAGES.get(request.query_params.get("m", ""))
    return render_page(request, "login.html", username="", message=message)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, form: PostedForm, studio: StudioDep) -> Response:
    username = form.text("username", 320)  # a username or an email
    if not form.valid:
        return render_page(request, "login.html", 400, username=username, error=EXPIRED)
    try:
        # Hashing takes ~0.1-0.25 s of CPU: in a thread, never on the event loop.
        token = await run_in_threadpool(
            studio.login,
            username,
            form.text("password"),
            client=client_address(request, studio.settings),
        )
    except AICreativeError as exc:  # 429 when throttled, else 401
        status = 429 if isinstance(exc, Throttled) else 401
        return form_refused(request, "login.html", exc, status, username=username)
    redirect = RedirectResponse("/", status_code=303)
    set_session_cookie(redirect, token, request, studio.settings)
    return redirect


# -- sign up ------------------------------------------------------------------------


def _signup_context(studio: Studio, **extra: Any) -> dict[str, Any]:
    current = studio.policy.current()
    return {
        "signup_credits": studio.settings.signup_credits,
        "policy_version": current.version if current else None,
        **extra,
    }


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(request: Request, account: OptionalAccount, studio: StudioDep) -> Response:
    if account is not None:
        return RedirectResponse("/", status_code=303)
    return render_page(request, "signup.html", **_signup_context(studio, username="", email=""))


@router.post("/signup", response_class=HTMLResponse)
async def signup_submit(request: Request, form: PostedForm, studio: StudioDep) -> Response:
    settings = studio.settings
    username, email = form.text("username", 64), form.text("email", 320)
    context = _signup_context(studio, username=username, email=email)
    if not form.valid:
        return render_page(request, "signup.html", 400, error=EXPIRED, **context)
    password = form.text("password", 4096)
    if password != form.text("password2", 4096):
        return render_page(
            request, "signup.html", 400, error="The two passwords differ.", **context
        )
    client = client_address(request, settings)
    try:
        account = await run_in_threadpool(studio.register, username, email, password, client=client)
        token = None
        if account is not None and not settings.confirm_email:
            token = await run_in_threadpool(studio.login, account.username, password, client=client)
    except AICreativeError as exc:
        return form_refused(request, "signup.html", exc, exc.status_code, **context)
    if token is None:
        # A new account awaiting confirmation, or an email that has an
        # account (its owner was told by email): the same answer.
        return render_message(
            request,
            "Check your inbox",
            f"We sent a message to {email}. Follow its link to confirm the address "
            f"(it works for 48 hours); the {settings.signup_credits} free credits "
            "come with the confirmation. You can log in meanwhile.",
            link="/login",
            link_text="Log in",
        )
    redirect = RedirectResponse("/", status_code=303)
    set_session_cookie(redirect, token, request, settings)
    return redirect


@router.get("/confirm", response_class=HTMLResponse)
async def confirm(request: Request, studio: StudioDep) -> Response:
    """The one-use link of the confirmation email: confirms, and grants the credits."""
    token = request.query_params.get("token", "")[:4096]
    try:
        account = await run_in_threadpool(studio.confirm_email, token)
    except AICreativeError as exc:
        return render_message(
            request,
            "Not confirmed",
            f"{exc} Log in to ask for a new link.",
            400,
            link="/login",
            link_text="Log in",
        )
    return render_message(
        request,
        "Email confirmed",
        f"Thank you, {account.username}: your email address is confirmed and "
        f"{studio.settings.signup_credits} credits were added to your account.",
        link_text="Start creating",
    )


# -- log out ------------------------------------------------------------------------


@router.get("/logout")
async def logout_link() -> Response:
    # Shadows Gradio's own GET /logout, which redirects to an address
    # built from the client-written X-Forwarded-Host. Logging out is a
    # POST with a CSRF token; a link only goes back to the site.
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
async def logout(request: Request, form: PostedForm, studio: StudioDep) -> Response:
    if not form.valid:
        return render_message(request, "Not logged out", EXPIRED, 400)
    token = request.cookies.get(COOKIE_NAME)
    if token:
        studio.logout(token)
    response = RedirectResponse("/login?m=out", status_code=303)
    clear_session_cookie(response, request, studio.settings)
    return response


# -- password reset -------------------------------------------------------------------


@router.get("/forgot", response_class=HTMLResponse)
async def forgot_page(request: Request) -> Response:
    return render_page(request, "forgot.html", email="")


@router.post("/forgot", response_class=HTMLResponse)
async def forgot_submit(request: Request, form: PostedForm, studio: StudioDep) -> Response:
    email = form.text("email", 320)
    if not form.valid:
        return render_page(request, "forgot.html", 400, email=email, error=EXPIRED)
    try:
        # The link comes from the configured public address, never this request's Host.
        await run_in_threadpool(
            studio.request_password_reset, email, client=client_address(request, studio.settings)
        )
    except AICreativeError as exc:  # throttled, or an empty email: on the form, not a 500
        return form_refused(request, "forgot.html", exc, exc.status_code, email=email)
    # The same answer whether or not an account has this email.
    return render_page(
        request,
        "forgot.html",
        email="",
        message="If an account has this email, a reset link is on its way. It works once, for one hour.",
    )


@router.get("/reset", response_class=HTMLResponse)
async def reset_page(request: Request, studio: StudioDep) -> Response:
    token = request.query_params.get("token", "")
    try:
        username = studio.check_reset_token(token)
    except AICreativeError as exc:
        return form_refused(request, "reset.html", exc, 400, token="")
    return render_page(request, "reset.html", token=token, username=username)


@router.post("/reset", response_class=HTMLResponse)
async def reset_submit(request: Request, form: PostedForm, studio: StudioDep) -> Response:
    token = form.text("token", 4096)
    if not form.valid:
        return render_page(request, "reset.html", 400, token=token, username="", error=EXPIRED)
    password = form.text("password", 4096)
    if password != form.text("password2", 4096):
        return render_page(
            request, "reset.html", 400, token=token, username="", error="The two passwords differ."
        )
    try:
        await run_in_threadpool(studio.reset_password, token, password)
    except AuthError as exc:  # the link is spent or wrong: no token to post again
        return form_refused(request, "reset.html", exc, 400, token="")
    except AICreativeError as exc:
        return form_refused(request, "reset.html", exc, 400, token=token, username="")
    response = RedirectResponse("/login?m=reset", status_code=303)
    clear_session_cookie(response, request, studio.settings)
    return response


# -- privacy, goodbye and health ---------------------------------------------------------


def _privacy(request: Request, studio: Studio, version: int | None) -> Response:
    book = studio.policy
    current = book.current()
    try:
        doc = book.get(version) if version is not None else (current or book.latest())
    except NotFound:
        return render_message(
            request,
            "No such version",
            "There is no policy version with that number.",
            404,
            link="/privacy",
            link_text="The current policy",
        )
    upcoming = book.upcoming()
    return render_page(
        request,
        "privacy.html",
        doc=doc,
        effective=format_date(doc.effective),
        in_force=doc.in_force(book.today()),
        body=doc.html(studio.settings.contact_email),
        upcoming=upcoming if upcoming and upcoming.version != doc.version else None,
        upcoming_date=format_date(upcoming.effective) if upcoming else "",
        others=[d for d in book.versions() if d.version != doc.version],
    )


@router.get("/privacy", response_class=HTMLResponse)
async def privacy_page(request: Request, studio: StudioDep) -> Response:
    return _privacy(request, studio, None)


@router.get("/privacy/v{version:int}", response_class=HTMLResponse)
async def privacy_version(request: Request, version: int, studio: StudioDep) -> Response:
    return _privacy(request, studio, version)


@router.get("/goodbye", response_class=HTMLResponse)
async def goodbye(request: Request, studio: StudioDep) -> Response:
    # Only a wipe instruction the server signed names a gallery to wipe.
    token = request.query_params.get("w", "")[:1000]
    signed = studio.gallery_keys.read_wipe(token)
    account_id, username = signed or ("", "")
    return render_page(
        request,
        "goodbye.html",
        username=username,
        account_id=account_id,
        wipe_token=token if signed else "",
    )


@router.post("/goodbye/wipe")
async def goodbye_wipe(request: Request, studio: StudioDep) -> JSONResponse:
    """Spend the signed wipe instruction, once; the page wipes only on a yes."""
    if not same_origin(request, studio.settings, require=True):
        return JSONResponse({"detail": "Refused."}, 403)
    try:
        token = str((await request.json()).get("w", ""))[:1000]  # BodyLimit judged the size
    except (ValueError, AttributeError):
        return JSONResponse({"detail": "Bad request."}, 400)
    signed = studio.gallery_keys.spend_wipe(token)
    if signed is None:
        return JSONResponse({"detail": "This wipe link was used already, or is not valid."}, 410)
    return JSONResponse({"account": signed[0]}, headers={"cache-control": "no-store"})


@router.get("/pwa_icon/{size:path}")
async def pwa_icon(size: str) -> JSONResponse:
    """The app is no PWA (``pwa=False``), but Gradio still answers here, and
    any size made it resize an SVG it cannot open (a 500; and a large
    size would be a huge image): no icon of any size."""
    return JSONResponse({"detail": "Not Found"}, 404)


@router.get("/healthz")
async def healthz(studio: StudioDep) -> JSONResponse:
    return JSONResponse(
        {
            "status": "ok",
            "backend": studio.backend_name,
            "label": studio.backend_label,
            "reason": studio.backend_reason,
        },
        headers={"cache-control": "no-store"},
    )
