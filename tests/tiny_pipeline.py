"""Tiny, randomly initialised Stable Diffusion pipeline and TAESD for offline tests.

Nothing can download weights here, so the tests build a pipeline with the
same *structure* as sd-turbo (CLIP text encoder, conditional UNet,
AutoencoderKL, Euler scheduler with trailing timesteps) but a few hundred
kilobytes of random weights, save it with ``save_pretrained`` and load it back
through the real ``from_pretrained`` path. The images are noise; what the
tests check is plumbing: sizes, seeds, progress, the decoder swap.

The builders seed torch, so the same code gives the same weights every time.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

BOS, EOS = "<|startoftext|>", "<|endoftext|>"

#: What the tiny UNets share; each builder adds its block layout.
TINY_UNET = {
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "cross_attention_dim": 32,
    "attention_head_dim": (2, 4),
    "norm_num_groups": 32,
}


def _bytes_to_unicode() -> dict[int, str]:
    """CLIP's byte -> printable character map (the GPT-2 byte-level alphabet).

    Written out here rather than imported because transformers moves it
    between versions.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes), strict=True))


def _write_tokenizer_files(folder: Path) -> None:
    """A byte-level BPE vocabulary with no merges: every byte is a token.

    CLIP's vocabulary is the 256 byte symbols, the same with ``</w>`` (end of
    word), the merges, then the two special tokens; with no merges that is
    514 tokens, which is all a tokenizer needs to accept any prompt.
    """
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + [BOS, EOS]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def build_tiny_pipeline(folder: Path) -> Path:
    """Build, seed and save a tiny sd-turbo-shaped pipeline into ``folder``; return it.

    The VAE has two blocks, so its scale factor is 2 (not 8): a 256x256 image
    is a 128x128 latent. That keeps the random UNet cheap on a CPU while the
    request still meets the app's 256-pixel minimum.
    """
    folder = Path(folder)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        **TINY_UNET,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=64,
    )
    return _save_pipeline(folder, unet, vae)


def build_tiny_sdxs_pipeline(folder: Path) -> Path:
    """Build, seed and save a tiny pipeline shaped like the SDXS-512 family; return it.

    What sets SDXS apart from sd-turbo, kept here in small: a UNet with one
    ResNet per level, cross-attention at every level and no middle block,
    and a tiny autoencoder (``AutoencoderTiny``) shipped as the model's own
    ``vae``. Same text encoder and scheduler as :func:`build_tiny_pipeline`.
    """
    folder = Path(folder)
    torch.manual_seed(2)
    unet = UNet2DConditionModel(
        **TINY_UNET,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        mid_block_type=None,
    )
    torch.manual_seed(3)
    return _save_pipeline(folder, unet, _tiny_autoencoder())


def _save_pipeline(folder: Path, unet: UNet2DConditionModel, vae: torch.nn.Module) -> Path:
    """Save ``unet`` and ``vae`` with the tiny CLIP text encoder and sd-turbo's scheduler."""
    # Loaded from the files (not passed to the constructor), because that
    # path is the same in transformers 4 and 5; the constructor's changed.
    _write_tokenizer_files(folder / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=5,
            num_attention_heads=4,
            max_position_embeddings=77,
            layer_norm_eps=1e-5,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    # sd-turbo's scheduler: Euler with trailing timesteps, so that one step
    # starts from pure noise. steps_offset=1 avoids diffusers' FutureWarning.
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    # (mypy sees diffusers' lazy-import placeholders, not the real mixins.)
    pipe.save_pretrained(folder, safe_serialization=True)  # type: ignore[attr-defined]
    return folder


def build_tiny_taesd(folder: Path) -> Path:
    """Build, seed and save a tiny ``AutoencoderTiny`` that fits the tiny pipeline.

    Its decoder upsamples once (2x), matching the two-block VAE's scale
    factor, and reads 4 latent channels like the VAE's.
    """
    folder = Path(folder)
    torch.manual_seed(1)
    _tiny_autoencoder().save_pretrained(folder, safe_serialization=True)  # type: ignore[attr-defined]
    return folder


def _tiny_autoencoder() -> AutoencoderTiny:
    """An ``AutoencoderTiny`` whose decoder upsamples once (2x) from 4 channels."""
    return AutoencoderTiny(
        encoder_block_out_channels=(16, 16),
        decoder_block_out_channels=(16, 16),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
        latent_channels=4,
    )


if __name__ == "__main__":  # pragma: no cover - a manual helper
    import sys
    import time

    start = time.perf_counter()
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-sd")
    build_tiny_pipeline(out / "pipeline")
    build_tiny_taesd(out / "taesd")
    print(f"built {out} in {time.perf_counter() - start:.2f} s")
