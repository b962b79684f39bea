"""The user's rights over HTTP: see and download, correct, delete, object.

Owns the forms of the Account tab and the routes they post to. They are
plain HTML forms (they work without JavaScript), each with a CSRF token
bound to the session and the origin check; a change that ends sessions
gives this device a fresh cookie so that the person stays logged in.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import AICreativeError
from ..studio import PublicAccount, Studio
from .security import COOKIE_NAME, clear_session_cookie, same_origin, set_session_cookie

#: Messages for ``/?done=<code>`` after a successful change.
DONE = {
    "email": "Your email was changed.",
    "username": "Your username was changed; your gallery stays yours (it belongs to the account, not the name).",
    "password": "Your password was changed. Every other session has ended.",
    "confirm-sent": "A new confirmation link is on its way to your email address.",
    "objected": "Your objection is recorded: no emails except those you ask for; notices on the site only.",
    "unobjected": "You no longer object; policy notices may reach you by email again.",
}


#: Human names for the stored fields (the field's own name is shown beside, small).
FIELD_LABELS = {
    "username": "Username",
    "email": "Email",
    "password_hash": "Password",
    "credits": "Credits",
    "role": "Role",
    "policy_version": "Privacy policy version you accepted",
    "session_counter": "Log-outs everywhere (ends old sessions)",
    "objected": "You object to processing",
    "account_id": "Account id (random, never reused)",
    "gallery_salt": "Gallery key material",
    "email_confirmed": "Email confirmed",
    "api_tokens": "API tokens",
}


def _shown(value: Any) -> str:
    """A stored value as a person reads it: Yes/No, "none", a count of tokens."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value is None:
        return "none yet"
    if isinstance(value, (list, tuple)):
        return f"{len(value)}" if value else "none"
    return str(value)


def credits_help_html(help_text: str) -> str:
    """The operator's words on how to get credits: a link when it is one, else text."""
    text = help_text.strip()
    if not text:
        return "Ask the site's operator for more credits."
    if text.startswith(("https://", "http://", "mailto:")):
        target = "" if text.startswith("mailto:") else ' target="_blank" rel="noopener"'
        label = text.removeprefix("mailto:")
        return (
            f'Get more credits: <a href="{html.escape(text)}"{target} '
            f'data-testid="credits-help-link">{html.escape(label)}</a>'
        )
    return html.escape(text)


def account_forms(studio: Studio, account: PublicAccount, csrf_token: str) -> str:
    """The Account tab's HTML: what is stored, and a form for each right."""
    data = studio.my_data(account.username)["stored"]
    e = html.escape
    token = f'<input type="hidden" name="csrf_token" value="{e(csrf_token)}">'
    # Password managers file a password under the username beside it.
    who = (
        f'<input type="text" name="username" value="{e(account.username)}" '
        'autocomplete="username" hidden aria-hidden="true" tabindex="-1">'
    )
    rows = "".join(
        f'<tr><th scope="row">{e(FIELD_LABELS.get(name, name))} <code class="ac-field">{e(name).replace("_", "_<wbr>")}</code></th>'
        f'<td data-testid="stored-{e(name)}">{e(_shown(value))}</td></tr>'
        for name, value in data.items()
    )
    credits_help = credits_help_html(studio.settings.credits_help)
    objected = account.objected
    contact = e(studio.settings.contact_email)
    return f"""
<div class="ac-account">
  <section class="ac-section">
    <h3>Credits</h3>
    <p data-testid="account-credits">You have <b>{account.credits}</b> credit{"" if account.credits == 1 else "s"}. <span data-testid="credits-help">{credits_help}</span></p>
  </section>
  <section class="ac-section">
    <h3>What we store about you</h3>
    <p>This is every field of your account, exactly as the server keeps it. Images, prompts
    and settings are never stored on the server: they live only in this browser.</p>
    <table class="ac-account-table" data-testid="stored-data">{rows}</table>
    <p><a class="ac-btn" href="/account/data.json" download data-testid="download-data">Download my data (JSON)</a></p>
  </section>
  <section class="ac-section">
    <h3>Correct your data</h3>
    <form method="post" action="/account/email" class="ac-inline-form">{token}{who}
      <label>New email <input type="email" name="email" required maxlength="254" autocomplete="email" value="{e(account.email)}"></label>
      <label>Password <input type="password" name="password" required autocomplete="current-password"></label>
      <button type="submit" data-testid="change-email">Change email</button>
    </form>
    <form method="post" action="/account/username" class="ac-inline-form">{token}
      <label>New username <input type="text" name="username" required minlength="3" maxlength="32" autocomplete="username" value="{e(account.username)}"></label>
      <label>Password <input type="password" name="password" required autocomplete="current-password"></label>
      <button type="submit" data-testid="change-username">Change username</button>
    </form>
    <form method="post" action="/account/password" class="ac-inline-form">{token}{who}
      <label>Current password <input type="password" name="current" required autocomplete="current-password"></label>
      <label>New password <input type="password" name="new" required minlength="10" maxlength="1024" autocomplete="new-password"></label>
      <label>Repeat <input type="password" name="new2" required minlength="10" maxlength="1024" autocomplete="new-password"></label>
      <button type="submit" data-testid="change-password">Change password</button>
    </form>
  </section>
  <section class="ac-section">
    <h3>Object to processing</h3>
    <p>Objecting means we process your data only for what your account needs (log-in and
    credits): no emails reach you except those you ask for, such as a password reset link,
    and news of policy changes is shown on the site only. Admins see that you objected.
    Objecting to the essential processing too means deleting your account, below.</p>
    <p data-testid="objection-state">You {"object" if objected else "do not object"} to further processing.</p>
    <form method="post" action="/account/objection" class="ac-inline-form">{token}
      <input type="hidden" name="objected" value="{"off" if objected else "on"}">
      <button type="submit" data-testid="toggle-objection">{"Withdraw my objection" if objected else "I object"}</button>
    </form>
  </section>
  <section class="ac-section ac-danger">
    <h3>Delete your account</h3>
    <p>Your record leaves our store at once and every session ends. Type your password and your
    username to confirm. Your gallery's key is made from a random value kept with your record;
    deleting the account destroys it, so every copy of your gallery, in this and any other
    browser, becomes unreadable at once (export it first to keep your images). You can then
    wipe this browser's gallery too.</p>
    <form method="post" action="/account/delete" class="ac-inline-form">{token}{who}
      <label>Password <input type="password" name="password" required autocomplete="current-password"></label>
      <label>Type your username <input type="text" name="confirm_username" required autocomplete="off"></label>
      <button type="submit" class="ac-danger-btn" data-testid="delete-account">Delete my account</button>
    </form>
  </section>
  <p>Questions or requests about your data: <a href="mailto:{contact}">{contact}</a></p>
</div>
"""


def build_account_router(studio: Studio) -> APIRouter:
    from .pages import csrf_binding, render_message, shown

    settings = studio.settings
    router = APIRouter(prefix="/account")

    def session_account(request: Request) -> PublicAccount | None:
        try:
            return studio.user_from_session(request.cookies.get(COOKIE_NAME))
        except AICreativeError:
            return None

    async def checked(request: Request) -> tuple[PublicAccount | None, Any, Response | None]:
        """The account and form of a valid request, or the response that refuses it."""
        account = session_account(request)
        if account is None:
            return None, None, RedirectResponse("/login", status_code=303)
        form = await request.form()
        token = form.get("csrf_token")
        if not (
            isinstance(token, str)
            and studio.tokens.check_csrf(token, csrf_binding(request, studio.tokens))
            and same_origin(request, settings, require=True)
        ):
            return (
                None,
                None,
                render_message(
                    request,
                    "Nothing changed",
                    "This form has expired or did not come from this site. Please try again.",
                    400,
                ),
            )
        return account, form, None

    def refused(request: Request, exc: AICreativeError) -> HTMLResponse:
        return render_message(
            request,
            "Nothing changed",
            shown(exc),
            exc.status_code if exc.status_code < 500 else 400,
        )

    def text(form: Any, name: str) -> str:
        value = form.get(name, "")
        return value[:4096] if isinstance(value, str) else ""

    @router.get("/data.json")
    async def download(request: Request) -> Response:
        account = session_account(request)
        if account is None:
            return RedirectResponse("/login", status_code=303)
        return Response(
            studio.export_data(account.username),
            media_type="application/json",
            headers={
                "content-disposition": f'attachment; filename="aicreative-{account.username}-data.json"',
                "cache-control": "no-store",
            },
        )

    @router.post("/email")
    async def email(request: Request) -> Response:
        account, form, refusal = await checked(request)
        if refusal or account is None:
            return refusal or RedirectResponse("/login", status_code=303)
        try:
            # Each password check is an argon2 hash: in a thread, off the event loop.
            await run_in_threadpool(
                studio.change_email, account.username, text(form, "password"), text(form, "email")
            )
        except AICreativeError as exc:
            return refused(request, exc)
        return RedirectResponse("/?done=email", status_code=303)

    @router.post("/username")
    async def username(request: Request) -> Response:
        account, form, refusal = await checked(request)
        if refusal or account is None:
            return refusal or RedirectResponse("/login", status_code=303)
        try:
            updated = await run_in_threadpool(
                studio.change_username,
                account.username,
                text(form, "password"),
                text(form, "username"),
            )
        except AICreativeError as exc:
            return refused(request, exc)
        # The gallery is keyed by the account id: nothing in the browser moves.
        response = RedirectResponse("/?done=username", status_code=303)
        set_session_cookie(response, studio.session_for(updated.username), request, settings)
        return response

    @router.post("/password")
    async def password(request: Request) -> Response:
        account, form, refusal = await checked(request)
        if refusal or account is None:
            return refusal or RedirectResponse("/login", status_code=303)
        if text(form, "new") != text(form, "new2"):
            return render_message(request, "Nothing changed", "The two new passwords differ.", 400)
        try:
            token = await run_in_threadpool(
                studio.change_password, account.username, text(form, "current"), text(form, "new")
            )
        except AICreativeError as exc:
            return refused(request, exc)
        response = RedirectResponse("/?done=password", status_code=303)
        set_session_cookie(response, token, request, settings)
        return response

    @router.post("/confirm")
    async def resend_confirmation(request: Request) -> Response:
        account, form, refusal = await checked(request)
        if refusal or account is None:
            return refusal or RedirectResponse("/login", status_code=303)
        try:
            await run_in_threadpool(studio.resend_confirmation, account.username)
        except AICreativeError as exc:
            response = refused(request, exc)
            retry = getattr(exc, "retry_after", None)
            if retry is not None:
                response.headers["retry-after"] = str(retry)
            return response
        return RedirectResponse("/?done=confirm-sent", status_code=303)

    @router.post("/objection")
    async def objection(request: Request) -> Response:
        account, form, refusal = await checked(request)
        if refusal or account is None:
            return refusal or RedirectResponse("/login", status_code=303)
        on = text(form, "objected") == "on"
        studio.set_objection(account.username, on)
        return RedirectResponse(f"/?done={'objected' if on else 'unobjected'}", status_code=303)

    @router.post("/delete")
    async def delete(request: Request) -> Response:
        account, form, refusal = await checked(request)
        if refusal or account is None:
            return refusal or RedirectResponse("/login", status_code=303)
        try:
            gone = studio.account_id(account.username)
            await run_in_threadpool(
                studio.delete_account,
                account.username,
                text(form, "password"),
                text(form, "confirm_username"),
            )
        except AICreativeError as exc:
            return refused(request, exc)
        # The goodbye page may wipe this browser's gallery only on this signed
        # instruction for the deleted account (a forged link wipes nothing).
        wipe = studio.gallery_keys.wipe_instruction(gone, account.username)
        response = RedirectResponse(f"/goodbye?w={quote(wipe)}", status_code=303)
        clear_session_cookie(response, request, settings)
        return response

    return router
