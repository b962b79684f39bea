"""The diffusers backend on a tiny random pipeline, loaded through ``from_pretrained``.

No weights can be downloaded here, so ``tests/tiny_pipeline.py`` builds an
sd-turbo-shaped pipeline with random weights into a temp folder, and these
tests load it exactly as a real model folder is loaded, with the hub offline.
The images are noise; sizes, seeds, progress, cancellation, the decoder swap
and the error paths are what is checked. The fixtures come from
``tests/fixtures_models.py`` through conftest's ``pytest_plugins``.
"""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("diffusers")

import torch  # noqa: E402
from diffusers import AutoencoderKL, AutoencoderTiny  # noqa: E402

from aicreative.backends import (  # noqa: E402
    Backend,
    BackendUnavailable,
    load_backend,
)
from aicreative.backends import diffusers_backend as db  # noqa: E402
from aicreative.config import Settings  # noqa: E402
from tests.model_backend_contract import (  # noqa: E402
    BreakTextStep,
    ModelBackendContract,
    offline,
    req,
)

pytestmark = [
    # Library noise, not ours: diffusers' Euler scheduler under numpy 2, and
    # diffusers passing a deprecated argument to huggingface_hub.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks`:UserWarning"),
]


def make_settings(data_dir: Path, model: Path | str, **kw: Any) -> Settings:
    kw.setdefault("tiny_autoencoder", "off")
    kw.setdefault("device", "cpu")
    return Settings(data_dir=data_dir, backend="diffusers", model_id=str(model), **kw)


@pytest.fixture(scope="module")
def backend(
    tiny_pipeline_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[db.DiffusersBackend]:
    """One backend with the full VAE, shared by this module's generation tests."""
    with pytest.MonkeyPatch.context() as mp:
        offline(mp)
        settings = make_settings(tmp_path_factory.mktemp("data"), tiny_pipeline_dir)
        created = load_backend("diffusers", settings)
    assert isinstance(created, db.DiffusersBackend)
    yield created


def test_loads_a_local_folder_offline_through_the_registry(
    tiny_pipeline_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline(monkeypatch)
    settings = make_settings(tmp_path / "data", tiny_pipeline_dir)
    backend = load_backend("diffusers", settings)
    assert isinstance(backend, db.DiffusersBackend)
    assert isinstance(backend, Backend)
    assert backend.name == "diffusers"
    assert backend.label == "pipeline via diffusers on cpu"
    assert str(tiny_pipeline_dir.parent) not in backend.label  # no server paths on screen
    assert type(backend.pipe).__name__ == "StableDiffusionPipeline"
    assert backend.pipe.unet.dtype == torch.float32
    # "off" keeps the model's own VAE.
    assert backend.uses_tiny_autoencoder is False
    assert isinstance(backend.pipe.vae, AutoencoderKL)


class TestContract(ModelBackendContract):
    """The tests every model backend passes (tests/model_backend_contract.py)."""

    out_of_memory = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    @pytest.fixture
    def model_backend(self, backend: db.DiffusersBackend) -> db.DiffusersBackend:
        return backend

    @pytest.fixture
    def break_text_step(
        self, backend: db.DiffusersBackend, monkeypatch: pytest.MonkeyPatch
    ) -> BreakTextStep:
        def break_with(error: Callable[[str], BaseException]) -> None:
            def broken(**kwargs: Any) -> None:
                raise error(kwargs["prompt"])

            monkeypatch.setattr(backend, "pipe", broken)

        return break_with


def test_generation_writes_nothing_to_the_data_dir(
    tiny_pipeline_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline(monkeypatch)
    data = tmp_path / "data"
    backend = db.create(make_settings(data, tiny_pipeline_dir))
    backend.generate(req(seed=5))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []


def test_tiny_autoencoder_on(
    tiny_pipeline_dir: Path, tiny_taesd_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline(monkeypatch)
    settings = make_settings(
        tmp_path, tiny_pipeline_dir, tiny_autoencoder="on", taesd_id=str(tiny_taesd_dir)
    )
    backend = db.create(settings)
    assert backend.uses_tiny_autoencoder is True
    assert isinstance(backend.pipe.vae, AutoencoderTiny)
    assert "TAESD" in backend.label
    images = backend.generate(req(seed=9, width=320, height=256))
    assert [im.size for im in images] == [(320, 256)]


def test_a_model_with_its_own_tiny_decoder_keeps_it(
    tiny_sdxs_dir: Path, tiny_taesd_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-step small model (SDXS) ships an AutoencoderTiny distilled with its
    UNet: TAESD must not replace it, whatever tiny_autoencoder says."""
    offline(monkeypatch)
    own = AutoencoderTiny.from_pretrained(tiny_sdxs_dir / "vae")
    generic = AutoencoderTiny.from_pretrained(tiny_taesd_dir)
    for mode in ("on", "off"):
        settings = make_settings(
            tmp_path, tiny_sdxs_dir, tiny_autoencoder=mode, taesd_id=str(tiny_taesd_dir)
        )
        backend = db.create(settings)
        assert backend.uses_tiny_autoencoder is True
        assert "its tiny decoder" in backend.label
        kept = backend.pipe.vae.state_dict()
        assert all(torch.equal(kept[k], v) for k, v in own.state_dict().items())
        assert not all(torch.equal(kept[k], v) for k, v in generic.state_dict().items())
    images = backend.generate(req(seed=5))
    assert [im.size for im in images] == [(256, 256)]


def test_tiny_autoencoder_auto_is_on_for_cpu(
    tiny_pipeline_dir: Path, tiny_taesd_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline(monkeypatch)
    settings = make_settings(
        tmp_path, tiny_pipeline_dir, tiny_autoencoder="auto", taesd_id=str(tiny_taesd_dir)
    )
    assert db.create(settings).uses_tiny_autoencoder is True


def test_tiny_autoencoder_missing(
    tiny_pipeline_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    offline(monkeypatch)
    missing = "aicreative-tests/no-such-taesd"
    # "auto": a warning, and the full VAE keeps working.
    auto = make_settings(tmp_path, tiny_pipeline_dir, tiny_autoencoder="auto", taesd_id=missing)
    with caplog.at_level(logging.WARNING, logger=db.__name__):
        backend = db.create(auto)
    assert backend.uses_tiny_autoencoder is False
    assert isinstance(backend.pipe.vae, AutoencoderKL)
    assert "tiny autoencoder" in caplog.text
    # "on": asked for explicitly, so its absence is an error.
    on = make_settings(tmp_path, tiny_pipeline_dir, tiny_autoencoder="on", taesd_id=missing)
    with pytest.raises(BackendUnavailable):
        load_backend("diffusers", on)


def test_missing_model_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offline(monkeypatch)
    settings = make_settings(tmp_path / "data", "aicreative-tests/no-such-model")
    with pytest.raises(BackendUnavailable, match="diffusers: OSError"):
        load_backend("diffusers", settings)


def test_pick_device(monkeypatch: pytest.MonkeyPatch) -> None:
    for explicit in ("cpu", "cuda", "cuda:1", "mps"):
        assert db.pick_device(explicit) == explicit
    cuda = {"ok": True}
    mps = {"ok": True}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda["ok"])
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps["ok"])
    assert db.pick_device("auto") == "cuda"
    cuda["ok"] = False
    assert db.pick_device("auto") == "mps"
    mps["ok"] = False
    assert db.pick_device("auto") == "cpu"


def _fake_spaces(calls: list[str]) -> types.ModuleType:
    """A stand-in for Hugging Face's ``spaces`` package.

    The real one is not installed in the test environment because it pulls in
    gradio and a different Pillow. Its ``GPU`` decorator returns the function
    unchanged off ZeroGPU; this one wraps it so the test can see it was used.
    """
    module = types.ModuleType("spaces")

    def gpu(fn: Callable[..., Any]) -> Callable[..., Any]:
        def on_gpu(*args: Any, **kwargs: Any) -> Any:
            calls.append(fn.__name__)
            return fn(*args, **kwargs)

        return on_gpu

    module.GPU = gpu  # type: ignore[attr-defined]
    return module


def test_gpu_wrap_without_spaces_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spaces", None)  # makes `import spaces` fail

    def work() -> int:
        return 1

    assert db._gpu_wrap(work) is work


def test_gpu_wrap_with_spaces_wraps_the_pipeline_work(
    tiny_pipeline_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "spaces", _fake_spaces(calls))

    def work() -> int:
        return 1

    wrapped = db._gpu_wrap(work)
    assert wrapped is not work
    assert wrapped() == 1
    assert calls == ["work"]

    offline(monkeypatch)
    backend = db.create(make_settings(tmp_path, tiny_pipeline_dir))
    progress: list[tuple[int, int]] = []
    images = backend.generate(req(seed=2), lambda *a: progress.append(a))
    assert calls == ["work", "_run_pipeline"]  # the whole request ran inside spaces.GPU
    assert len(images) == 1
    assert progress == [(1, 1)]
