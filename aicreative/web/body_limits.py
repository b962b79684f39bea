"""Request bodies judged before anything reads them: size, no uploads.

Owns the body limits of the whole app (small for the server-rendered
forms, 1 MB elsewhere), the refusal of every ``multipart/*`` body (this app
takes no file) and of Gradio's upload routes. The API's own, smaller limit
and its JSON answer are :mod:`.api`'s.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from .security import HTTPMiddleware, answer_unless_started

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


class BodyLimit(HTTPMiddleware):
    """Judges a request body before it is read.

    Pure ASGI, in front of every route: a declared ``Content-Length`` over
    the path's limit is refused (413) at once; a chunked body is counted as
    it streams and refused when it passes the limit, so no more than the
    limit is ever read. ``multipart/*`` bodies are refused everywhere (415):
    no route of this app takes a file, and Starlette's parser would spool a
    file part to the temp folder before any route could refuse it. Gradio's
    upload routes answer 404.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
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

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        # Raised where no exception handler answered it (a middleware reading).
        await answer_unless_started(
            self.app,
            scope,
            counted,
            send,
            BodyTooLarge,
            lambda exc: PlainTextResponse("Request body too large.", 413),
        )
