"""The user's rights over HTTP: see and download, correct, delete, object.

Owns the forms of the Account tab and the routes they post to. They are
plain HTML forms (they work without JavaScript), each with a CSRF token
bound to the session and the origin check (:data:`.deps.AccountForm`); a
change that ends sessions gives this device a fresh cookie so that the
person stays logged in. A refused change raises; the app's one handler
(:mod:`.refusals`) answers with a page saying nothing changed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ..errors import ValidationError
from ..studio import PublicAccount, Studio
from .deps import AccountForm, CurrentAccount, StudioDep
from .rendering import fragment
from .security import clear_session_cookie, set_session_cookie

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
    link = text.startswith(("https://", "http://", "mailto:"))
    return str(
        fragment(
            "credits_help.html",
            text=text,
            link=link,
            mailto=text.startswith("mailto:"),
            label=text.removeprefix("mailto:"),
        )
    )


def account_forms(studio: Studio, account: PublicAccount, csrf_token: str) -> str:
    """The Account tab's HTML: what is stored, and a form for each right."""
    data = studio.my_data(account.username)["stored"]
    rows = [
        {
            "name": name,
            "name_parts": name.split("_"),  # a break may come after each "_"
            "label": FIELD_LABELS.get(name, name),
            "value": _shown(value),
        }
        for name, value in data.items()
    ]
    return str(
        fragment(
            "account.html",
            account=account,
            csrf_token=csrf_token,
            rows=rows,
            credits_help=Markup(credits_help_html(studio.settings.credits_help)),  # noqa: S704
            contact=studio.settings.contact_email,
        )
    )


# -- the routes: each takes a checked form (.deps.AccountForm) and lets a refusal rise --

router = APIRouter(prefix="/account")
#: A field of these forms is read up to this many characters (a password is at most 1,024).
FIELD_LIMIT = 4096


@router.get("/data.json")
async def download(account: CurrentAccount, studio: StudioDep) -> Response:
    return Response(
        studio.export_data(account.username),
        media_type="application/json",
        headers={
            "content-disposition": f'attachment; filename="aicreative-{account.username}-data.json"',
            "cache-control": "no-store",
        },
    )


@router.post("/email")
async def email(account: CurrentAccount, form: AccountForm, studio: StudioDep) -> Response:
    # Each password check is an argon2 hash: in a thread, off the event loop.
    await run_in_threadpool(
        studio.change_email,
        account.username,
        form.text("password", FIELD_LIMIT),
        form.text("email", FIELD_LIMIT),
    )
    return RedirectResponse("/?done=email", status_code=303)


@router.post("/username")
async def username(
    request: Request, account: CurrentAccount, form: AccountForm, studio: StudioDep
) -> Response:
    updated = await run_in_threadpool(
        studio.change_username,
        account.username,
        form.text("password", FIELD_LIMIT),
        form.text("username", FIELD_LIMIT),
    )
    # The gallery is keyed by the account id: nothing in the browser moves.
    response = RedirectResponse("/?done=username", status_code=303)
    set_session_cookie(response, studio.session_for(updated.username), request, studio.settings)
    return response


@router.post("/password")
async def password(
    request: Request, account: CurrentAccount, form: AccountForm, studio: StudioDep
) -> Response:
    new = form.text("new", FIELD_LIMIT)
    if new != form.text("new2", FIELD_LIMIT):
        raise ValidationError("The two new passwords differ.")
    token = await run_in_threadpool(
        studio.change_password, account.username, form.text("current", FIELD_LIMIT), new
    )
    response = RedirectResponse("/?done=password", status_code=303)
    set_session_cookie(response, token, request, studio.settings)
    return response


@router.post("/confirm")
async def resend_confirmation(
    account: CurrentAccount, form: AccountForm, studio: StudioDep
) -> Response:
    await run_in_threadpool(studio.resend_confirmation, account.username)
    return RedirectResponse("/?done=confirm-sent", status_code=303)


@router.post("/objection")
async def objection(account: CurrentAccount, form: AccountForm, studio: StudioDep) -> Response:
    on = form.text("objected", FIELD_LIMIT) == "on"
    studio.set_objection(account.username, on)
    return RedirectResponse(f"/?done={'objected' if on else 'unobjected'}", status_code=303)


@router.post("/delete")
async def delete(
    request: Request, account: CurrentAccount, form: AccountForm, studio: StudioDep
) -> Response:
    gone = studio.account_id(account.username)
    await run_in_threadpool(
        studio.delete_account,
        account.username,
        form.text("password", FIELD_LIMIT),
        form.text("confirm_username", FIELD_LIMIT),
    )
    # The goodbye page may wipe this browser's gallery only on this signed
    # instruction for the deleted account (a forged link wipes nothing).
    wipe = studio.gallery_keys.wipe_instruction(gone, account.username)
    response = RedirectResponse(f"/goodbye?w={quote(wipe)}", status_code=303)
    clear_session_cookie(response, request, studio.settings)
    return response
