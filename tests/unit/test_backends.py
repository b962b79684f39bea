"""The request rules, the backend registry and the demo backend."""

from __future__ import annotations

import time

import numpy as np
import pytest

from aicreative import GenerationRequest, Settings
from aicreative.backends import (
    Backend,
    BackendUnavailable,
    available_backends,
    create_backend,
    load_backend,
)
from aicreative.backends.demo import DemoBackend
from aicreative.errors import ValidationError


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"prompt": ""}, "prompt", "enter a prompt"),
        ({"prompt": "   "}, "prompt", "enter a prompt"),
        ({"prompt": "x" * 1001}, "prompt", "limit is 1000"),
        ({"negative_prompt": "x" * 1001}, "negative_prompt", "limit is 1000"),
        ({"width": 500}, "width", "multiple of 64"),
        ({"width": 192}, "width", "from 256 to 1024"),
        ({"height": 1088}, "height", "from 256 to 1024"),
        ({"height": "tall"}, "height", "whole number"),
        ({"steps": 0}, "steps", "from 1 to 50"),
        ({"steps": 51}, "steps", "from 1 to 50"),
        ({"steps": 2.5}, "steps", "whole number"),
        ({"guidance": -0.1}, "guidance", "from 0 to 20"),
        ({"guidance": 20.5}, "guidance", "from 0 to 20"),
        ({"guidance": float("nan")}, "guidance", "from 0 to 20"),
        ({"guidance": "lots"}, "guidance", "a number"),
        ({"seed": -5}, "seed", "0 to 4294967295"),
        ({"seed": 2**32}, "seed", "0 to 4294967295"),
        ({"num_images": 0}, "num_images", "from 1 to 4"),
        ({"num_images": 5}, "num_images", "from 1 to 4"),
        ({"num_images": True}, "num_images", "whole number"),
    ],
)
def test_request_refusals(fields: dict, field: str, message: str) -> None:
    values = {"prompt": "a fox", **fields}
    with pytest.raises(ValidationError, match=message) as info:
        GenerationRequest(**values)
    assert info.value.field == field


@pytest.mark.parametrize(
    "fields",
    [
        {"width": 256, "height": 1024},
        {"width": 1024, "height": 256, "steps": 50, "guidance": 20},
        {"seed": 0},
        {"seed": 2**32 - 1, "num_images": 4},
        {"prompt": "x" * 1000, "negative_prompt": "y" * 1000},
        {"width": "640", "steps": "4", "guidance": "7.5"},
    ],
)
def test_request_accepts_edges(fields: dict) -> None:
    GenerationRequest(**{"prompt": "a fox", **fields})


def test_request_defaults_are_sd_turbo() -> None:
    r = GenerationRequest("fox")
    assert (r.width, r.height, r.steps, r.guidance, r.seed, r.num_images) == (
        512,
        512,
        1,
        0.0,
        None,
        1,
    )
    assert r.embed_metadata is False


def test_from_dict() -> None:
    r = GenerationRequest.from_dict({"prompt": " fox ", "seed": "random", "width": "768"})
    assert (r.prompt, r.seed, r.width) == ("fox", None, 768)
    with pytest.raises(ValidationError, match="Unknown setting: colour"):
        GenerationRequest.from_dict({"prompt": "fox", "colour": "red"})
    with pytest.raises(ValidationError, match="enter a prompt"):
        GenerationRequest.from_dict({})


def test_seeds_follow_the_first() -> None:
    assert GenerationRequest("x", seed=2**32 - 1, num_images=3).image_seeds() == [2**32 - 1, 0, 1]
    random_one = GenerationRequest("x").with_seed()
    assert random_one.seed is not None and 0 <= random_one.seed < 2**32


def test_demo_is_a_backend_and_labelled() -> None:
    backend = DemoBackend()
    assert isinstance(backend, Backend)
    assert backend.name == "demo" and "not an AI model" in backend.label


def test_demo_is_deterministic_and_depends_on_prompt_and_seed() -> None:
    backend = DemoBackend()

    def pixels(**kw) -> np.ndarray:
        request = GenerationRequest(**{"prompt": "fox", "seed": 1, **kw})
        return np.asarray(backend.generate(request)[0])

    same = pixels()
    assert np.array_equal(same, pixels())
    assert not np.array_equal(same, pixels(seed=2))
    assert not np.array_equal(same, pixels(prompt="owl"))
    assert pixels(width=768, height=256).shape == (256, 768, 3)


def test_demo_images_per_request_and_progress() -> None:
    ticks = []
    images = DemoBackend().generate(
        GenerationRequest("fox", seed=1, num_images=3, steps=2), lambda s, t: ticks.append((s, t))
    )
    assert len(images) == 3
    assert ticks == [(i, 6) for i in range(1, 7)]
    # Image i is reproducible alone from its own seed.
    second = DemoBackend().generate(GenerationRequest("fox", seed=2))[0]
    assert np.array_equal(np.asarray(images[1]), np.asarray(second))


def test_demo_is_fast_enough_for_tests() -> None:
    # Not a benchmark: a sanity bound far above the ~15 ms it takes.
    request = GenerationRequest("fox", seed=1)
    DemoBackend().generate(request)
    start = time.perf_counter()
    DemoBackend().generate(request)
    assert time.perf_counter() - start < 1.0


def test_registry_names() -> None:
    assert available_backends() == ["demo", "diffusers", "openvino", "remote"]
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        load_backend("nope", Settings())


def test_explicit_demo_setting(settings: Settings) -> None:
    choice = create_backend(settings)
    assert choice.name == "demo" and "backend setting" in choice.reason


def test_auto_falls_back_to_demo_and_says_why(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings(data_dir=tmp_path, backend="auto", model_id=str(tmp_path / "no-model-here"))
    choice = create_backend(settings)
    assert choice.name == "demo"
    assert choice.reason.startswith("demo: no model backend could load")
    assert "diffusers" in choice.reason
