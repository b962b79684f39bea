"""Generation and its bill: charge, run in line, refund on any failure.

Owns what one generation gives back (:class:`GenerationResult`, with the
payload the browser's gallery stores) and the order of a paid run: a place
in the scheduler's line first, then the charge, then the images as PNG
bytes in memory, with the credits given back whatever goes wrong after the
charge. :meth:`aicreative.studio.Studio.generate` delegates here.

Nothing here writes a prompt or an image anywhere, logs included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import images as imaging
from . import pricing
from .backends.base import GenerationRequest, ProgressCallback
from .errors import AICreativeError, BackendError, ValidationError
from .results import PaidImages
from .scheduler import WaitCallback

if TYPE_CHECKING:
    from .studio import Studio

# Logged as the Studio, as before these modules were split from it (log filters stay).
log = logging.getLogger("aicreative.studio")

#: The request's settings that travel with the images to the browser's gallery.
GALLERY_SETTINGS = ("width", "height", "steps", "guidance", "num_images")


@dataclasses.dataclass
class GenerationResult(PaidImages):
    """What one generation gives back: images, PNG bytes and the bill."""

    request: GenerationRequest
    seconds: float

    def title_html(self) -> str:
        """The line above the images in a notebook: the prompt (escaped), then the bill."""
        return f"{html.escape(self.request.prompt)} &middot; {super().title_html()}"

    def payload(self, user: str) -> dict[str, Any]:
        """The result as the browser's gallery stores it (never the server's disk).

        A new batch id, the creation time to the millisecond (two
        generations in one second keep their order in the gallery), the
        prompts, the settings with the backend, the images as data URLs and
        the balance.
        """
        settings = self.request.settings()
        return {
            "kind": "generation",
            "user": user,
            "batch": uuid.uuid4().hex,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "prompt": settings["prompt"],
            "negative_prompt": settings["negative_prompt"],
            "settings": {
                **{name: settings[name] for name in GALLERY_SETTINGS},
                "backend": self.backend,
            },
            "images": [
                {"seed": seed, "data_url": url}
                for seed, url in zip(self.seeds, self.data_urls(), strict=True)
            ],
            "balance": self.balance,
        }


def png_text(request: GenerationRequest) -> dict[str, str]:
    """The PNG text chunks of a request that asked for its metadata in the file."""
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "settings": (
            f"{request.width}x{request.height}, steps {request.steps}, "
            f"guidance {request.guidance:g}, seed {request.seed}"
        ),
        "Software": "AI Creative",
    }


def generate(
    studio: Studio,
    username: str,
    request: GenerationRequest,
    on_progress: ProgressCallback | None,
    on_wait: WaitCallback | None,
) -> GenerationResult:
    """Charge, generate, and return the images; refund on any failure."""
    if not isinstance(request, GenerationRequest):
        raise ValidationError("A generation needs a GenerationRequest.")
    request = request.with_seed()
    cost = pricing.cost(request)
    # In line by identity, not by name: a rename does not jump the queue.
    ticket = studio.scheduler.reserve(studio.store.require(username).account_id, request)
    try:
        studio.store.charge(username, cost)
    except BaseException:
        studio.scheduler.withdraw(ticket)
        raise
    started = time.perf_counter()
    try:
        pictures = studio.scheduler.run(ticket, on_progress, on_wait)
        if len(pictures) != request.num_images:
            raise BackendError(
                f"The image backend returned {len(pictures)} images instead of "
                f"{request.num_images}."
            )
        text = png_text(request) if request.embed_metadata else None
        pngs = [imaging.encode_png(picture, text) for picture in pictures]
    except BaseException as exc:
        error = _refund(studio, username, cost, exc)
        if error is exc:
            raise
        raise error from exc
    seconds = time.perf_counter() - started
    balance = studio.balance(username)
    log.info(
        "generated %d image(s) %dx%d for %s in %.2fs",
        request.num_images,
        request.width,
        request.height,
        username,
        seconds,
    )
    return GenerationResult(
        images=pictures,
        png=pngs,
        seeds=request.image_seeds(),
        cost=cost,
        balance=balance,
        backend=studio.backend.name,
        request=request,
        seconds=seconds,
    )


def _refund(studio: Studio, username: str, cost: int, exc: BaseException) -> BaseException:
    """Give the credits back; the error to raise then (it says so, never the prompt)."""
    balance = studio.store.refund(username, cost)
    if isinstance(exc, BackendError):
        return BackendError(f"{exc} Your {cost} credit(s) were refunded; balance {balance}.")
    if isinstance(exc, AICreativeError) or not isinstance(exc, Exception):
        return exc  # Cancelled, a validation error, KeyboardInterrupt...
    # The message names the kind of failure, never the prompt.
    log.error("backend %s failed: %s", studio.backend.name, type(exc).__name__)
    return BackendError(
        f"The image backend failed ({type(exc).__name__}). Your {cost} credit(s) "
        f"were refunded; balance {balance}."
    )
