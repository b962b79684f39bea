"""What the model backends share: one place for each of their common rules.

Owns, for the diffusers and OpenVINO backends (and the registry's GPU probe):

* where hub downloads go (:func:`cache_dir`) and when the tiny autoencoder
  decodes (:func:`wants_tiny_autoencoder`);
* an installed package's version, for cache keys (:func:`package_version`);
* the torch device to run on (:func:`pick_device`) and whether there is a
  GPU at all (:func:`gpu_device`), asked of torch only where it is installed;
* what a person is told when generation fails (:func:`user_message`, with
  the one out-of-memory message), and the failure path of a request:
  run under the backend's lock, seeded, a cancellation passed through, any
  other error logged with the prompt redacted and turned into a
  :class:`~aicreative.errors.BackendError` (:func:`run_guarded`,
  :class:`GuardedBackend`).

Importing this module imports no model library: torch is imported inside
:func:`pick_device` only, so the registry can probe for a GPU without loading
a backend module. Only the ``aicreative.backends`` package imports torch,
diffusers or OpenVINO (``tests/unit/test_layers.py`` checks it).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import AICreativeError, BackendError
from .base import GenerationRequest, ProgressCallback

if TYPE_CHECKING:
    from PIL import Image

    from ..config import Settings

log = logging.getLogger(__name__)

#: Environment variables with which an operator already chose a model cache.
HF_CACHE_VARS = ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")

OUT_OF_MEMORY = (
    "The image model ran out of memory. Try a smaller size or fewer images; "
    "your credits were refunded."
)
FAILED = "The image model failed; your credits were refunded. Please try again."


def package_version(name: str) -> str:
    """``name``'s installed version, or ``missing``: part of cache keys, so
    that a library upgrade converts or measures again."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def cache_dir(settings: Settings) -> str | None:
    """Where hub downloads go: the data dir's model cache, unless the
    operator chose a Hugging Face cache through its own variables."""
    if any(os.environ.get(name) for name in HF_CACHE_VARS):
        return None
    return str(settings.model_cache_dir)


def wants_tiny_autoencoder(setting: str, device: str) -> bool:
    """Whether to decode with TAESD: ``on``, or ``auto`` on a CPU.

    The full VAE decode is ~3/4 of sd-turbo's time on a CPU; on a GPU it is
    cheap and TAESD's slightly softer output is not worth it.
    """
    return setting == "on" or (setting == "auto" and device == "cpu")


def pick_device(preference: str) -> str:
    """The torch device to use: ``auto`` means CUDA, then Apple MPS, then CPU.

    An explicit value ("cuda", "cuda:1", "mps", "cpu") is returned as given;
    torch reports a device that does not exist when the model moves there.
    """
    if preference and preference != "auto":
        return preference
    if os.environ.get("SPACES_ZERO_GPU"):  # pragma: no cover - only on a ZeroGPU Space
        # As in the diffusers backend: `spaces` patches torch before anything
        # touches CUDA, so it is imported first.
        import spaces  # noqa: F401
    import torch  # here, not at the top: the registry's probe must stay light

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def gpu_device(preference: str) -> str | None:
    """The torch GPU device diffusers would use ("cuda", "mps"), or None.

    ``preference`` (``settings.device``) counts: "cpu" means no GPU even
    where one exists. torch is asked only if it is installed.
    """
    if preference == "cpu" or importlib.util.find_spec("torch") is None:
        return None
    try:
        device = pick_device(preference)
    except (ImportError, OSError):  # torch present but broken: no GPU for us
        return None
    return None if device == "cpu" else device


def user_message(exc: BaseException) -> str:
    """A message fit to show a person; it never includes the prompt.

    Out of memory is recognised by type (``MemoryError``, torch's
    ``OutOfMemoryError``, named so that torch need not be imported) or by
    text (CUDA's "out of memory", OpenVINO's C++ ``bad_alloc``).
    """
    text = str(exc).lower()
    if (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"
        or "bad_alloc" in text
        or "out of memory" in text
    ):
        return OUT_OF_MEMORY
    if type(exc).__module__.split(".")[0] in ("spaces", "gradio"):
        # ZeroGPU quota and queue errors are written for end users already.
        return f"The GPU is not available right now: {exc}"
    return FAILED


#: A backend's work on one request: ``(request, on_progress, progress_errors)``.
RunRequest = Callable[
    [GenerationRequest, ProgressCallback | None, list[BaseException]], "list[Image.Image]"
]


def run_guarded(
    backend: str,
    lock: threading.Lock,
    run: RunRequest,
    request: GenerationRequest,
    on_progress: ProgressCallback | None,
) -> list[Image.Image]:
    """Run one request under ``lock``, seeded; the failure path of every model backend.

    ``run`` appends to ``progress_errors`` what ``on_progress`` raised, and
    that (a cancellation) passes through unchanged; any other failure is
    logged with the prompt redacted and becomes a :class:`BackendError`
    carrying :func:`user_message`.
    """
    request = request.with_seed()
    progress_errors: list[BaseException] = []
    with lock:
        try:
            return run(request, on_progress, progress_errors)
        except Exception as exc:
            if passes_through(exc, progress_errors):
                raise
            raise failure(backend, exc, request, user_message(exc)) from exc


def passes_through(exc: Exception, progress_errors: list[BaseException]) -> bool:
    """Whether ``exc`` goes up unchanged: what ``on_progress`` raised (a
    cancellation), or an error of ours already."""
    if progress_errors and exc is progress_errors[0]:
        return True
    # Ours already (a Cancelled that came back from a ZeroGPU worker is a
    # copy, so the identity test above misses it).
    return isinstance(exc, AICreativeError)


def failure(
    backend: str,
    exc: BaseException,
    request: GenerationRequest | list[GenerationRequest],
    message: str,
) -> BackendError:
    """Log a backend's failure (prompt redacted) and give the error for the user."""
    log.error(
        "%s generation failed: %s: %s\n%s",
        backend,
        type(exc).__name__,
        _redact(str(exc), request),
        "".join(traceback.format_tb(exc.__traceback__)),
    )
    return BackendError(message)


def _redact(text: str, request: GenerationRequest | list[GenerationRequest]) -> str:
    # Library messages rarely quote their input, but a log line must never
    # carry the prompt, so blank it out if it is there (every prompt of a batch).
    for one in request if isinstance(request, list) else [request]:
        for secret in (one.prompt, one.negative_prompt):
            if secret:
                text = text.replace(secret, "<prompt>")
    return text


def report_progress(
    on_progress: ProgressCallback | None,
    done: int,
    total: int,
    progress_errors: list[BaseException],
) -> None:
    """Call ``on_progress(done, total)``; what it raises is remembered in
    ``progress_errors`` so that :func:`run_guarded` lets it through unwrapped."""
    if on_progress is None:
        return
    try:
        on_progress(done, total)
    except BaseException as exc:
        progress_errors.append(exc)
        raise


class GuardedBackend:
    """``generate`` for a model backend: one request at a time, through :func:`run_guarded`.

    A subclass sets ``name``, ``_lock`` and ``_run`` (a :data:`RunRequest`).
    """

    name: str
    _lock: threading.Lock
    _run: RunRequest

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Image.Image]:
        """Make ``request.num_images`` images; image ``i`` uses ``image_seeds()[i]``.

        Exceptions raised by ``on_progress`` (a cancellation) pass through
        unchanged; any other failure becomes a :class:`BackendError`.
        """
        return run_guarded(self.name, self._lock, self._run, request, on_progress)
