"""The demo backend: offline, deterministic, instant. Not an AI model.

It paints a smooth colour field and shapes derived from a hash of the
prompt, negative prompt, size and seed, so that the same request and seed
give the same pixels on every machine. It exists for tests, notebooks and
servers where no model can load, and says so on screen.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
from PIL import Image, ImageDraw

from .base import GenerationRequest, ProgressCallback

LABEL = "Demo generator (not an AI model)"


class DemoBackend:
    """Deterministic pictures derived from the prompt and the seed."""

    name = "demo"
    label = LABEL
    #: Cheap and thread-safe: the scheduler may run this many requests at once.
    parallel = 4
    step_delay = 0.0

    def __init__(self, step_delay: float = 0.0) -> None:
        # A pause per step stands in for a real model's time (tests of what
        # happens while a generation runs: reloads, cancels, restarts).
        self.step_delay = max(0.0, float(step_delay))

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Image.Image]:
        images = []
        seeds = request.image_seeds()
        total = request.steps * len(seeds)
        done = 0
        for seed in seeds:
            images.append(self._paint(request, seed))
            for _ in range(request.steps):
                if self.step_delay:
                    time.sleep(self.step_delay)
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
        return images

    @staticmethod
    def _paint(request: GenerationRequest, seed: int) -> Image.Image:
        digest = hashlib.sha256(
            "\x00".join(
                [
                    request.prompt,
                    request.negative_prompt,
                    str(request.width),
                    str(request.height),
                    str(seed),
                ]
            ).encode()
        ).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
        w, h = request.width, request.height
        # A four-corner gradient: cheap (numpy, no per-pixel Python) and pleasant.
        corners = rng.integers(0, 256, size=(4, 3)).astype(np.float32)
        ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
        xs = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
        top = corners[0] * (1 - xs) + corners[1] * xs
        bottom = corners[2] * (1 - xs) + corners[3] * xs
        pixels = (top * (1 - ys) + bottom * ys).astype(np.uint8)
        image = Image.fromarray(pixels, "RGB")
        draw = ImageDraw.Draw(image, "RGBA")
        for _ in range(int(rng.integers(4, 9))):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            r = int(rng.integers(min(w, h) // 16, min(w, h) // 3))
            colour = tuple(int(c) for c in rng.integers(0, 256, size=3)) + (
                int(rng.integers(90, 200)),
            )
            if rng.random() < 0.5:
                draw.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), fill=colour)
            else:
                draw.rectangle((x0 - r, y0 - r // 2, x0 + r, y0 + r // 2), fill=colour)
        return image


def create(settings: object | None = None) -> DemoBackend:
    """Registry factory (the only setting the demo backend reads is its step delay)."""
    return DemoBackend(float(getattr(settings, "demo_step_delay", 0.0) or 0.0))
