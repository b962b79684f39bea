"""The REST API's shapes: its JSON bodies, and its errors in two dialects.

Owns what goes over the wire on ``/api/v1`` and ``/v1/images/generations``:
the request and response models (the OpenAPI document is made from them),
the API's own error body ``{"error": {"code", "message", ...}}``, the OpenAI
Images API's error body, and how one of our errors becomes either. The
routes are :mod:`.api`'s.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ..backends.base import MAX_GUIDANCE, MAX_IMAGES, MAX_PROMPT, MAX_SEED, MAX_STEPS
from ..errors import AICreativeError, InsufficientCredits, StoreError, Throttled
from ..scheduler import QueueFull

API_PREFIX = "/api/v1"
OPENAI_PATH = "/v1/images/generations"
#: A prompt may carry surrounding whitespace, which is stripped before the
#: 1,000-character rule; the raw text is capped so a body stays small.
RAW_TEXT = MAX_PROMPT * 2
#: Seconds a caller whose requests fill their place in line is asked to wait.
QUEUE_FULL_RETRY = 5


def is_api_path(path: str) -> bool:
    """Whether ``path`` is the API's (its own prefix or the OpenAI shape's)."""
    return path.startswith(API_PREFIX + "/") or is_openai_path(path)


def is_openai_path(path: str) -> bool:
    """Whether ``path`` answers in the OpenAI API's shape."""
    return path.startswith("/v1/")


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


def documented_errors(model: type[BaseModel], *codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route's OpenAPI entry: each status with its meaning."""
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


def error_for(
    path: str, status: int, message: str, exc: Exception | None = None, field: str | None = None
) -> JSONResponse:
    """An error in the shape of ``path``'s dialect (OpenAI's under ``/v1/``)."""
    shape = openai_error if is_openai_path(path) else api_error
    return shape(status, message, exc, field)


def from_exception(exc: AICreativeError, openai: bool) -> JSONResponse:
    """One of our errors as the API answers it (a failing store: 503, without its words)."""
    message = str(exc)
    if isinstance(exc, StoreError):
        message = "The server cannot reach its account store just now. Please try again later."
    field = getattr(exc, "field", None)
    shape = openai_error if openai else api_error
    return shape(_status_of(exc), message, exc, field)


async def invalid_body(request: Request, exc: Exception) -> Response:
    """A body that does not match the schema: the API's 422 on its paths, FastAPI's elsewhere."""
    path = request.url.path
    if isinstance(exc, RequestValidationError) and is_api_path(path):
        first = exc.errors()[0] if exc.errors() else {}
        where = [str(part) for part in first.get("loc", ()) if part != "body"]
        field = where[0] if where else None
        message = f"{'.'.join(where) or 'body'}: {first.get('msg', 'not valid')}"
        return error_for(path, 422, message, exc, field)
    from fastapi.exception_handlers import request_validation_exception_handler

    return await request_validation_exception_handler(request, exc)  # type: ignore[arg-type]
