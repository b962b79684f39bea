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
import logging
import threading
import time
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..backends.base import GenerationRequest
from ..errors import Cancelled, ValidationError
from ..studio import GenerationResult, PublicAccount, Studio
from .api_docs import openapi_document, render_docs
from .api_shapes import (
    API_PREFIX,
    OPENAI_PATH,
    BalanceResponse,
    ErrorResponse,
    ImagesRequest,
    ImagesResponse,
    OpenAIErrorResponse,
    OpenAIImagesRequest,
    OpenAIImagesResponse,
    documented_errors,
    error_for,
    invalid_body,
    is_api_path,
)
from .deps import StudioDep

log = logging.getLogger(__name__)

#: The largest JSON body an API route reads (two 1,000-character prompts
#: and a few numbers fit many times over); larger ones get 413 unread.
MAX_BODY = 32 * 1024
#: How often a running generation checks whether its caller hung up.
DISCONNECT_POLL = 0.25

router = APIRouter()
bearer = HTTPBearer(
    auto_error=False,
    description="A personal API token (aic_...) from the Account tab.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


# -- authentication and the work ---------------------------------------------------


async def _authenticate(
    studio: Studio, credentials: HTTPAuthorizationCredentials | None
) -> PublicAccount:
    """The token's account. Bearer only: a cookie is never read here, so the
    API cannot act for whoever is logged in to the browser that a page drives."""
    token = credentials.credentials if credentials is not None else None
    # In a thread: a lookup may re-read the store and a "last used" stamp writes it.
    return await anyio.to_thread.run_sync(studio.user_from_api_token, token)


def _parse_size(size: str | None, *, allow_auto: bool = False) -> tuple[int, int]:
    text = (size or "512x512").strip().lower()
    if allow_auto and text == "auto":
        return 512, 512
    width, sep, height = text.partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or len(text) > 11:
        raise ValidationError("The size is WIDTHxHEIGHT, for example 512x512.", "size")
    return int(width), int(height)


async def _generate(
    request: Request, studio: Studio, user: PublicAccount, gen: GenerationRequest
) -> GenerationResult:
    """Run ``Studio.generate`` in a worker thread; refund if the caller hangs up.

    The request waits for a worker without holding one (a capacity limiter,
    so a burst of API calls cannot take every thread the app has), then waits
    its turn in the Studio's scheduler like the web UI's requests. A caller
    that disconnects stops its generation at the next step (refunded by the
    Studio); one that is gone when the images are ready is refunded here.
    """
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


async def _json_answer(make: Any) -> Response:
    """``make()``'s dict as an uncached JSON answer, encoded off the event loop
    (base64 of a few PNGs takes a while)."""

    def encode() -> Response:
        return Response(
            orjson.dumps(make()),
            media_type="application/json",
            headers={"cache-control": "no-store"},
        )

    return await anyio.to_thread.run_sync(encode)


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


# -- routes: our errors rise to the app's handler (.refusals), which answers in
# the API's shape (OpenAI's under /v1/) ------------------------------------------------


#: What a generation may answer besides 200.
GENERATION_ERRORS = (400, 401, 402, 413, 422, 429, 503)


def _generation_route(
    path: str, answer: type[Any], error: type[Any], summary: str, tag: str
) -> Any:
    """The decorator of a route that generates: its path, shapes and documented errors."""
    return router.post(
        path,
        response_model=answer,
        responses=documented_errors(error, *GENERATION_ERRORS),
        summary=summary,
        tags=[tag],
    )


@_generation_route(
    f"{API_PREFIX}/images", ImagesResponse, ErrorResponse, "Generate images", "images"
)
async def create_images(
    body: ImagesRequest, request: Request, studio: StudioDep, credentials: Credentials
) -> Response:
    """Charge, generate and return the images as base64 PNGs, with seeds, cost and balance.

    Each image costs one credit per started 512x512 area. Nothing is stored
    on the server: keep the images you get.
    """
    user = await _authenticate(studio, credentials)
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
    result = await _generate(request, studio, user, gen)
    return await _json_answer(
        lambda: {
            "images": [
                {"png_base64": _b64(png), "seed": seed}
                for png, seed in zip(result.png, result.seeds, strict=True)
            ],
            "seeds": result.seeds,
            "cost": result.cost,
            "balance": result.balance,
            "backend": result.backend,
            "width": result.request.width,
            "height": result.request.height,
        }
    )


@router.get(
    f"{API_PREFIX}/balance",
    response_model=BalanceResponse,
    responses=documented_errors(ErrorResponse, 401, 429, 503),
    summary="Read the balance",
    tags=["account"],
)
async def read_balance(studio: StudioDep, credentials: Credentials) -> Response:
    """The credits left on the token's account."""
    user = await _authenticate(studio, credentials)
    balance = await anyio.to_thread.run_sync(studio.balance, user.username)
    return Response(
        orjson.dumps({"balance": balance}),
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


@_generation_route(
    OPENAI_PATH,
    OpenAIImagesResponse,
    OpenAIErrorResponse,
    "Generate images (OpenAI Images API shape)",
    "openai",
)
async def openai_images(
    body: OpenAIImagesRequest, request: Request, studio: StudioDep, credentials: Credentials
) -> Response:
    """``images.generate`` of OpenAI's clients: base URL ``<server>/v1``, the token as the key."""
    user = await _authenticate(studio, credentials)
    if body.response_format == "url":
        raise ValidationError(
            "This server never stores images, so it has no URL to give: use "
            "response_format=b64_json.",
            "response_format",
        )
    width, height = _parse_size(body.size, allow_auto=True)
    gen = GenerationRequest(body.prompt, width=width, height=height, num_images=body.n or 1)
    result = await _generate(request, studio, user, gen)
    return await _json_answer(
        lambda: {
            "created": int(time.time()),
            "data": [{"b64_json": _b64(png)} for png in result.png],
        }
    )


# -- the document and its page --------------------------------------------------------


@router.get(f"{API_PREFIX}/openapi.json", include_in_schema=False)
async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document(request.app, router.routes))


@router.get(f"{API_PREFIX}/docs", include_in_schema=False)
async def docs_page(request: Request) -> HTMLResponse:
    """A reference page rendered here from the document: no script, nothing from a CDN."""
    return HTMLResponse(render_docs(openapi_document(request.app, router.routes)))


# -- putting it into the app ------------------------------------------------------------


class BodyLimit:
    """Refuses a body over ``limit`` bytes on the API's paths, by its declared
    size before reading it, and stops reading one that grows past it."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not is_api_path(path):
            await self.app(scope, receive, send)
            return
        too_large = error_for(path, 413, f"The body is larger than {self.limit} bytes.")
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
    """Mount the API on ``app``: routes, its 422 shape, the body limit, a worker limit.

    Its other errors are answered by the app's one handler (:mod:`.refusals`).
    """
    app.state.api_limiter = anyio.CapacityLimiter(studio.settings.api_concurrency)
    app.include_router(router)
    app.add_middleware(BodyLimit)
    app.add_exception_handler(RequestValidationError, invalid_body)
