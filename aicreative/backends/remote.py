"""The remote backend: images from Hugging Face inference over HTTPS.

It owns one thing: turning a :class:`GenerationRequest` into calls of
``huggingface_hub.InferenceClient.text_to_image`` (one call per image, each
with its own seed) and turning every way those calls fail into a
:class:`~aicreative.errors.BackendError` whose message a person can read.

Where the requests go:

* ``endpoint_url`` set (a dedicated Inference Endpoint, or any server that
  speaks the same protocol): the client POSTs to exactly that URL, with no
  suffix, ``{"inputs": prompt, "parameters": {...}}`` as JSON, and reads the
  raw image bytes back. ``hf_token`` is sent as a Bearer token when set.
* else ``model_id`` with ``hf_token``: Hugging Face's own serverless
  inference (provider ``hf-inference``) for that model. The provider is
  pinned rather than left to the Hub's "auto" routing, which can forward the
  prompt to whichever third-party provider the token's owner prefers; a
  privacy-first app should say where prompts go, and this says: Hugging Face.

``create`` refuses (BackendUnavailable) a configuration with neither, so the
backend is never half-configured. The auto order does not include it: the
operator chooses it with ``AICREATIVE_BACKEND=remote``.

Privacy: the prompt leaves this server (that is the point of the backend,
and the operator's choice) but never reaches its logs. Error messages and
log lines carry status codes and request ids only, and the original
exceptions are not chained onto BackendError, because a server's error text
can echo the request (the prompt) and tracebacks end up in logs.

Without ``hf_token``, huggingface_hub falls back to the machine's own login
(``HF_TOKEN`` or ``hf auth login``) for every URL, the endpoint included.
``HF_DEBUG=1`` makes huggingface_hub log request bodies (prompts): never set
it in production. ``HF_HUB_OFFLINE=1`` blocks every call, localhost too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from huggingface_hub import InferenceClient
from huggingface_hub.errors import (
    HfHubHTTPError,
    InferenceTimeoutError,
    OfflineModeIsEnabled,
)
from PIL import Image

try:  # huggingface_hub 2.x talks through httpx2, 1.x through httpx: same names
    import httpx2 as _http
except ImportError:  # pragma: no cover - huggingface_hub 1.x
    import httpx as _http  # type: ignore[no-redef]

from ..errors import BackendError
from ..hosts import is_loopback
from . import BackendUnavailable
from .base import GenerationRequest, ProgressCallback

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

#: Hugging Face's own serverless inference (see the module docstring for why).
PROVIDER: Final = "hf-inference"

RATE_LIMITED = "The image service is busy (rate limit). Please try again in a minute."
LOADING = "The model is loading on the image service; try again shortly."
TOKEN_REFUSED = "The image service refused the access token; the operator must check it."  # noqa: S105
TIMED_OUT = "The image service did not answer in time."
UNREACHABLE = "The image service cannot be reached. Please try again later."
OFFLINE = (
    "The image service cannot be reached: this server runs in offline mode "
    "(HF_HUB_OFFLINE); the operator must unset it to use the remote backend."
)
NOT_FOUND = (
    "The image service does not know this model or address (HTTP 404); "
    "the operator must check the setting."
)
BAD_IMAGE = "The image service sent something that is not a valid image."
NOT_SERVED = (
    "The image service does not offer this model for text-to-image; the operator must check it."
)


def _failed(status: int) -> str:
    return f"The image service failed (HTTP {status}). Please try again later."


class RemoteBackend:
    """Text-to-image through ``huggingface_hub.InferenceClient``.

    ``target`` is an endpoint URL or a hub model id; ``client`` may be given
    to share one or to test (it must offer ``text_to_image``).
    """

    #: Each request waits on the network, not on this machine: the scheduler
    #: may keep this many in flight at once.
    parallel = 4

    name = "remote"

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        timeout: float | None = 120.0,
        client: Any | None = None,
    ) -> None:
        if not target:
            raise ValueError("RemoteBackend needs an endpoint URL or a model id.")
        self.target = target
        self.dedicated = _is_url(target)
        if self.dedicated:
            # Show where, not the whole URL: paths can carry names an operator
            # would rather not put on a public page.
            self.label = f"Dedicated inference endpoint ({urlsplit(target).hostname})"
        else:
            self.label = f"{target} via Hugging Face inference"
        if client is None:
            # A URL as ``model`` is used as is (no suffix, provider forced to
            # hf-inference); ``base_url`` is only an alias that conflicts with it.
            client = InferenceClient(
                model=target,
                provider=PROVIDER,
                token=token or None,
                timeout=timeout,
            )
        self.client = client

    def __repr__(self) -> str:  # no token here: it lives in the client only
        return f"RemoteBackend({self.label!r})"

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Image.Image]:
        """One call per image (its own seed); progress after each image."""
        seeds = request.image_seeds()
        images: list[Image.Image] = []
        for index, seed in enumerate(seeds):
            images.append(self._one(request, seed))
            if on_progress is not None:
                on_progress(index + 1, len(seeds))
        return images

    def _one(self, request: GenerationRequest, seed: int) -> Image.Image:
        try:
            image = self.client.text_to_image(
                request.prompt,
                negative_prompt=request.negative_prompt or None,
                height=request.height,
                width=request.width,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance,
                seed=seed,
            )
        except Exception as exc:
            # ``from None``: see the module docstring (error text may echo the prompt).
            raise BackendError(self._explain(exc)) from None
        return _checked_image(image)

    def _explain(self, exc: Exception) -> str:
        """A message for people, and a log line for the operator; neither has the prompt."""
        # Order matters: InferenceTimeoutError and HfHubHTTPError are both
        # HTTP-library errors and OSError, and so is PIL's UnidentifiedImageError.
        if isinstance(exc, InferenceTimeoutError):
            log.warning("remote backend: no answer within the timeout")
            return TIMED_OUT
        if isinstance(exc, HfHubHTTPError):
            status = exc.response.status_code
            log.warning(
                "remote backend: HTTP %s from the image service (request id %s)",
                status,
                exc.request_id or "-",
            )
            return _message_for_status(status)
        if isinstance(exc, Image.UnidentifiedImageError | Image.DecompressionBombError):
            log.warning("remote backend: the reply is not a usable image (%s)", type(exc).__name__)
            return BAD_IMAGE
        if isinstance(exc, OfflineModeIsEnabled):
            log.warning("remote backend: HF_HUB_OFFLINE is set; no request was made")
            return OFFLINE
        if isinstance(exc, _http.TimeoutException):
            log.warning("remote backend: no answer within the timeout")
            return TIMED_OUT
        if isinstance(exc, _http.HTTPError | ConnectionError):
            log.warning("remote backend: cannot reach the image service (%s)", type(exc).__name__)
            return UNREACHABLE
        if isinstance(exc, ValueError):
            # huggingface_hub's provider helpers refuse a model that the
            # provider does not serve for this task, or a missing token.
            log.warning("remote backend: the request was refused locally (%s)", type(exc).__name__)
            return NOT_SERVED
        log.warning("remote backend: unexpected failure (%s)", type(exc).__name__)
        return f"The image service failed ({type(exc).__name__}). Please try again later."

    def close(self) -> None:
        """Release the client's resources (the HTTP session is shared and stays)."""
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


def _message_for_status(status: int) -> str:
    if status == 429:
        return RATE_LIMITED
    if status == 503:
        # Hugging Face answers 503 {"error": "Model ... is currently loading",
        # "estimated_time": ...} while a cold model starts.
        return LOADING
    if status in (401, 403):
        return TOKEN_REFUSED
    if status == 404:
        return NOT_FOUND
    if status in (408, 504):
        return TIMED_OUT
    return _failed(status)


def _checked_image(image: object) -> Image.Image:
    """Decode fully now (PIL opens lazily) so that a truncated reply fails here."""
    if not isinstance(image, Image.Image):
        raise BackendError(BAD_IMAGE)
    try:
        image.load()
        if image.mode != "RGB":
            image = image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        log.warning("remote backend: the reply is not a usable image (%s)", type(exc).__name__)
        raise BackendError(BAD_IMAGE) from None
    return image


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def create(settings: Settings) -> RemoteBackend:
    """Registry factory; BackendUnavailable unless the settings say where to go.

    Accepted: ``endpoint_url`` (token optional: a self-hosted endpoint may have
    none), or ``model_id`` plus ``hf_token`` (Hugging Face's serverless
    inference needs one). Nothing is contacted here, so a wrong token or URL
    shows up on the first generation, as a BackendError that says so.
    """
    endpoint = settings.endpoint_url.strip()
    token = settings.hf_token.get_secret_value().strip() or None
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendUnavailable(
                f"remote: AICREATIVE_ENDPOINT_URL must be an http(s) URL (got {endpoint!r})"
            )
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            # Allowed (a private network may be trusted), but said out loud:
            # prompts and the token would travel unencrypted.
            log.warning(
                "remote backend: the endpoint %s is plain HTTP; prompts and the token "
                "travel unencrypted",
                parts.hostname,
            )
        return RemoteBackend(endpoint, token=token, timeout=settings.remote_timeout)
    model = settings.model_id.strip()
    if not model or not token:
        raise BackendUnavailable(
            "remote: set AICREATIVE_ENDPOINT_URL, or AICREATIVE_HF_TOKEN (or HF_TOKEN) "
            "with AICREATIVE_MODEL_ID"
        )
    if Path(model).expanduser().exists() or model.startswith(("/", ".", "~")):
        raise BackendUnavailable(
            f"remote: AICREATIVE_MODEL_ID is a local folder ({model}); the remote backend "
            "needs a Hugging Face model id or AICREATIVE_ENDPOINT_URL"
        )
    return RemoteBackend(model, token=token, timeout=settings.remote_timeout)
