"""What every model backend must do, written once and run against each one.

``test_backends_diffusers.py`` and ``test_backends_openvino.py`` each
subclass :class:`ModelBackendContract` (as ``TestContract``) and provide its
fixtures: ``model_backend``, the backend built on the tiny random pipeline,
and ``break_text_step``, which makes the backend's text step raise a given
error. The images are noise; seeds, progress, guidance, cancellation and
failures are what is checked. The helpers here serve the rest of both files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import huggingface_hub.constants
import numpy as np
import pytest

from aicreative.backends import Backend, GenerationRequest
from aicreative.errors import BackendError, Cancelled

PROMPT = "zq-marker a lighthouse at dawn"

#: Makes the backend's step that reads the prompt raise ``error(prompt)``.
BreakTextStep = Callable[[Callable[[str], BaseException]], None]


def offline(mp: pytest.MonkeyPatch) -> None:
    """Hub offline. huggingface_hub reads the variable at import, so patch its constant too."""
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def req(prompt: str = PROMPT, **kw: Any) -> GenerationRequest:
    """A request at the smallest size the app allows (256x256)."""
    kw.setdefault("width", 256)
    kw.setdefault("height", 256)
    return GenerationRequest(prompt, **kw)


def pixels(image: Any) -> np.ndarray:
    return np.asarray(image)


class ModelBackendContract:
    """Tests shared by the model backends; subclasses provide the fixtures."""

    #: What the backend's library raises when memory runs out.
    out_of_memory: BaseException

    def test_same_seed_same_pixels_other_seed_other_pixels(self, model_backend: Backend) -> None:
        request = req(seed=42, steps=2)
        first = model_backend.generate(request)
        again = model_backend.generate(request)
        other = model_backend.generate(req(seed=43, steps=2))
        assert len(first) == 1
        assert first[0].size == (256, 256)
        assert first[0].mode == "RGB"
        assert np.array_equal(pixels(first[0]), pixels(again[0]))
        assert not np.array_equal(pixels(first[0]), pixels(other[0]))

    def test_progress_once_per_step_and_each_image_reproducible_alone(
        self, model_backend: Backend
    ) -> None:
        calls: list[tuple[int, int]] = []
        images = model_backend.generate(
            req(seed=7, steps=2, num_images=2), lambda done, total: calls.append((done, total))
        )
        assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
        assert [im.size for im in images] == [(256, 256), (256, 256)]
        assert not np.array_equal(pixels(images[0]), pixels(images[1]))
        # Image 1 was seeded with seed + 1: asked for alone, it comes out the same.
        alone = model_backend.generate(req(seed=8, steps=2))
        assert np.array_equal(pixels(images[1]), pixels(alone[0]))

    def test_guidance_uses_the_negative_prompt(self, model_backend: Backend) -> None:
        # guidance > 1 turns on classifier-free guidance, which uses the negative prompt.
        with_negative = model_backend.generate(req(negative_prompt="blurry", guidance=3.0, seed=1))
        without = model_backend.generate(req(guidance=3.0, seed=1))
        unguided = model_backend.generate(req(negative_prompt="blurry", guidance=1.0, seed=1))
        plain = model_backend.generate(req(seed=1))
        assert with_negative[0].size == (256, 256)
        assert not np.array_equal(pixels(with_negative[0]), pixels(without[0]))
        # At guidance <= 1 there is no guidance, so the negative prompt is unused.
        assert np.array_equal(pixels(unguided[0]), pixels(plain[0]))

    def test_cancel_from_progress_propagates_and_the_backend_stays_usable(
        self, model_backend: Backend
    ) -> None:
        calls: list[tuple[int, int]] = []

        def cancel(done: int, total: int) -> None:
            calls.append((done, total))
            raise Cancelled()

        with pytest.raises(Cancelled):
            model_backend.generate(req(seed=3, steps=2, num_images=2), cancel)
        assert calls == [(1, 4)]  # stopped at the first step, not after all the work
        assert len(model_backend.generate(req(seed=3))) == 1  # the lock was released

    def test_failures_become_backend_errors_without_the_prompt(
        self,
        model_backend: Backend,
        break_text_step: BreakTextStep,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        break_text_step(lambda prompt: RuntimeError(f"shape mismatch while encoding {prompt!r}"))
        caplog.set_level(logging.DEBUG)
        with pytest.raises(BackendError) as info:
            model_backend.generate(req(seed=1))
        assert PROMPT not in str(info.value)
        assert "model failed" in str(info.value)
        assert isinstance(info.value.__cause__, RuntimeError)
        assert "RuntimeError" in caplog.text  # the operator learns what failed...
        assert PROMPT not in caplog.text  # ...but not what was asked for

        break_text_step(lambda prompt: self.out_of_memory)
        with pytest.raises(BackendError, match="out of memory"):
            model_backend.generate(req(seed=1))
