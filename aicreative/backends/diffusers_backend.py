"""The diffusers backend: real text-to-image models (sd-turbo by default) through torch.

This module runs the diffusers pipeline. It is the one module that imports
torch and diffusers when it loads; the OpenVINO modules import them lazily
(to export, and to draw the same noise), :mod:`.common` asks torch for a GPU
lazily, and nothing outside ``aicreative.backends`` imports them. It loads
the pipeline once, at construction, and reuses it for every request under a
lock, because a diffusers pipeline is not thread-safe. On a CPU it decodes with the tiny autoencoder (TAESD) by default,
which cuts sd-turbo's 512x512 time from ~32 s to ~9 s on a 2-core machine.

Privacy: the prompt is never logged and images never touch the disk; they go
back to the caller as PIL images in memory.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if os.environ.get("SPACES_ZERO_GPU"):  # pragma: no cover - only on a ZeroGPU Space
    # On ZeroGPU, `spaces` must patch torch before anything touches CUDA, or
    # the pipeline stays on the CPU (and `spaces` refuses to import later).
    import spaces  # noqa: F401

import torch  # noqa: E402 - after the ZeroGPU import on purpose
from diffusers import AutoencoderTiny, AutoPipelineForText2Image  # noqa: E402

from .base import GenerationRequest, ProgressCallback, short_model_name  # noqa: E402
from .common import (  # noqa: E402
    GuardedBackend,
    cache_dir,
    failure,
    passes_through,
    pick_device,
    report_progress,
    user_message,
    wants_tiny_autoencoder,
)

if TYPE_CHECKING:
    from PIL import Image

    from ..config import Settings

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["DiffusersBackend", "create", "pick_device"]


def _gpu_wrap(fn: F) -> F:
    """``spaces.GPU(fn)`` when the ``spaces`` package is installed, else ``fn``.

    On a ZeroGPU Space the decorator attaches a GPU for the duration of each
    call; elsewhere ``spaces.GPU`` itself returns the function unchanged, so
    installing ``spaces`` off Spaces costs nothing.
    """
    try:
        import spaces
    except ImportError:
        return fn
    wrapped: F = spaces.GPU(fn)
    return wrapped


class DiffusersBackend(GuardedBackend):
    """A diffusers text-to-image pipeline, loaded once and shared by all requests."""

    name = "diffusers"

    def __init__(self, settings: Settings) -> None:
        self.model_id = settings.model_id
        self.device = pick_device(settings.device)
        # fp16 halves memory and is the GPUs' fast path; CPUs get fp32 (bf16
        # on the 2-core AVX2 test machine was ~450x slower per convolution).
        self.dtype = torch.float16 if self.device.startswith(("cuda", "mps")) else torch.float32
        downloads = cache_dir(settings)
        pipe = AutoPipelineForText2Image.from_pretrained(
            settings.model_id, dtype=self.dtype, cache_dir=downloads
        )
        # A one-step small model (the SDXS family) ships its own tiny decoder,
        # distilled together with its UNet: it is kept, never swapped for TAESD.
        own_tiny = isinstance(pipe.vae, AutoencoderTiny)
        self.uses_tiny_autoencoder = own_tiny
        if not own_tiny and wants_tiny_autoencoder(settings.tiny_autoencoder, self.device):
            try:
                pipe.vae = AutoencoderTiny.from_pretrained(
                    settings.taesd_id, dtype=self.dtype, cache_dir=downloads
                )
                self.uses_tiny_autoencoder = True
            except (OSError, ValueError) as exc:  # missing, offline, or a malformed id
                if settings.tiny_autoencoder == "on":
                    raise
                log.warning(
                    "tiny autoencoder %s unavailable (%s); decoding with the full VAE, "
                    "which is several times slower on a CPU",
                    settings.taesd_id,
                    exc,
                )
        pipe = pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe
        self._lock = threading.Lock()
        # Wrapped once, at load, not per request (ZeroGPU sets up at decoration).
        self._run = _gpu_wrap(self._run_pipeline)
        self._run_batch = _gpu_wrap(self._run_batch_pipeline)
        decoder = (
            " + its tiny decoder" if own_tiny else " + TAESD" if self.uses_tiny_autoencoder else ""
        )
        self.label = f"{short_model_name(self.model_id)}{decoder} via diffusers on {self.device}"
        log.info("diffusers backend ready: %s (%s)", self.label, self.dtype)

    @property
    def suggested_max_batch(self) -> int:
        """How many 512x512 images to run in one call when the operator says nothing.

        On a CUDA GPU, from its memory (sd-turbo's fp16 pipeline is ~5 GB, and
        each 512x512 image of a batch adds well under 1 GB); elsewhere 1: a CPU
        is already busy with one image, so batching only adds waiting.
        """
        if not self.device.startswith("cuda"):
            return 1
        total_gb = torch.cuda.get_device_properties(self.device).total_memory / 2**30
        return max(1, min(16, int((total_gb - 6) // 1.5)))

    def generate_batch(
        self, requests: list[GenerationRequest], on_step: ProgressCallback | None = None
    ) -> list[Image.Image]:
        """One image per request, all in one pipeline call (the scheduler's batches).

        The requests share size, steps and guidance; each brings its own
        prompt, negative prompt and seed, and gets its own generator, so its
        image is the one it would get alone.
        """
        progress_errors: list[BaseException] = []
        with self._lock:
            try:
                return self._run_batch(requests, on_step, progress_errors)
            except Exception as exc:
                if passes_through(exc, progress_errors):
                    raise
                raise failure("diffusers", exc, requests, user_message(exc)) from exc

    def _run_batch_pipeline(
        self,
        requests: list[GenerationRequest],
        on_step: ProgressCallback | None,
        progress_errors: list[BaseException],
    ) -> list[Image.Image]:
        """The GPU work of one batch (wrapped for ZeroGPU like a single request)."""
        first = requests[0]
        generator_device = "cpu" if self.device.startswith("mps") else self.device
        try:
            with torch.inference_mode():
                result = self.pipe(
                    prompt=[r.prompt for r in requests],
                    # "" is what diffusers uses for a missing negative prompt.
                    negative_prompt=[r.negative_prompt for r in requests],
                    width=first.width,
                    height=first.height,
                    num_inference_steps=first.steps,
                    guidance_scale=first.guidance,
                    num_images_per_prompt=1,
                    generator=[
                        torch.Generator(generator_device).manual_seed(r.seed or 0) for r in requests
                    ],
                    output_type="pil",
                    callback_on_step_end=_step_callback(0, first.steps, on_step, progress_errors),
                )
        except torch.OutOfMemoryError:
            if self.device.startswith("cuda"):
                torch.cuda.empty_cache()
            raise
        return list(result.images)

    def _run_pipeline(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None,
        progress_errors: list[BaseException],
    ) -> list[Image.Image]:
        """The GPU work of one request (the function that ZeroGPU wraps)."""
        seeds = request.image_seeds()
        total = request.steps * len(seeds)
        images: list[Image.Image] = []
        # diffusers recommends a CPU generator on MPS (it draws the noise on
        # the CPU and moves it); MPS's own generator is less reproducible.
        generator_device = "cpu" if self.device.startswith("mps") else self.device
        try:
            with torch.inference_mode():
                # One image per pipeline call: image i then depends only on its
                # own seed, so it can be reproduced alone, whatever num_images was.
                for index, seed in enumerate(seeds):
                    step_end = _step_callback(
                        index * request.steps, total, on_progress, progress_errors
                    )
                    result = self.pipe(
                        prompt=request.prompt,
                        negative_prompt=request.negative_prompt or None,
                        width=request.width,
                        height=request.height,
                        num_inference_steps=request.steps,
                        guidance_scale=request.guidance,
                        num_images_per_prompt=1,
                        generator=torch.Generator(generator_device).manual_seed(seed),
                        output_type="pil",
                        callback_on_step_end=step_end,
                    )
                    images.extend(result.images)
        except torch.OutOfMemoryError:
            # Freed here, in the process that holds the GPU (on ZeroGPU that
            # is the worker this function runs in, not the server).
            if self.device.startswith("cuda"):
                torch.cuda.empty_cache()
            raise
        return images


def _step_callback(
    done_before: int,
    total: int,
    on_progress: ProgressCallback | None,
    progress_errors: list[BaseException],
) -> Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]:
    """A ``callback_on_step_end`` that reports ``(done_before + step + 1, total)``.

    diffusers calls it after each denoising step and uses what it returns as
    the new tensors, so it must hand ``callback_kwargs`` back.
    """

    def step_end(
        pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        report_progress(on_progress, done_before + step + 1, total, progress_errors)
        return callback_kwargs

    return step_end


def create(settings: Settings) -> DiffusersBackend:
    """Registry factory. A model that cannot load raises OSError (offline, missing)."""
    return DiffusersBackend(settings)
