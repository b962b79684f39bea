"""Session fixtures with tiny, randomly initialised models saved to temp folders.

``tiny_pipeline_dir`` is an sd-turbo-shaped Stable Diffusion pipeline,
``tiny_taesd_dir`` a matching tiny autoencoder and ``tiny_sdxs_dir`` an
SDXS-shaped pipeline that ships its own tiny decoder (see
``tests/tiny_pipeline.py``);
each is built once per test session (about 0.1 s after the imports). Load them
with ``from_pretrained`` like a real model: ``Settings(model_id=str(dir))``.

torch and diffusers are imported only when a fixture is first used, so test
sessions that need no model do not pay the ~4 s import; without them
installed the tests that ask for these fixtures are skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["tiny_pipeline_dir", "tiny_sdxs_dir", "tiny_taesd_dir"]


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny StableDiffusionPipeline (UNet, two-block VAE, CLIP, Euler)."""
    pytest.importorskip("diffusers")
    from tests.tiny_pipeline import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "pipeline")


@pytest.fixture(scope="session")
def tiny_taesd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny AutoencoderTiny whose decoder fits ``tiny_pipeline_dir``'s latents."""
    pytest.importorskip("diffusers")
    from tests.tiny_pipeline import build_tiny_taesd

    return build_tiny_taesd(tmp_path_factory.mktemp("tiny-taesd") / "taesd")


@pytest.fixture(scope="session")
def tiny_sdxs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny SDXS-shaped pipeline: no UNet middle block, its own AutoencoderTiny."""
    pytest.importorskip("diffusers")
    from tests.tiny_pipeline import build_tiny_sdxs_pipeline

    return build_tiny_sdxs_pipeline(tmp_path_factory.mktemp("tiny-sdxs") / "pipeline")
