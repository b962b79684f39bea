"""The REST API for scripts and notebooks: ``/api/v1`` and the OpenAI Images shape.

Owns the HTTP surface that personal API tokens open: ``POST /api/v1/images``
(generate; PNGs as base64 JSON with seeds, cost and balance), ``GET
/api/v1/balance``, the same generation at ``POST /v1/images/generations`` in
the OpenAI Images API's shape (so OpenAI clients work with a new base URL and
key), the OpenAPI document (``/api/v1/openapi.json``) and a docs page built
from it (``/api/v1/docs``, self-contained: no script or style from a CDN).

Rules, the same as the web UI's: a request is validated before anything is
charged, charged atomically, run through ``Studio.generate`` (so the
scheduler's fair queue) in a worker thread, refunded on any failure and when
the caller hung up before getting the images. Prompts are never logged and
images never stored. Authentication is ``Authorization: Bearer aic_...``
only: cookies are ignored, so a page on another site cannot spend a logged-in
user's credits (no CSRF surface), and no CORS header is ever sent. Bodies are
judged by their declared size before they are read.
"""

from __future__ import annotations

import base64
import html
import logging
import threading
import time
from typing import Annotated, Any, Literal

import anyio
import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..backends.base import (
    MAX_GUIDANCE,
    MAX_IMAGES,
    MAX_PROMPT,
    MAX_SEED,
    MAX_STEPS,
    GenerationRequest,
)
from ..errors import (
    AICreativeError,
    Cancelled,
    InsufficientCredits,
    StoreError,
    Throttled,
    ValidationError,
)
from ..scheduler import QueueFull
from ..studio import GenerationResult, PublicAccount, Studio

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
OPENAI_PATH = "/v1/images/generations"
#: The largest JSON body an API route reads (two 1,000-character prompts
#: and a few numbers fit many times over); larger ones get 413 unread.
MAX_BODY = 32 * 1024
#: How often a running generation checks whether its caller hung up.
DISCONNECT_POLL = 0.25
#: A prompt may carry surrounding whitespace, which is stripped before the
#: 1,000-character rule; the raw text is capped so a body stays small.
RAW_TEXT = MAX_PROMPT * 2

router = APIRouter()
bearer = HTTPBearer(
    auto_error=False,
    description="A personal API token (aic_...) from the Account tab.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


# -- the bodies ------------------------------------------------------------------


class ImagesRequest(BaseModel):
    """What to generate."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=RAW_TEXT, description="What to draw.")
    negative_prompt: str = Field("", max_length=RAW_TEXT, description="What to avoid.")
    size: str = Field(
        "512x512",
        pattern=r"^[0-9]{1,5}x[0-9]{1,5}$",
        max_length=11,
        description="WIDTHxHEIGHT, each a multiple of 64 from 256 to 1024.",
    )
    count: int = Field(1, ge=1, le=MAX_IMAGES, description="How many images.")
    steps: int = Field(1, ge=1, le=MAX_STEPS)
    guidance: float = Field(0.0, ge=0.0, le=MAX_GUIDANCE)
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Image i uses seed + i; none: random."
    )


class GeneratedImage(BaseModel):
    png_base64: str = Field(description="The PNG file, base64.")
    seed: int


class ImagesResponse(BaseModel):
    images: list[GeneratedImage]
    seeds: list[int]
    cost: int = Field(description="Credits this took.")
    balance: int = Field(description="Credits left.")
    backend: str
    width: int
    height: int


class BalanceResponse(BaseModel):
    balance: int = Field(description="Credits left.")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    retry_after: int | None = None
    needed: int | None = None
    balance: int | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class OpenAIImagesRequest(BaseModel):
    """The OpenAI Images API's body; fields this server has no use for are ignored."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field(min_length=1, max_length=RAW_TEXT)
    n: int | None = Field(1, ge=1, le=MAX_IMAGES)
    size: str | None = Field("512x512", max_length=11, description="WIDTHxHEIGHT or auto.")
    response_format: Literal["b64_json", "url"] | None = Field(
        "b64_json", description="Only b64_json: this server never stores an image to link to."
    )
    model: str | None = Field(None, max_length=200, description="Ignored: the server's model.")


class OpenAIImage(BaseModel):
    b64_json: str


class OpenAIImagesResponse(BaseModel):
    created: int
    data: list[OpenAIImage]


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorResponse(BaseModel):
    error: OpenAIErrorDetail


def _errors(model: type[BaseModel], *codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "The request is not valid (the message says why); nothing was charged.",
        401: "No token, or a token that is unknown, revoked or expired.",
        402: "Not enough credits; nothing was charged.",
        413: "The body is too large.",
        422: "The body does not match the schema.",
        429: "Too many requests with this token, or too many of yours waiting; see Retry-After.",
        503: "The image backend or the store failed; any charge was refunded.",
    }
    return {code: {"model": model, "description": meaning[code]} for code in codes}


# -- errors ----------------------------------------------------------------------

_CODES = {
    400: "invalid_request",
    401: "invalid_token",
    402: "not_enough_credits",
    403: "forbidden",
    404: "not_found",
    413: "body_too_large",
    422: "invalid_request",
    429: "throttled",
    503: "unavailable",
}


#: Seconds a caller whose requests fill their place in line is asked to wait.
QUEUE_FULL_RETRY = 5


def _status_of(exc: AICreativeError) -> int:
    # A store failure is the server's, not the caller's; say "try later".
    if isinstance(exc, StoreError):
        return 503
    # Too many of the user's requests already waiting: "too many requests".
    if isinstance(exc, QueueFull):
        return 429
    return int(exc.status_code)


def _retry_after(exc: Exception | None) -> int | None:
    if isinstance(exc, Throttled):
        return exc.retry_after
    if isinstance(exc, QueueFull):
        return QUEUE_FULL_RETRY
    return None


def _headers(status: int, exc: Exception | None) -> dict[str, str]:
    headers = {"cache-control": "no-store"}
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="aicreative"'
    retry = _retry_after(exc)
    if retry is not None:
        headers["retry-after"] = str(retry)
    return headers


def api_error(
    status: int, message: str, exc: Exception | None = None, field: str | None = None
) -> JSONResponse:
    """An error in this API's shape: ``{"error": {"code", "message", ...}}``."""
    detail: dict[str, Any] = {"code": _CODES.get(status, "error"), "message": message}
    if field:
        detail["field"] = field
    if _retry_after(exc) is not None:
        detail["retry_after"] = _retry_after(exc)
    if isinstance(exc, InsufficientCredits):
        detail["needed"], detail["balance"] = exc.needed, exc.balance
    return JSONResponse({"error": detail}, status_code=status, headers=_headers(status, exc))


def openai_error(
    status: int, message: str, exc: Exception | None = None, param: str | None = None
) -> JSONResponse:
    """An error in the OpenAI API's shape: ``{"error": {"message", "type", "param", "code"}}``."""
    kind, code = {
        401: ("invalid_request_error", "invalid_api_key"),
        402: ("insufficient_quota", "insufficient_quota"),
        413: ("invalid_request_error", "body_too_large"),
        429: ("rate_limit_exceeded", "rate_limit_exceeded"),
        503: ("server_error", "unavailable"),
    }.get(status, ("invalid_request_error", None))
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=_headers(status, exc))


def _from_exception(exc: AICreativeError, openai: bool) -> JSONResponse:
    status = _status_of(exc)
    message = str(exc)
    if isinstance(exc, StoreError):
        message = "The server cannot reach its account store just now. Please try again later."
    field = getattr(exc, "field", None)
    if openai:
        return openai_error(status, message, exc, field)
    return api_error(status, message, exc, field)


# -- authentication and the work ---------------------------------------------------


def _studio(request: Request) -> Studio:
    return request.app.state.studio  # type: ignore[no-any-return]


def _token_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    # Bearer only. A cookie is never read here: the API must not act for
    # whoever is logged in to the browser that a page drives.
    return credentials.credentials if credentials is not None else None


async def _authenticate(request: Request, token: str | None) -> PublicAccount:
    # In a thread: a lookup may re-read the store and a "last used" stamp writes it.
    return await anyio.to_thread.run_sync(_studio(request).user_from_api_token, token)


def _parse_size(size: str | None, *, allow_auto: bool = False) -> tuple[int, int]:
    text = (size or "512x512").strip().lower()
    if allow_auto and text == "auto":
        return 512, 512
    width, sep, height = text.partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or len(text) > 11:
        raise ValidationError("The size is WIDTHxHEIGHT, for example 512x512.", "size")
    return int(width), int(height)


async def _generate(
    request: Request, user: PublicAccount, gen: GenerationRequest
) -> GenerationResult:
    """Run ``Studio.generate`` in a worker thread; refund if the caller hangs up.

    The request waits for a worker without holding one (a capacity limiter,
    so a burst of API calls cannot take every thread the app has), then waits
    its turn in the Studio's scheduler like the web UI's requests. A caller
    that disconnects stops its generation at the next step (refunded by the
    Studio); one that is gone when the images are ready is refunded here.
    """
    studio = _studio(request)
    limiter: anyio.CapacityLimiter = request.app.state.api_limiter
    gone = threading.Event()
    # By id: a refund must reach this account even if it is renamed meanwhile.
    account_id = await anyio.to_thread.run_sync(studio.account_id, user.username)

    def on_progress(step: int, total: int) -> None:
        if gone.is_set():
            raise Cancelled("The caller disconnected; the credits were refunded.")

    async def watch() -> None:
        while not await request.is_disconnected():
            await anyio.sleep(DISCONNECT_POLL)
        gone.set()

    result: GenerationResult | None = None
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            result = await anyio.to_thread.run_sync(
                lambda: studio.generate(user.username, gen, on_progress=on_progress),
                limiter=limiter,
            )
        except Exception as exc:  # raised after the group, not wrapped in a group
            failure = exc
        finally:
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if result is None:  # the task group ended without an answer (cannot happen)
        raise Cancelled()
    if gone.is_set() or await request.is_disconnected():
        # Nobody to hand the images to: they are dropped and the credits go back.
        await anyio.to_thread.run_sync(studio.refund, account_id, result.cost)
        log.info("API caller of %s left before the images were sent; refunded", user.username)
        raise Cancelled("The caller disconnected; the credits were refunded.")
    return result


def _json(data: dict[str, Any]) -> Response:
    return Response(
        orjson.dumps(data), media_type="application/json", headers={"cache-control": "no-store"}
    )


# -- routes --------------------------------------------------------------------------


@router.post(
    f"{API_PREFIX}/images",
    response_model=ImagesResponse,
    responses=_errors(ErrorResponse, 400, 401, 402, 413, 422, 429, 503),
    summary="Generate images",
    tags=["images"],
)
async def create_images(
    body: ImagesRequest,
    request: Request,
    credentials: Credentials,
) -> Response:
    """Charge, generate and return the images as base64 PNGs, with seeds, cost and balance.

    Each image costs one credit per started 512x512 area. Nothing is stored
    on the server: keep the images you get.
    """
    try:
        user = await _authenticate(request, _token_of(request, credentials))
        width, height = _parse_size(body.size)
        gen = GenerationRequest(
            body.prompt,
            negative_prompt=body.negative_prompt,
            width=width,
            height=height,
            steps=body.steps,
            guidance=body.guidance,
            seed=body.seed,
            num_images=body.count,
        )
        result = await _generate(request, user, gen)
    except AICreativeError as exc:
        return _from_exception(exc, openai=False)

    def encode() -> Response:
        images = [
            {"png_base64": base64.b64encode(png).decode("ascii"), "seed": seed}
            for png, seed in zip(result.png, result.seeds, strict=True)
        ]
        return _json(
            {
                "images": images,
                "seeds": result.seeds,
                "cost": result.cost,
                "balance": result.balance,
                "backend": result.backend,
                "width": result.request.width,
                "height": result.request.height,
            }
        )

    return await anyio.to_thread.run_sync(encode)


@router.get(
    f"{API_PREFIX}/balance",
    response_model=BalanceResponse,
    responses=_errors(ErrorResponse, 401, 429, 503),
    summary="Read the balance",
    tags=["account"],
)
async def read_balance(request: Request, credentials: Credentials) -> Response:
    """The credits left on the token's account."""
    try:
        user = await _authenticate(request, _token_of(request, credentials))
        balance = await anyio.to_thread.run_sync(_studio(request).balance, user.username)
    except AICreativeError as exc:
        return _from_exception(exc, openai=False)
    return _json({"balance": balance})


@router.post(
    OPENAI_PATH,
    response_model=OpenAIImagesResponse,
    responses=_errors(OpenAIErrorResponse, 400, 401, 402, 413, 422, 429, 503),
    summary="Generate images (OpenAI Images API shape)",
    tags=["openai"],
)
async def openai_images(
    body: OpenAIImagesRequest,
    request: Request,
    credentials: Credentials,
) -> Response:
    """``images.generate`` of OpenAI's clients: base URL ``<server>/v1``, the token as the key."""
    try:
        user = await _authenticate(request, _token_of(request, credentials))
        if body.response_format == "url":
            raise ValidationError(
                "This server never stores images, so it has no URL to give: use "
                "response_format=b64_json.",
                "response_format",
            )
        width, height = _parse_size(body.size, allow_auto=True)
        gen = GenerationRequest(body.prompt, width=width, height=height, num_images=body.n or 1)
        result = await _generate(request, user, gen)
    except AICreativeError as exc:
        return _from_exception(exc, openai=True)

    def encode() -> Response:
        data = [{"b64_json": base64.b64encode(png).decode("ascii")} for png in result.png]
        return _json({"created": int(time.time()), "data": data})

    return await anyio.to_thread.run_sync(encode)


# -- the document and its page --------------------------------------------------------

DESCRIPTION = (
    "Generate images with your own account and credits from scripts and notebooks. "
    "Create a token on the Account tab (shown once) and send it as "
    "`Authorization: Bearer aic_...`. A token may generate and read the balance, "
    "nothing else; it dies when revoked, at its expiry, when you change your "
    "password, and with your account. Nothing you send is stored or logged: keep "
    "the images you get. The Python client: `aicreative.Client(url, token)`."
)


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of this API's routes only (built once per app)."""
    cached = getattr(app.state, "api_openapi", None)
    if cached is None:
        cached = get_openapi(
            title="AI Creative API",
            version="1",
            description=DESCRIPTION,
            routes=[route for route in router.routes if getattr(route, "include_in_schema", False)],
        )
        app.state.api_openapi = cached
    return cached  # type: ignore[no-any-return]


@router.get(f"{API_PREFIX}/openapi.json", include_in_schema=False)
async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document(request.app))


@router.get(f"{API_PREFIX}/docs", include_in_schema=False)
async def docs_page(request: Request) -> HTMLResponse:
    """A reference page rendered here from the document: no script, nothing from a CDN."""
    return HTMLResponse(render_docs(openapi_document(request.app)))


def _schema_rows(schema: dict[str, Any], components: dict[str, Any]) -> str:
    if "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    rows = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        if "$ref" in prop:
            kind = prop["$ref"].rsplit("/", 1)[-1]
        elif "anyOf" in prop:
            kind = " or ".join(
                str(p.get("type", p.get("$ref", "?").rsplit("/", 1)[-1])) for p in prop["anyOf"]
            )
        else:
            kind = str(prop.get("type", ""))
            if kind == "array" and "items" in prop:
                kind += " of " + str(
                    prop["items"].get("type", prop["items"].get("$ref", "").rsplit("/", 1)[-1])
                )
        limits = ", ".join(
            f"{key} {prop[key]}"
            for key in ("minimum", "maximum", "maxLength", "pattern", "enum")
            if key in prop
        )
        default = f"default {prop['default']!r}" if "default" in prop else ""
        notes = "; ".join(x for x in (limits, default, prop.get("description", "")) if x)
        rows.append(
            f"<tr><td><code>{html.escape(name)}</code>{' (required)' if name in required else ''}</td>"
            f"<td>{html.escape(kind)}</td><td>{html.escape(notes)}</td></tr>"
        )
    if not rows:
        return ""
    return "<table><tr><th>field</th><th>type</th><th>notes</th></tr>" + "".join(rows) + "</table>"


def render_docs(doc: dict[str, Any]) -> str:
    """The HTML reference page of an OpenAPI document."""
    components = doc.get("components", {}).get("schemas", {})
    parts = []
    for path, methods in doc.get("paths", {}).items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            answers = "".join(
                f"<li><b>{html.escape(code)}</b> {html.escape(answer.get('description', ''))}</li>"
                for code, answer in op.get("responses", {}).items()
            )
            ok = (
                op.get("responses", {})
                .get("200", {})
                .get("content", {})
                .get("application/json", {})
            )
            parts.append(
                f"<section><h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                f"<p><b>{html.escape(op.get('summary', ''))}</b>. {html.escape(op.get('description', ''))}</p>"
                + (f"<h3>Body</h3>{_schema_rows(body['schema'], components)}" if body else "")
                + (f"<h3>Answer</h3>{_schema_rows(ok['schema'], components)}" if ok else "")
                + f"<h3>Status codes</h3><ul>{answers}</ul></section>"
            )
    example = (
        "from aicreative import Client\n\n"
        'client = Client("https://your-server", "aic_...")\n'
        'result = client.generate("a lighthouse at dawn", count=2, seed=7)\n'
        "result.images[0].save('lighthouse.png'); print(result.seeds, result.balance)"
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>AI Creative API</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
        "line-height:1.5;color:#1e293b}code,pre{font-family:ui-monospace,monospace}"
        "pre{background:#f1f5f9;padding:1rem;overflow:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #cbd5e1;padding:.25rem .5rem;text-align:left;vertical-align:top}"
        "section{border-top:1px solid #cbd5e1;margin-top:1.5rem}</style></head><body>"
        f"<h1>{html.escape(doc.get('info', {}).get('title', 'API'))}</h1>"
        f"<p>{html.escape(doc.get('info', {}).get('description', ''))}</p>"
        f"<pre>{html.escape(example)}</pre>"
        '<p>The machine-readable document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>'
        + "".join(parts)
        + "</body></html>"
    )


# -- putting it into the app ------------------------------------------------------------


class BodyLimit:
    """Refuses a body over ``limit`` bytes on the API's paths, by its declared
    size before reading it, and stops reading one that grows past it."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path.startswith(API_PREFIX + "/") or path.startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        openai = path.startswith("/v1/")
        too_large = (openai_error if openai else api_error)(
            413, f"The body is larger than {self.limit} bytes."
        )
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await too_large(scope, receive, send)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # Answer now and tell the app the client left: it stops reading.
                    refused = True
                    await too_large(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not refused:  # after the 413, whatever the app says is dropped
                await send(message)

        await self.app(scope, counted, guarded)


def add_api(app: FastAPI, studio: Studio) -> None:
    """Mount the API on ``app``: routes, its error shapes, the body limit, a worker limit."""
    app.state.api_limiter = anyio.CapacityLimiter(studio.settings.api_concurrency)
    app.include_router(router)
    app.add_middleware(BodyLimit)
    default_handler = app.exception_handlers.get(RequestValidationError)

    async def invalid_body(request: Request, exc: Exception) -> Response:
        path = request.url.path
        if isinstance(exc, RequestValidationError) and (
            path.startswith(API_PREFIX + "/") or path.startswith("/v1/")
        ):
            first = exc.errors()[0] if exc.errors() else {}
            where = [str(part) for part in first.get("loc", ()) if part != "body"]
            field = where[0] if where else None
            message = f"{'.'.join(where) or 'body'}: {first.get('msg', 'not valid')}"
            if path.startswith("/v1/"):
                return openai_error(422, message, exc, field)
            return api_error(422, message, exc, field)
        if default_handler is not None:
            return await default_handler(request, exc)  # type: ignore[no-any-return,misc]
        from fastapi.exception_handlers import request_validation_exception_handler

        return await request_validation_exception_handler(request, exc)  # type: ignore[arg-type]

    app.add_exception_handler(RequestValidationError, invalid_body)
