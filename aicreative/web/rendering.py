"""HTML from templates: the one Jinja2 environment of the web layer.

Owns how a page or a fragment is rendered: every template lives in
``aicreative/web/templates/`` and is rendered with autoescaping on, so a
value is escaped unless a template marks it safe. Pages get the CSRF token,
the contact address and whether the visitor is logged in; fragments (the
Account tab's forms) get only what they are given. Also owns what a visitor
is told of a failure (:func:`shown`, :func:`public_message`).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ..errors import AICreativeError, StoreError
from .deps import csrf_binding, get_studio, session_account
from .security import UNAVAILABLE

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )


def fragment(name: str, **context: Any) -> Markup:
    """A template rendered with ``context`` only: a piece of a page (escaped values)."""
    return Markup(_templates().get_template(name).render(**context))  # noqa: S704 - autoescaped


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


def render_page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A template rendered with the CSRF token and contact address every page needs."""
    studio = get_studio(request)
    context.setdefault("csrf_token", studio.tokens.csrf(csrf_binding(request, studio.tokens)))
    context.setdefault("contact_email", studio.settings.contact_email)
    if "logged_in" not in context:  # the top bar offers log-in only to visitors
        context["logged_in"] = session_account(request) is not None
    html = _templates().get_template(name).render(**context)
    response = HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})
    retry = context.get("retry_after")
    if retry is not None:
        response.headers["retry-after"] = str(retry)
    return response


def render_message(
    request: Request,
    title: str,
    message: str,
    status: int = 200,
    *,
    link: str = "/",
    link_text: str = "Back",
    retry_after: int | None = None,
) -> HTMLResponse:
    """A short page with one message and a way on (back to the app unless told)."""
    return render_page(
        request,
        "message.html",
        status,
        title=title,
        message=message,
        link=link,
        link_text=link_text,
        retry_after=retry_after,
    )
