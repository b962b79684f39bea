"""The OpenVINO backend: fast text-to-image on a CPU from the configured diffusers model.

What this module owns: the runtime. It finds the export of the configured
model (converting it once through :mod:`.openvino_cache`, which owns the
cache, and :mod:`.openvino_export`, which owns the conversion), compiles it
and runs generation. A folder that already holds an export (its
``aicreative-openvino.json``) can also be given as ``model_id``: it is used
as it is.

Generation: the denoising loop runs here with the pipeline's own diffusers
scheduler (so sd-turbo's one step, classifier-free guidance with the
negative prompt when guidance > 1, and any scheduler the model ships work as
in diffusers), seeded noise from ``torch.Generator`` exactly as the
diffusers backend draws it, and progress per step.

Why torch appears here: the scheduler and the seeded noise are torch code,
so this backend belongs to the diffusers family. torch, diffusers and
transformers are imported lazily, inside the constructor and the generation;
importing this module needs only ``openvino`` (taken from
:mod:`.openvino_export`, which turns openvino's telemetry off before
openvino's first import), and a missing ``openvino`` is what the registry
reports first.

Choices made on measurements (full sd-turbo architecture, 2-core AMD EPYC
with AVX-512 and bf16; see ``benchmarks/README.md``):

* The server process holds only the compiled models; the export runs in a
  child process (:mod:`.openvino_cache`). sd-turbo at 512x512 peaks at
  5.4 GB in bf16 and 7.8 GB in fp32 with fp16 weight files (issue 7
  measured 10.1 GB for an fp32 OpenVINO pipeline).
* Shapes are static at compile time: 512x512 is compiled at start-up, and a
  request of another size recompiles the UNet and the decoder for it
  (~2.5 s on a quiet 2-core machine), replacing the previous size so that
  only one copy of the weights is resident. Static shapes ran 1-3% faster
  than free height and width here. Batch is 1: classifier-free guidance
  runs the UNet twice.
* Inference precision is OpenVINO's default for the CPU: bf16 on CPUs with
  native bf16 (AVX-512 BF16, AMX), fp32 elsewhere; the label says which.
  ``AICREATIVE_CPU_PRECISION=int8`` adds an INT8 UNet (NNCF, made once with
  the export; :func:`.openvino_export.quantize_unet`).
* Threads and streams are OpenVINO's for ``PERFORMANCE_HINT=LATENCY``: all
  the cores this process may use, read from the machine, and one stream.
  Half the threads ran 2x slower, and two streams with two requests in
  flight gave no more images per second on a quiet 2-core Zen 5.

Privacy: the prompt is never logged and images never touch the disk.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import inspect
import json
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import BackendUnavailable
from .base import GenerationRequest, ProgressCallback
from .common import GuardedBackend, report_progress, wants_tiny_autoencoder
from .openvino_cache import ensure_export
from .openvino_export import FORMAT_VERSION, MANIFEST, TinyAutoencoderUnavailable, ov
from .prompt_cache import PromptCache

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from ..config import Settings

log = logging.getLogger(__name__)

#: The size compiled at start-up (the app's default request size).
DEFAULT_SIZE = 512
OV_DEVICE = "CPU"


def _ready_export(model_id: str) -> Path | None:
    """``model_id`` itself when it is a folder that holds a finished export."""
    path = Path(model_id)
    return path if path.is_dir() and (path / MANIFEST).is_file() else None


@dataclasses.dataclass
class _Compiled:
    """The UNet and decoder compiled for one latent size."""

    size: tuple[int, int]
    unet: Any
    decoder: Any


class OpenVINOBackend(GuardedBackend):
    """Text-to-image with OpenVINO on the CPU; one instance serves all requests."""

    name = "openvino"

    def __init__(
        self,
        settings: Settings,
        *,
        inference_precision: str | None = None,
        export_in_subprocess: bool = True,
        compile_size: int | None = DEFAULT_SIZE,
        int8: bool = False,
    ) -> None:
        """Convert (once) or find the export, then compile it for ``compile_size``.

        ``inference_precision`` (``"f32"``, ``"bf16"``) overrides OpenVINO's
        choice for the CPU; tests use ``"f32"`` to compare with diffusers.
        ``export_in_subprocess=False`` converts in this process (tests).
        ``compile_size`` is the square image side compiled at start-up, so
        that the first request at that size is fast; None waits for a request.
        ``int8`` uses an export whose UNet is quantized to INT8 (made once, by
        NNCF; the rest runs in ``inference_precision``).
        """
        # torch first: without it nothing below works, and the registry then
        # reports "a package is missing (torch)".
        import torch  # noqa: F401

        self.model_id = settings.model_id
        self.exported = False
        wants_taesd = wants_tiny_autoencoder(settings.tiny_autoencoder, "cpu")
        given_export = _ready_export(settings.model_id)
        folder = given_export
        if folder is None and int8 and importlib.util.find_spec("nncf") is None:
            # (A ready export folder needs no NNCF: it is served as it is.)
            raise BackendUnavailable(
                "openvino: AICREATIVE_CPU_PRECISION=int8 needs NNCF "
                "(pip install '.[openvino]'), which is not installed"
            )
        if folder is None:
            decoder = "taesd" if wants_taesd else "vae"
            try:
                folder, self.exported = self._export(settings, decoder, export_in_subprocess, int8)
            except TinyAutoencoderUnavailable as exc:
                if settings.tiny_autoencoder == "on":
                    raise BackendUnavailable(
                        f"openvino: the tiny autoencoder {settings.taesd_id} is unavailable ({exc})"
                    ) from exc
                log.warning(
                    "tiny autoencoder %s unavailable (%s); converting with the full VAE, "
                    "which decodes several times slower on a CPU",
                    settings.taesd_id,
                    exc,
                )
                folder, self.exported = self._export(settings, "vae", export_in_subprocess, int8)
        self.folder = folder
        self._load(folder, inference_precision, compile_size)
        if int8 and self.manifest.get("unet") != "int8":
            log.warning(
                "AICREATIVE_CPU_PRECISION=int8, but the OpenVINO export %s has an fp16 UNet; "
                "serving it as it is",
                folder.name,
            )
        if given_export is not None and wants_taesd != self.uses_tiny_autoencoder:
            log.warning(
                "the OpenVINO export %s decodes with %s, whatever tiny_autoencoder says",
                folder.name,
                "TAESD" if self.uses_tiny_autoencoder else "the full VAE",
            )
        # One request at a time (GuardedBackend.generate takes it): infer
        # requests are not thread-safe, and the CPU is fully used by one anyway.
        self._lock = threading.Lock()
        decoder_text = " + TAESD" if self.uses_tiny_autoencoder else ""
        if self.manifest.get("own_tiny_decoder"):
            decoder_text = " + its tiny decoder"
        unet_text = "INT8 UNet, " if self.manifest.get("unet") == "int8" else ""
        # The manifest's name: the model's, even when model_id names an export folder.
        self.label = (
            f"{self.manifest['model']}{decoder_text} via OpenVINO on CPU "
            f"({unet_text}{self.precision})"
        )
        log.info("openvino backend ready: %s (cache %s)", self.label, folder)

    @staticmethod
    def _export(
        settings: Settings, decoder: str, in_subprocess: bool, int8: bool
    ) -> tuple[Path, bool]:
        """The export to load; for INT8, the fp16 one when quantizing fails.

        Quantizing needs ~15 GB once (``benchmarks/README.md``): a machine
        without it kills the conversion process, and serving the fp16 UNet
        beats serving nothing. Later starts do not try again (``failure_marker``).
        """
        if not int8:
            return ensure_export(settings, decoder, in_subprocess=in_subprocess)
        try:
            return ensure_export(settings, decoder, in_subprocess=in_subprocess, int8=True)
        except TinyAutoencoderUnavailable:
            raise  # the caller falls back to the full VAE, as without INT8
        except (BackendUnavailable, OSError) as exc:
            log.error("the INT8 UNet could not be made (%s); serving the fp16 export", exc)
            return ensure_export(settings, decoder, in_subprocess=in_subprocess)

    def _load(
        self, folder: Path, inference_precision: str | None, compile_size: int | None
    ) -> None:
        import diffusers
        from transformers import AutoTokenizer

        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT_VERSION:
            raise BackendUnavailable(
                f"openvino: {folder.name} was written in export format "
                f"{manifest.get('format')}, this version reads {FORMAT_VERSION}"
            )
        self.manifest = manifest
        self.uses_tiny_autoencoder = manifest["decoder"] == "taesd"
        self._tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
        scheduler_config = json.loads(
            (folder / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8")
        )
        self._scheduler_cls = getattr(diffusers, scheduler_config["_class_name"])
        self._scheduler_config = scheduler_config
        self._core = ov.Core()
        self._config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if inference_precision:
            self._config["INFERENCE_PRECISION_HINT"] = inference_precision
        text_encoder = self._core.read_model(folder / "text_encoder" / "openvino_model.xml")
        text_encoder.reshape({0: [1, manifest["text_length"]]})
        compiled = self._core.compile_model(text_encoder, OV_DEVICE, self._config)
        del text_encoder
        self.precision = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self._text_encoder = compiled.create_infer_request()
        self._prompts: PromptCache[np.ndarray] = PromptCache()
        self._compiled: _Compiled | None = None
        if compile_size:
            side = compile_size // manifest["vae_scale_factor"]
            self._compile_for((side, side))

    def _compile_for(self, size: tuple[int, int]) -> _Compiled:
        """The UNet and decoder with static shapes for latent ``size`` (h, w).

        One size is kept: a new one replaces it (dropped first, so that two
        copies of the UNet's weights are never resident together).
        """
        if self._compiled is not None and self._compiled.size == size:
            return self._compiled
        self._compiled = None
        gc.collect()
        started = time.perf_counter()
        manifest = self.manifest
        height, width = size
        channels = manifest["latent_channels"]
        unet = self._core.read_model(self.folder / "unet" / "openvino_model.xml")
        unet.reshape(
            {
                0: [1, channels, height, width],
                1: [1],
                2: [1, manifest["text_length"], manifest["text_dim"]],
            }
        )
        unet_request = self._core.compile_model(
            unet, OV_DEVICE, self._config
        ).create_infer_request()
        del unet
        decoder = self._core.read_model(self.folder / "decoder" / "openvino_model.xml")
        decoder.reshape({0: [1, channels, height, width]})
        decoder_request = self._core.compile_model(
            decoder, OV_DEVICE, self._config
        ).create_infer_request()
        del decoder
        gc.collect()
        scale = manifest["vae_scale_factor"]
        log.info(
            "openvino: compiled for %dx%d in %.1f s",
            width * scale,
            height * scale,
            time.perf_counter() - started,
        )
        self._compiled = _Compiled(size, unet_request, decoder_request)
        return self._compiled

    def _run(
        self,
        request: GenerationRequest,
        on_progress: ProgressCallback | None,
        progress_errors: list[BaseException],
    ) -> list[Image.Image]:
        import torch
        from diffusers.utils.torch_utils import randn_tensor
        from PIL import Image

        scale = self.manifest["vae_scale_factor"]
        size = (request.height // scale, request.width // scale)
        compiled = self._compile_for(size)
        # As diffusers: guidance only above 1, with "" when there is no negative prompt.
        guided = request.guidance > 1.0
        text = self._encode(request.prompt)
        negative = self._encode(request.negative_prompt) if guided else None
        seeds = request.image_seeds()
        total = request.steps * len(seeds)
        shape = (1, self.manifest["latent_channels"], *size)
        images: list[Image.Image] = []
        with torch.inference_mode():
            for index, seed in enumerate(seeds):
                # A fresh scheduler per image: schedulers keep state (step index).
                scheduler = self._scheduler_cls.from_config(self._scheduler_config)
                scheduler.set_timesteps(request.steps, device="cpu")
                timesteps = scheduler.timesteps
                generator = torch.Generator("cpu").manual_seed(seed)
                # The same draw as the diffusers pipeline, so a seed means the same noise.
                latents = randn_tensor(
                    shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32
                )
                latents = latents * scheduler.init_noise_sigma
                step_kwargs = _step_kwargs(scheduler, generator)
                reported = 0
                for i, t in enumerate(timesteps):
                    model_input = scheduler.scale_model_input(latents, t)
                    noise = self._unet(compiled, model_input, t, text)
                    if negative is not None:
                        uncond = self._unet(compiled, model_input, t, negative)
                        noise = uncond + request.guidance * (noise - uncond)
                    latents = scheduler.step(noise, t, latents, **step_kwargs, return_dict=False)[0]
                    # Multi-stage schedulers (Heun) take more model calls than
                    # steps; progress counts the steps asked for.
                    done = (i + 1) * request.steps // len(timesteps)
                    if done > reported:
                        reported = done
                        report_progress(
                            on_progress, index * request.steps + done, total, progress_errors
                        )
                pixels = compiled.decoder.infer({0: latents.numpy()})[0][0]
                array = (np.transpose(pixels, (1, 2, 0)) * 255).round().astype(np.uint8)
                images.append(Image.fromarray(array, "RGB"))
        return images

    def _encode(self, text: str) -> np.ndarray:
        # Repeated prompts (generate again, each image of a request, the
        # same negative prompt) skip the text encoder; memory only.
        return self._prompts.get(text, self._run_text_encoder)

    def _run_text_encoder(self, text: str) -> np.ndarray:
        ids = self._tokenizer(
            text,
            padding="max_length",
            max_length=self.manifest["text_length"],
            truncation=True,
            return_tensors="np",
        ).input_ids.astype(np.int64)
        return np.asarray(self._text_encoder.infer({0: ids})[0])

    @staticmethod
    def _unet(compiled: _Compiled, sample: torch.Tensor, t: torch.Tensor, text: np.ndarray) -> Any:
        import torch

        timestep = np.asarray([float(t)], dtype=np.float32)
        # infer() returns copies, so the next call cannot overwrite this result.
        out = compiled.unet.infer({0: sample.numpy(), 1: timestep, 2: text})[0]
        return torch.from_numpy(np.asarray(out))


def _step_kwargs(scheduler: Any, generator: Any) -> dict[str, Any]:
    """``eta``/``generator`` for schedulers whose ``step`` takes them (as diffusers does)."""
    accepted = set(inspect.signature(scheduler.step).parameters)
    kwargs: dict[str, Any] = {}
    if "eta" in accepted:
        kwargs["eta"] = 0.0
    if "generator" in accepted:
        kwargs["generator"] = generator
    return kwargs


def create(settings: Settings) -> OpenVINOBackend:
    """Registry factory. A model that cannot load raises OSError (offline, missing).

    ``cpu_precision`` bf16 or f32 sets OpenVINO's inference precision; auto
    leaves OpenVINO's own choice (calibration.py measures which is faster);
    int8 quantizes the UNet (once) and leaves the rest to OpenVINO's choice.
    """
    if settings.cpu_precision == "int8":
        return OpenVINOBackend(settings, int8=True)
    precision = settings.cpu_precision if settings.cpu_precision != "auto" else None
    return OpenVINOBackend(settings, inference_precision=precision)
