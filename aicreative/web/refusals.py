"""The one exception handler: our errors (:mod:`aicreative.errors`) as answers.

Owns what a route's :class:`~aicreative.errors.AICreativeError` becomes when
the route lets it rise: on the API's paths the API's JSON error (its own
shape, or OpenAI's under ``/v1/``); a missing session, the log-in page; any
other refusal, a page saying nothing changed, with the error's message (a
server-side status is answered 400, as the form's fault is what the
visitor can act on). A failing store is raised on, to
:class:`~.security.StoreUnavailable` (503, logged), except on the API,
which answers it in its own shape.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from ..errors import AICreativeError, StoreError
from .api_shapes import from_exception, is_api_path, is_openai_path
from .deps import LoginRequired
from .rendering import render_message


async def refusal(request: Request, exc: Exception) -> Response:
    """The answer to an error a route raised (see the module docstring)."""
    if not isinstance(exc, AICreativeError):  # registered for AICreativeError only
        raise exc
    path = request.url.path
    if is_api_path(path):
        return from_exception(exc, openai=is_openai_path(path))
    if isinstance(exc, StoreError):
        raise exc
    if isinstance(exc, LoginRequired):
        return RedirectResponse("/login", status_code=303)
    return render_message(
        request,
        "Nothing changed",
        str(exc),
        exc.status_code if exc.status_code < 500 else 400,
        retry_after=getattr(exc, "retry_after", None),
    )


def add_refusals(app: FastAPI) -> None:
    """Register :func:`refusal` for every error of ours."""
    app.add_exception_handler(AICreativeError, refusal)
