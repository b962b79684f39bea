"""The OpenVINO conversion: the configured diffusers model turned into OpenVINO IR.

What this module owns:

* **The conversion** (:func:`export_model`). The configured diffusers model
  (``settings.model_id``, a hub id or a local folder) is converted with
  ``openvino.convert_model`` on its own torch modules: the text encoder, the
  UNet and one decoder, the tiny autoencoder (TAESD, ``settings.taesd_id``)
  by default and the model's full VAE decoder when ``settings.tiny_autoencoder``
  is ``"off"``. The folder it writes, and its manifest (:data:`MANIFEST`,
  written last), are what the runtime (:mod:`.openvino_backend`) reads.
* **The INT8 UNet, on request** (``AICREATIVE_CPU_PRECISION=int8``): NNCF
  post-training quantization of the converted UNet (:func:`quantize_unet`),
  calibrated on prompts written here (:data:`CALIBRATION_PROMPTS`) through the
  converted text encoder. It is opt-in, not a calibration candidate: on
  sd-turbo it takes 1.5-4 minutes and ~14.5 GB once (``benchmarks/README.md``).
* **The conversion process's side** (:func:`export_main`): it runs in a child
  process started by :mod:`.openvino_cache` (which owns where an export
  lives and how it is published), and reports back in one result line.
* **openvino's telemetry, off.** Importing ``openvino`` normally starts
  Intel's usage telemetry (a Google Analytics event and an id file in the
  home folder); this module turns it off before the import (see
  :func:`_silence_telemetry`), as the privacy policy promises no third-party
  request from the server. The other OpenVINO modules therefore take ``ov``
  from here rather than importing ``openvino`` themselves.

Why ``openvino.convert_model`` and not optimum-intel: optimum-intel 2.2 pins
huggingface_hub below 1.22 (which drags diffusers back to 0.39), pulls in a
CUDA torchvision that breaks every import, and mis-reads text-encoder weights
saved by a newer transformers. The ``openvino`` package alone has no such
pins, and converting the pipeline's own modules also works for local models.

Why torch appears here: the conversion traces the torch modules. torch,
diffusers and transformers are imported lazily, inside the conversion;
importing this module needs only ``openvino``, and a missing ``openvino`` is
what the registry reports first.

Weights are saved in fp16 (``compress_to_fp16``), a choice made on
measurements (``benchmarks/README.md``): the CPU plugin keeps the IR's
weights mapped besides its own compiled copy, so fp16 files take ~1.7 GB less
resident memory for the UNet than fp32 files.
"""

from __future__ import annotations

import errno
import functools
import gc
import importlib
import json
import logging
import os
import shutil
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

# openvino's own usage telemetry must never run: without its package, openvino
# falls back to a built-in no-op stub (an import-time choice, so it is made
# before the first `import openvino`).
if "openvino" not in sys.modules:
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]

import openvino as ov  # noqa: E402

from .base import short_model_name  # noqa: E402
from .common import cache_dir  # noqa: E402

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

__all__ = [
    "FORMAT_VERSION",
    "INT8_RECIPE",
    "MANIFEST",
    "RESULT_MARK",
    "TinyAutoencoderUnavailable",
    "export_main",
    "export_model",
    "is_disk_full",
    "openvino_version",
    "ov",
]

#: Bumped when the layout of an export changes; part of the cache name.
FORMAT_VERSION = 1
#: The file that marks a complete export (written last, moved into place with it).
MANIFEST = "aicreative-openvino.json"
#: What starts the conversion process's result line on its stdout.
RESULT_MARK = "AICREATIVE_OPENVINO_EXPORT "
#: The image side the INT8 UNet is calibrated at: the app's default size.
CALIBRATION_SIZE = 512
#: Bumped when the INT8 recipe changes (prompts, inputs, NNCF options): part of
#: the INT8 export's cache name, with NNCF's version.
INT8_RECIPE = 1
#: The INT8 UNet's calibration set: what people ask for, written here (no
#: data set is downloaded, none is kept), plus the empty prompt that unguided
#: and negative-prompt passes encode.
CALIBRATION_PROMPTS = (
    "a lighthouse on a cliff at dawn, oil painting",
    "portrait photo of an old fisherman, soft window light",
    "a red fox in fresh snow, wildlife photography",
    "isometric cutaway of a cozy cafe, 3d render",
    "a watercolor map of an imaginary island",
    "neon city street in the rain at night, cinematic",
    "a bowl of ramen on a wooden table, food photography",
    "an astronaut riding a horse on the moon, digital art",
    "",
)


def _silence_telemetry() -> None:
    """Point openvino's conversion code at its no-op telemetry stub.

    ``import openvino`` initialises ``openvino_telemetry`` (which sends an
    event to Google Analytics and writes ``~/intel/openvino_ga_cid``) unless
    that package cannot be imported; this module blocks it above. If openvino
    was imported before this module (by other code), the conversion functions
    would still send events, so their module-level ``tm`` is swapped for the
    stub openvino itself uses when the telemetry package is missing.
    """
    stub = importlib.import_module("openvino.tools.ovc.telemetry_stub")
    for name in (
        "openvino.tools.ovc.telemetry_utils",
        "openvino.tools.ovc.convert_impl",
        "openvino.tools.ovc.utils",
        "openvino.tools.ovc.main",
    ):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "tm"):
            module.tm = stub  # type: ignore[attr-defined]


_silence_telemetry()


class TinyAutoencoderUnavailable(OSError):
    """The tiny autoencoder could not be loaded (missing, offline, malformed)."""


def openvino_version() -> str:
    """``2026.4.1`` (the release part of ``openvino.get_version()``)."""
    return str(ov.get_version()).split("-")[0]


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a full disk (or a full quota)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _ir_bytes(model: Any) -> int:
    """What the IR's weights file will take: float32 constants are saved as fp16."""
    total = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() == "Constant":
            size = int(op.get_byte_size())
            total += size // 2 if op.get_element_type() == ov.Type.f32 else size
    return total


def _write_ir(model: Any, path: Path) -> None:
    """Save one OpenVINO model with fp16 weights, turning a full disk into ENOSPC.

    OpenVINO reports a failed write only as ``RuntimeError('basic_ios::clear:
    iostream error')`` and removes the partial file (seen on a full tmpfs), so
    the free space is checked against the weights' size before writing, and
    again after a failure (another writer may have filled the disk meanwhile).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    needed = _ir_bytes(model) + (64 << 10)  # the weights plus the graph's XML
    need_text = f"{needed / 1e9:.2f} GB for its {path.parent.name}"
    if shutil.disk_usage(path.parent).free < needed:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path.parent), None, need_text)
    try:
        ov.save_model(model, str(path), compress_to_fp16=True)
    except RuntimeError as exc:
        if shutil.disk_usage(path.parent).free < needed:
            raise OSError(
                errno.ENOSPC, os.strerror(errno.ENOSPC), str(path.parent), None, need_text
            ) from exc
        raise


def _convert(module: Any, example: tuple[Any, ...], shapes: list[Any]) -> Any:
    """``openvino.convert_model`` by tracing ``module`` on ``example`` inputs.

    ``shapes`` fixes what is known (batch 1, the text length) and leaves
    height and width free (-1) until a size is compiled.

    The tracer warns about Python branches on shapes (e.g. diffusers' check
    that the latent size is a multiple of 8); every size the app allows is,
    so the warnings say nothing to an operator and are silenced, as is
    torch's notice that ``torch.jit.trace`` (which openvino calls) is
    deprecated.
    """
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", "`torch.jit.trace", DeprecationWarning)
        return ov.convert_model(module, example_input=example, input=shapes)


def export_model(
    settings: Settings, decoder: str, target: Path, *, int8: bool = False
) -> dict[str, Any]:
    """Convert the configured model into ``target`` (an existing, empty folder).

    Writes ``text_encoder/``, ``unet/`` and ``decoder/`` (OpenVINO IR,
    ``openvino_model.xml``/``.bin``), ``tokenizer/``, ``scheduler/`` and the
    manifest, last. Returns the manifest. Each torch module is dropped after
    its conversion, so that only one is held besides its IR (memory).
    ``int8`` quantizes the UNet afterwards (:func:`quantize_unet`).
    """
    import torch

    parts = _load_parts(settings, decoder)
    parts.tokenizer.save_pretrained(target / "tokenizer")
    parts.scheduler.save_pretrained(target / "scheduler")
    length = int(parts.tokenizer.model_max_length)
    text_dim = int(parts.text_encoder.config.hidden_size)
    channels = int(parts.unet.config.in_channels)
    # Example sizes for tracing only: the IR leaves height and width free.
    side = int(parts.unet.config.sample_size)
    scaling = float(parts.vae.config.scaling_factor)
    wrappers = _wrappers()

    _export_one(
        parts,
        "text_encoder",
        wrappers.TextEncoder,
        (torch.zeros((1, length), dtype=torch.int64),),
        [(ov.PartialShape([1, length]), ov.Type.i64)],
        target,
    )
    _export_one(
        parts,
        "unet",
        wrappers.UNet,
        (
            torch.randn(1, channels, side, side),
            torch.tensor([999.0]),
            torch.randn(1, length, text_dim),
        ),
        [
            (ov.PartialShape([1, channels, -1, -1]), ov.Type.f32),
            (ov.PartialShape([1]), ov.Type.f32),
            (ov.PartialShape([1, length, text_dim]), ov.Type.f32),
        ],
        target,
    )
    _export_one(
        parts,
        "vae",
        lambda vae: wrappers.Decoder(vae, scaling),
        (torch.randn(1, channels, side, side),),
        [(ov.PartialShape([1, channels, -1, -1]), ov.Type.f32)],
        target,
        folder="decoder",
    )
    if int8:
        # Calibrated at the size the app serves by default (512x512), whatever
        # size the model was trained at.
        latent = CALIBRATION_SIZE // parts.scale_factor
        quantize_unet(target, parts.tokenizer, parts.scheduler, (channels, latent, latent))

    manifest = {
        "format": FORMAT_VERSION,
        "model": short_model_name(settings.model_id),
        # What decodes: "taesd" (a tiny autoencoder) or "vae" (the model's full
        # VAE); for a model that ships a tiny decoder, always its own.
        "decoder": "taesd" if parts.own_tiny_decoder else decoder,
        "own_tiny_decoder": parts.own_tiny_decoder,
        "taesd": (
            f"{short_model_name(settings.model_id)} (its own)"
            if parts.own_tiny_decoder
            else short_model_name(settings.taesd_id)
            if decoder == "taesd"
            else None
        ),
        "openvino": openvino_version(),
        "latent_channels": channels,
        "vae_scale_factor": parts.scale_factor,
        "text_length": length,
        "text_dim": text_dim,
        "weights": "fp16",
        "unet": "int8" if int8 else "fp16",
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def quantize_unet(
    target: Path, tokenizer: Any, scheduler: Any, latent_shape: tuple[int, ...]
) -> None:
    """Replace ``target/unet`` by its INT8 post-training quantization (NNCF).

    The calibration inputs are what the UNet sees at generation: each of
    :data:`CALIBRATION_PROMPTS` through the converted text encoder, seeded
    unit noise as latents, at the timesteps of a 1- and a 4-step run.
    ``ModelType.TRANSFORMER`` (SmoothQuant on the MatMuls) with bias
    correction off, as OpenVINO's Stable Diffusion examples quantize.
    Everything stays in memory; only the quantized IR is written.
    """
    import nncf
    import numpy as np
    import torch

    core = ov.Core()
    text_encoder = core.compile_model(target / "text_encoder" / "openvino_model.xml", "CPU")
    states = []
    for prompt in CALIBRATION_PROMPTS:
        ids = tokenizer(
            prompt,
            padding="max_length",
            max_length=tokenizer.model_max_length,
            truncation=True,
            return_tensors="np",
        ).input_ids
        states.append(text_encoder({0: ids.astype(np.int64)})[0])
    del text_encoder
    timesteps: list[float] = []
    for steps in (1, 4):
        try:
            scheduler.set_timesteps(steps)
        except (ValueError, TypeError, IndexError):
            continue  # a scheduler that cannot take so few steps
        timesteps += [float(t) for t in scheduler.timesteps if float(t) not in timesteps]
    if not timesteps:
        timesteps = [float(scheduler.config.num_train_timesteps - 1)]
    # The UNet's input at any step has unit variance (the scheduler scales the
    # noisy latents so), which seeded normal noise is.
    generator = torch.Generator("cpu").manual_seed(0)
    samples = []
    for index, text in enumerate(states):
        sample = torch.randn((1, *latent_shape), generator=generator).numpy()
        t = np.array([timesteps[index % len(timesteps)]], dtype=np.float32)
        samples.append({0: sample, 1: t, 2: text.astype(np.float32)})
    path = target / "unet" / "openvino_model.xml"
    quantized = nncf.quantize(
        core.read_model(path),
        nncf.Dataset(samples),
        subset_size=len(samples),
        model_type=nncf.ModelType.TRANSFORMER,
        advanced_parameters=nncf.AdvancedQuantizationParameters(disable_bias_correction=True),
    )
    shutil.rmtree(path.parent)
    _write_ir(quantized, path)


def ships_tiny_decoder(model_id: str, downloads: str | None = None) -> bool:
    """Whether the model's own ``vae`` is a tiny autoencoder (the SDXS family),
    from its ``model_index.json`` alone (no weights are loaded)."""
    from diffusers import DiffusionPipeline

    try:
        index = DiffusionPipeline.load_config(model_id, cache_dir=downloads)
    except (OSError, ValueError):
        return False  # the pipeline's own load says what is wrong
    vae = index.get("vae") if isinstance(index, dict) else None
    return isinstance(vae, list | tuple) and len(vae) == 2 and vae[1] == "AutoencoderTiny"


def _load_parts(settings: Settings, decoder: str) -> SimpleNamespace:
    """The pipeline's modules to convert, in eval mode, and its latent scale factor.

    ``decoder`` is ``"taesd"`` (the tiny autoencoder decodes) or ``"vae"``.
    """
    import torch
    from diffusers import AutoencoderTiny, AutoPipelineForText2Image

    if decoder not in ("taesd", "vae"):
        raise ValueError(f"unknown decoder {decoder!r}")
    downloads = cache_dir(settings)
    taesd = None
    if decoder == "taesd" and not ships_tiny_decoder(settings.model_id, downloads):
        # Loaded first: it is small, and a missing TAESD should not cost a
        # full pipeline load before "auto" falls back to the VAE.
        try:
            taesd = AutoencoderTiny.from_pretrained(
                settings.taesd_id, dtype=torch.float32, cache_dir=downloads
            )
        except (OSError, ValueError) as exc:
            raise TinyAutoencoderUnavailable(f"{type(exc).__name__}: {exc}") from exc
    pipe = AutoPipelineForText2Image.from_pretrained(
        settings.model_id, dtype=torch.float32, cache_dir=downloads
    )
    _check_supported(pipe)
    # A one-step small model (the SDXS family) ships its own tiny decoder,
    # distilled together with its UNet: that one, never the generic TAESD.
    own_tiny = isinstance(pipe.vae, AutoencoderTiny)
    if own_tiny:
        taesd = None
    return SimpleNamespace(
        own_tiny_decoder=own_tiny,
        tokenizer=pipe.tokenizer,
        scheduler=pipe.scheduler,
        text_encoder=pipe.text_encoder.eval(),
        unet=pipe.unet.eval(),
        vae=(taesd if taesd is not None else pipe.vae).eval(),
        scale_factor=int(pipe.vae_scale_factor),
    )


def _export_one(
    parts: SimpleNamespace,
    name: str,
    wrap: Callable[[Any], Any],
    example: tuple[Any, ...],
    shapes: list[Any],
    target: Path,
    folder: str | None = None,
) -> None:
    """Convert ``parts.<name>`` (wrapped by ``wrap`` for tracing) into
    ``target/<folder or name>/openvino_model.xml``.

    The torch module is taken out of ``parts`` and dropped once converted,
    before its IR is written, so that the two are not held together longer
    than the conversion needs (memory).
    """
    converted = _convert(wrap(vars(parts).pop(name)), example, shapes)
    _write_ir(converted, target / (folder or name) / "openvino_model.xml")
    del converted
    gc.collect()


def _check_supported(pipe: Any) -> None:
    """Only Stable Diffusion 1.x/2.x-shaped pipelines (sd-turbo among them)."""
    missing = [
        name
        for name in ("text_encoder", "tokenizer", "unet", "vae", "scheduler")
        if getattr(pipe, name, None) is None
    ]
    extra = getattr(pipe, "text_encoder_2", None) is not None
    if missing or extra or pipe.unet.config.time_cond_proj_dim is not None:
        raise ValueError(
            f"{type(pipe).__name__} is not supported by the OpenVINO backend, which runs "
            "Stable Diffusion 1.x/2.x pipelines such as sd-turbo; use the diffusers backend"
        )
    if getattr(pipe.text_encoder.config, "use_attention_mask", False):
        raise ValueError("text encoders that need an attention mask are not supported")


@functools.cache
def _wrappers() -> SimpleNamespace:
    """Modules with plain-tensor ``forward`` around the diffusers modules, for
    tracing. Defined on first use, because ``torch.nn.Module`` needs torch."""
    import torch

    class TextEncoder(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            # The last hidden state, as the diffusers pipeline takes it (no clip skip).
            return self.inner(input_ids)[0]

    class UNet(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor
        ) -> torch.Tensor:
            return self.inner(sample, timestep, encoder_hidden_states, return_dict=False)[0]

    class Decoder(torch.nn.Module):
        def __init__(self, inner: Any, scaling: float) -> None:
            super().__init__()
            self.inner = inner
            self.scaling = scaling

        def forward(self, latents: torch.Tensor) -> torch.Tensor:
            # The pipeline's decode and its image processor's denormalisation,
            # in the graph: the output is RGB in [0, 1].
            image = self.inner.decode(latents / self.scaling, return_dict=False)[0]
            return (image / 2 + 0.5).clamp(0, 1)

    return SimpleNamespace(TextEncoder=TextEncoder, UNet=UNet, Decoder=Decoder)


def export_main() -> None:
    """Entry of the conversion child: a JSON request on stdin, a result line on stdout."""
    from ..config import Settings

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    args = json.loads(sys.stdin.read())
    settings = Settings(
        data_dir=Path(args["data_dir"]),
        model_id=args["model_id"],
        taesd_id=args["taesd_id"],
        backend="openvino",
    )
    result: dict[str, Any]
    try:
        export_model(settings, args["decoder"], Path(args["target"]), int8=args.get("int8", False))
        result = {"ok": True}
    except TinyAutoencoderUnavailable as exc:
        result = {"ok": False, "kind": "taesd", "message": str(exc)}
    except OSError as exc:
        if is_disk_full(exc):
            result = {"ok": False, "kind": "disk_full", "message": str(exc.filename2 or "")}
        else:
            result = {"ok": False, "kind": "os", "message": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:
        traceback.print_exc()
        result = {"ok": False, "kind": "error", "message": f"{type(exc).__name__}: {exc}"}
    print(RESULT_MARK + json.dumps(result), flush=True)
