"""Typed FastAPI dependencies: the studio, the session's account, a valid form.

Owns the plumbing every route shares, written once: the :class:`Studio`
from ``request.app.state``; the account of the session cookie
(:data:`CurrentAccount`, or :data:`OptionalAccount` for pages that visitors
see too); and a posted form with its CSRF token and origin checked
(:data:`PostedForm`, or :data:`AccountForm` for the Account tab's forms,
which also need a session). A dependency that refuses raises; the one
exception handler of :mod:`.refusals` turns that into the page or the
redirect.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

from ..accounts import Tokens
from ..errors import AICreativeError, AuthError, StoreError, ValidationError
from ..studio import PublicAccount, Studio
from .security import COOKIE_NAME, same_origin

ANONYMOUS = "anonymous"
#: What a form with a bad CSRF token or from another site is told.
EXPIRED = "This form has expired or did not come from this site. Please try again."


class LoginRequired(AuthError):
    """No valid session where one is needed: the answer is the log-in page."""

    def __init__(self) -> None:
        super().__init__("Please log in.")


class FormExpired(ValidationError):
    """A form whose CSRF token or origin does not check out."""

    def __init__(self) -> None:
        super().__init__(EXPIRED)


def get_studio(request: Request) -> Studio:
    """The app's one Studio (set by the app factory)."""
    return request.app.state.studio  # type: ignore[no-any-return]


StudioDep = Annotated[Studio, Depends(get_studio)]


def account_of(studio: Studio, request: Any) -> PublicAccount | None:
    """The account of ``request``'s session cookie; None when there is none.

    A failing store raises on (StoreError), so that a valid cookie is not
    taken for a missing session and cleared: the answer is a 503 instead.
    """
    try:
        return studio.user_from_session(request.cookies.get(COOKIE_NAME))
    except StoreError:
        raise
    except AICreativeError:
        return None


def session_account(request: Request) -> PublicAccount | None:
    """The session's account, or None for a visitor."""
    return account_of(get_studio(request), request)


def current_account(request: Request) -> PublicAccount:
    """The session's account; :class:`LoginRequired` for a visitor."""
    account = session_account(request)
    if account is None:
        raise LoginRequired()
    return account


OptionalAccount = Annotated[PublicAccount | None, Depends(session_account)]
CurrentAccount = Annotated[PublicAccount, Depends(current_account)]


def csrf_binding(request: Any, tokens: Tokens) -> str:
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


@dataclass(frozen=True)
class Form:
    """A posted form and whether it passed the CSRF and origin checks."""

    data: FormData
    valid: bool

    def text(self, name: str, limit: int = 2048) -> str:
        """The field's text, at most ``limit`` characters ("" when absent or a file)."""
        value = self.data.get(name, "")
        return value[:limit] if isinstance(value, str) else ""


async def posted_form(request: Request) -> Form:
    """The request's form, checked: a CSRF token of this session and this site's origin."""
    studio = get_studio(request)
    data = await request.form()
    token = data.get("csrf_token")
    valid = (
        isinstance(token, str)
        and studio.tokens.check_csrf(token, csrf_binding(request, studio.tokens))
        and same_origin(request, studio.settings, require=True)
    )
    return Form(data, valid)


PostedForm = Annotated[Form, Depends(posted_form)]


async def account_form(account: CurrentAccount, form: PostedForm) -> Form:
    """A valid form from a logged-in session (log-in first, then the form's checks)."""
    if not form.valid:
        raise FormExpired()
    return form


AccountForm = Annotated[Form, Depends(account_form)]
