"""The OpenVINO backend: fast text-to-image on a CPU from the configured diffusers model.

What this module owns:

* **Conversion.** The configured diffusers model (``settings.model_id``, a hub
  id or a local folder) is converted once with ``openvino.convert_model`` on
  its own torch modules: the text encoder, the UNet and one decoder, the tiny
  autoencoder (TAESD, ``settings.taesd_id``) by default and the model's full
  VAE decoder when ``settings.tiny_autoencoder`` is ``"off"``. The IR goes to
  ``<data dir>/models/openvino/<name>``, where the name carries the model,
  the decoder, the batch size, the OpenVINO version and a hash of the sources
  (see :func:`cache_name`), so a change of any of them makes a new folder. A
  folder that already holds an export (its ``aicreative-openvino.json``) can
  also be given as ``model_id``: it is used as it is.
* **Writing the cache safely.** The export is written into a temporary
  folder beside the final one and moved into place with ``os.replace`` (a
  crash leaves no half-written cache, only a temporary folder that the next
  start removes), under a ``filelock.FileLock`` so that two processes starting
  together export once: the second waits, then loads. A full disk is reported
  as such (:class:`BackendUnavailable`), and ``auto`` then moves on.
* **Generation.** The denoising loop runs here with the pipeline's own
  diffusers scheduler (so sd-turbo's one step, classifier-free guidance with
  the negative prompt when guidance > 1, and any scheduler the model ships
  work as in diffusers), seeded noise from ``torch.Generator`` exactly as the
  diffusers backend draws it, and progress per step.

Why ``openvino.convert_model`` and not optimum-intel: optimum-intel 2.2 pins
huggingface_hub below 1.22 (which drags diffusers back to 0.39), pulls in a
CUDA torchvision that breaks every import, and mis-reads text-encoder weights
saved by a newer transformers. The ``openvino`` package alone has no such
pins, and converting the pipeline's own modules also works for local models.

Why torch appears here: the scheduler and the seeded noise are torch code, and
the conversion traces the torch modules, so this backend belongs to the
diffusers family. Only the diffusers backend imports torch at module level
(the package rule), so this module imports torch, diffusers and transformers
lazily, inside the constructor, the generation and the export; importing it
needs only ``openvino``, and a missing ``openvino`` is what the registry
reports first.

Choices made on measurements (full sd-turbo architecture, 2-core AMD EPYC
with AVX-512 and bf16; see ``benchmarks/README.md``):

* The export runs in a child process, so the server's memory never holds the
  torch pipeline (~5 GB while tracing the UNet); the server process holds only
  the compiled models.
* Weights are saved in fp16 (``compress_to_fp16``): the CPU plugin keeps the
  IR's weights mapped besides its own compiled copy, so fp16 files take ~1.7
  GB less resident memory for the UNet than fp32 files. sd-turbo at 512x512
  then peaks at 5.4 GB in bf16 and 7.8 GB in fp32 (issue 7 measured 10.1 GB
  for an fp32 OpenVINO pipeline).
* Shapes are static at compile time: 512x512 is compiled at start-up, and a
  request of another size recompiles the UNet and the decoder for it
  (~2.5 s on a quiet 2-core machine), replacing the previous size so that
  only one copy of the weights is resident. Static shapes ran 1-3% faster
  than free height and width here. Batch is 1: classifier-free guidance
  runs the UNet twice.
* Inference precision is OpenVINO's default for the CPU: bf16 on CPUs with
  native bf16 (AVX-512 BF16, AMX), fp32 elsewhere; the label says which.

Privacy: the prompt is never logged and images never touch the disk. Importing
``openvino`` normally starts Intel's usage telemetry (a Google Analytics event
and an id file in the home folder); this module turns it off before the
import (see :func:`_silence_telemetry`), as the privacy policy promises no
third-party request from the server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import gc
import hashlib
import importlib
import inspect
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

# openvino's own usage telemetry must never run: without its package, openvino
# falls back to a built-in no-op stub (an import-time choice, so it is made
# before the first `import openvino`).
if "openvino" not in sys.modules:
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]

import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402
from filelock import FileLock, Timeout  # noqa: E402

from .. import durable  # noqa: E402
from . import BackendUnavailable  # noqa: E402
from .base import GenerationRequest, ProgressCallback, short_model_name  # noqa: E402
from .prompt_cache import PromptCache  # noqa: E402

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from ..config import Settings

log = logging.getLogger(__name__)

#: Bumped when the layout of an export changes; part of the cache name.
FORMAT_VERSION = 1
#: The file that marks a complete export (written last, moved into place with it).
MANIFEST = "aicreative-openvino.json"
#: The size compiled at start-up (the app's default request size).
DEFAULT_SIZE = 512
#: How long a process waits for another one's export before giving up.
LOCK_TIMEOUT_S = 3600.0
OV_DEVICE = "CPU"
_RESULT_MARK = "AICREATIVE_OPENVINO_EXPORT "


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


# --------------------------------------------------------------------------
# The cache: where an export lives and how it is written.
# --------------------------------------------------------------------------


def openvino_version() -> str:
    """``2026.4.1`` (the release part of ``openvino.get_version()``)."""
    return str(ov.get_version()).split("-")[0]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "model"


def _fingerprint(source: str) -> list[Any]:
    """What identifies a model's content: a local folder's files (name, size,
    mtime), or a hub id as it is (a new upstream revision keeps the name;
    delete the cache folder to convert it again)."""
    path = Path(source)
    if not path.is_dir():
        return [source]
    files = []
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path)
        # Hidden entries (e.g. huggingface_hub's .cache/) are bookkeeping, not the model.
        if file.is_file() and not any(part.startswith(".") for part in relative.parts):
            stat = file.stat()
            files.append([relative.as_posix(), stat.st_size, stat.st_mtime_ns])
    return [str(path.resolve()), files]


def cache_name(model_id: str, decoder: str, taesd_id: str) -> str:
    """A file-system-safe folder name for one export.

    ``sd-turbo-taesd-b1-ov2026.4.1-<hash>``: model, decoder, batch size 1 and
    OpenVINO version for people; the hash covers the full model id (or the
    folder's files), the TAESD source and the export format. Height and width
    are not in it: the files leave them free and each size is fixed when it
    is compiled.
    """
    path = Path(model_id)
    short = path.name if path.is_dir() else model_id.replace("/", "--")
    key = [FORMAT_VERSION, _fingerprint(model_id), decoder]
    if decoder == "taesd":
        key.append(_fingerprint(taesd_id))
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]
    return f"{_slug(short)}-{decoder}-b1-ov{openvino_version()}-{digest}"


def cache_folder(settings: Settings, decoder: str) -> Path:
    """``<data dir>/models/openvino/<cache_name>`` for these settings."""
    return (
        Path(settings.model_cache_dir)
        / "openvino"
        / cache_name(settings.model_id, decoder, settings.taesd_id)
    )


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _disk_full_message(folder: Path, exc: BaseException | None = None) -> str:
    try:
        free = f"{shutil.disk_usage(folder).free / 1e9:.1f} GB free"
    except OSError:
        free = "free space unknown"
    needed = ""
    if isinstance(exc, OSError) and exc.filename2:
        needed = f", it needs about {exc.filename2}"
    log.error("the disk is full: cannot write the OpenVINO model cache in %s", folder)
    # No server path here: the reason is shown by /healthz and in the UI.
    return (
        "openvino: the disk is full: the OpenVINO model cache (<data dir>/models/openvino) "
        f"cannot be written ({free}{needed}). Free some space or set AICREATIVE_DATA_DIR "
        "to a bigger disk; nothing was kept from the failed conversion."
    )


def ensure_export(
    settings: Settings, decoder: str, *, in_subprocess: bool = True
) -> tuple[Path, bool]:
    """The export folder for ``settings`` and ``decoder``, converting it if needed.

    Returns ``(folder, exported)``; ``exported`` is False when the cache was
    already there (or another process wrote it while this one waited).
    Raises :class:`TinyAutoencoderUnavailable` when TAESD cannot load,
    :class:`BackendUnavailable` for a full disk, and the loader's own errors
    (OSError for a missing model) otherwise.
    """
    final = cache_folder(settings, decoder)
    if (final / MANIFEST).is_file():
        return final, False
    _check_reachable(settings)
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with _export_lock(parent / f"{final.name}.lock"):
            if (final / MANIFEST).is_file():  # another process wrote it meanwhile
                return final, False
            _write_export(settings, decoder, final, in_subprocess)
            return final, True
    except OSError as exc:
        if _is_disk_full(exc):
            raise BackendUnavailable(_disk_full_message(parent, exc)) from exc
        raise


def _check_reachable(settings: Settings) -> None:
    """Fail at once, in this process, for a model that cannot be loaded: a
    missing folder, or a hub model that is not cached while the hub is offline
    (the conversion would start a process only to find that out)."""
    model = settings.model_id
    if Path(model).is_dir():
        return
    if os.path.isabs(model) or model.startswith((".", "~")) or model.count("/") > 1:
        raise OSError(f"no model folder at {model}")
    from huggingface_hub import constants, try_to_load_from_cache

    from . import diffusers_backend as db

    cached = try_to_load_from_cache(model, "model_index.json", cache_dir=db._cache_dir(settings))
    if constants.HF_HUB_OFFLINE and not isinstance(cached, str):
        raise OSError(f"{model} is not in the model cache and the hub is offline")


@contextlib.contextmanager
def _export_lock(path: Path) -> Iterator[None]:
    """Hold ``path``'s file lock, saying so in the log when another process has it."""
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("another process is converting the model to OpenVINO; waiting for it")
        try:
            lock.acquire(timeout=LOCK_TIMEOUT_S)
        except Timeout:
            raise BackendUnavailable(
                f"openvino: waited {LOCK_TIMEOUT_S:.0f} s for another process to convert "
                f"the model (lock {path})"
            ) from None
    try:
        yield
    finally:
        lock.release()


def _write_export(settings: Settings, decoder: str, final: Path, in_subprocess: bool) -> None:
    """Export into a temporary folder beside ``final``, then move it into place.

    Called under the lock. ``os.replace`` of a folder is atomic on one file
    system: readers see no export or a whole one.
    """
    parent = final.parent
    _remove_leftovers(parent, final)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=parent))
    started = time.perf_counter()
    log.info(
        "converting %s (%s decoder) to OpenVINO once, into %s; this takes minutes on a small CPU",
        short_model_name(settings.model_id),
        decoder,
        final,
    )
    try:
        if in_subprocess:
            _export_in_child(settings, decoder, work)
        else:
            export_model(settings, decoder, work)
        durable.replace_folder(work, final)
    except BaseException:
        # Frees the space at once; a killed process leaves it to the next start.
        shutil.rmtree(work, ignore_errors=True)
        raise
    log.info("OpenVINO export written in %.0f s: %s", time.perf_counter() - started, final)


def _remove_leftovers(parent: Path, final: Path) -> None:
    """Remove what a killed export left (called under the lock)."""
    for stale in durable.remove_orphans(parent, f".{final.name}.tmp-", suffix=""):
        log.warning("removed an unfinished OpenVINO export: %s", stale)
    if final.exists():  # a folder without its manifest is not an export
        shutil.rmtree(final, ignore_errors=True)


# --------------------------------------------------------------------------
# The export itself (runs in a child process by default).
# --------------------------------------------------------------------------


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


def export_model(settings: Settings, decoder: str, target: Path) -> dict[str, Any]:
    """Convert the configured model into ``target`` (an existing, empty folder).

    Writes ``text_encoder/``, ``unet/`` and ``decoder/`` (OpenVINO IR,
    ``openvino_model.xml``/``.bin``), ``tokenizer/``, ``scheduler/`` and the
    manifest, last. Returns the manifest.
    """
    import torch
    from diffusers import AutoencoderTiny, AutoPipelineForText2Image

    from . import diffusers_backend as db

    cache_dir = db._cache_dir(settings)
    taesd = None
    if decoder == "taesd":
        # Loaded first: it is small, and a missing TAESD should not cost a
        # full pipeline load before "auto" falls back to the VAE.
        try:
            taesd = AutoencoderTiny.from_pretrained(
                settings.taesd_id, dtype=torch.float32, cache_dir=cache_dir
            )
        except (OSError, ValueError) as exc:
            raise TinyAutoencoderUnavailable(f"{type(exc).__name__}: {exc}") from exc
    elif decoder != "vae":
        raise ValueError(f"unknown decoder {decoder!r}")
    pipe = AutoPipelineForText2Image.from_pretrained(
        settings.model_id, dtype=torch.float32, cache_dir=cache_dir
    )
    _check_supported(pipe)
    tokenizer, scheduler = pipe.tokenizer, pipe.scheduler
    text_encoder, unet = pipe.text_encoder.eval(), pipe.unet.eval()
    vae = (taesd if taesd is not None else pipe.vae).eval()
    scale_factor = int(pipe.vae_scale_factor)
    del pipe  # each module is dropped after its conversion (memory)

    tokenizer.save_pretrained(target / "tokenizer")
    scheduler.save_pretrained(target / "scheduler")
    length = int(tokenizer.model_max_length)
    text_dim = int(text_encoder.config.hidden_size)
    channels = int(unet.config.in_channels)
    # Example sizes for tracing only: the IR leaves height and width free.
    side = int(unet.config.sample_size)
    ids = torch.zeros((1, length), dtype=torch.int64)

    converted = _convert(
        _wrappers().TextEncoder(text_encoder), (ids,), [(ov.PartialShape([1, length]), ov.Type.i64)]
    )
    del text_encoder
    _write_ir(converted, target / "text_encoder" / "openvino_model.xml")
    del converted
    gc.collect()

    example = (
        torch.randn(1, channels, side, side),
        torch.tensor([999.0]),
        torch.randn(1, length, text_dim),
    )
    shapes = [
        (ov.PartialShape([1, channels, -1, -1]), ov.Type.f32),
        (ov.PartialShape([1]), ov.Type.f32),
        (ov.PartialShape([1, length, text_dim]), ov.Type.f32),
    ]
    converted = _convert(_wrappers().UNet(unet), example, shapes)
    del unet, example
    _write_ir(converted, target / "unet" / "openvino_model.xml")
    del converted
    gc.collect()

    scaling = float(vae.config.scaling_factor)
    converted = _convert(
        _wrappers().Decoder(vae, scaling),
        (torch.randn(1, channels, side, side),),
        [(ov.PartialShape([1, channels, -1, -1]), ov.Type.f32)],
    )
    del vae
    _write_ir(converted, target / "decoder" / "openvino_model.xml")
    del converted
    gc.collect()

    manifest = {
        "format": FORMAT_VERSION,
        "model": short_model_name(settings.model_id),
        "decoder": decoder,
        "taesd": short_model_name(settings.taesd_id) if decoder == "taesd" else None,
        "openvino": openvino_version(),
        "latent_channels": channels,
        "vae_scale_factor": scale_factor,
        "text_length": length,
        "text_dim": text_dim,
        "weights": "fp16",
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


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


def _export_in_child(settings: Settings, decoder: str, target: Path) -> None:
    """Run :func:`export_model` in a fresh Python, so that the torch pipeline's
    memory (~5 GB for sd-turbo while tracing) is never part of the server's,
    and an out-of-memory kill takes the child, not the server."""
    payload = json.dumps(
        {
            "data_dir": str(settings.data_dir),
            "model_id": settings.model_id,
            "taesd_id": settings.taesd_id,
            "decoder": decoder,
            "target": str(target),
        }
    )
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    code = "from aicreative.backends.openvino_backend import _export_main; _export_main()"
    proc = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(_RESULT_MARK):
            result = json.loads(line[len(_RESULT_MARK) :])
    if result is None:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        how = (
            "was killed (out of memory?)"
            if proc.returncode in (-9, 137)
            else f"exited with {proc.returncode}"
        )
        log.error("OpenVINO conversion process %s:\n%s", how, proc.stderr[-4000:])
        raise BackendUnavailable(f"openvino: the conversion process {how}: {tail[0]}")
    if result["ok"]:
        return
    kind, message = result["kind"], result["message"]
    if kind == "taesd":
        raise TinyAutoencoderUnavailable(message)
    if kind == "disk_full":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target), None, message)
    if kind == "os":
        raise OSError(message)
    raise BackendUnavailable(f"openvino: the conversion failed: {message}")


def _export_main() -> None:
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
        export_model(settings, args["decoder"], Path(args["target"]))
        result = {"ok": True}
    except TinyAutoencoderUnavailable as exc:
        result = {"ok": False, "kind": "taesd", "message": str(exc)}
    except OSError as exc:
        if _is_disk_full(exc):
            result = {"ok": False, "kind": "disk_full", "message": str(exc.filename2 or "")}
        else:
            result = {"ok": False, "kind": "os", "message": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:
        traceback.print_exc()
        result = {"ok": False, "kind": "error", "message": f"{type(exc).__name__}: {exc}"}
    print(_RESULT_MARK + json.dumps(result), flush=True)


# --------------------------------------------------------------------------
# The backend.
# --------------------------------------------------------------------------


def _ready_export(model_id: str) -> Path | None:
    """``model_id`` itself when it is a folder that holds a finished export."""
    path = Path(model_id)
    return path if path.is_dir() and (path / MANIFEST).is_file() else None


def _user_message(exc: BaseException) -> str:
    text = str(exc).lower()
    if isinstance(exc, MemoryError) or "bad_alloc" in text or "out of memory" in text:
        return (
            "The image model ran out of memory. Try a smaller size or fewer images; "
            "your credits were refunded."
        )
    from . import diffusers_backend as db

    return db._user_message(exc)


@dataclasses.dataclass
class _Compiled:
    """The UNet and decoder compiled for one latent size."""

    size: tuple[int, int]
    unet: Any
    decoder: Any


class OpenVINOBackend:
    """Text-to-image with OpenVINO on the CPU; one instance serves all requests."""

    name = "openvino"

    def __init__(
        self,
        settings: Settings,
        *,
        inference_precision: str | None = None,
        export_in_subprocess: bool = True,
        compile_size: int | None = DEFAULT_SIZE,
    ) -> None:
        """Convert (once) or find the export, then compile it for ``compile_size``.

        ``inference_precision`` (``"f32"``, ``"bf16"``) overrides OpenVINO's
        choice for the CPU; tests use ``"f32"`` to compare with diffusers.
        ``export_in_subprocess=False`` converts in this process (tests).
        ``compile_size`` is the square image side compiled at start-up, so
        that the first request at that size is fast; None waits for a request.
        """
        # torch first: without it nothing below works, and the registry then
        # reports "a package is missing (torch)".
        import torch  # noqa: F401

        from . import diffusers_backend as db

        self.model_id = settings.model_id
        self.exported = False
        wants_taesd = db._wants_tiny_autoencoder(settings.tiny_autoencoder, "cpu")
        given_export = _ready_export(settings.model_id)
        folder = given_export
        if folder is None:
            decoder = "taesd" if wants_taesd else "vae"
            try:
                folder, self.exported = ensure_export(
                    settings, decoder, in_subprocess=export_in_subprocess
                )
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
                folder, self.exported = ensure_export(
                    settings, "vae", in_subprocess=export_in_subprocess
                )
        self.folder = folder
        self._load(folder, inference_precision, compile_size)
        if given_export is not None and wants_taesd != self.uses_tiny_autoencoder:
            log.warning(
                "the OpenVINO export %s decodes with %s, whatever tiny_autoencoder says",
                folder.name,
                "TAESD" if self.uses_tiny_autoencoder else "the full VAE",
            )
        self._lock = threading.Lock()
        decoder_text = " + TAESD" if self.uses_tiny_autoencoder else ""
        # The manifest's name: the model's, even when model_id names an export folder.
        self.label = (
            f"{self.manifest['model']}{decoder_text} via OpenVINO on CPU ({self.precision})"
        )
        log.info("openvino backend ready: %s (cache %s)", self.label, folder)

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

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Image.Image]:
        """Make ``request.num_images`` images; image ``i`` uses ``image_seeds()[i]``.

        Exceptions raised by ``on_progress`` (a cancellation) pass through
        unchanged; any other failure becomes a :class:`BackendError`.
        """
        from .diffusers_backend import run_guarded

        # One request at a time (self._lock): infer requests are not
        # thread-safe, and the CPU is fully used by one anyway.
        return run_guarded("openvino", self._lock, self._run, request, on_progress, _user_message)

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
                        _report(on_progress, index * request.steps + done, total, progress_errors)
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


def _report(
    on_progress: ProgressCallback | None,
    done: int,
    total: int,
    progress_errors: list[BaseException],
) -> None:
    if on_progress is None:
        return
    try:
        on_progress(done, total)
    except BaseException as exc:
        # Remembered so that generate() lets it through unwrapped.
        progress_errors.append(exc)
        raise


def create(settings: Settings) -> OpenVINOBackend:
    """Registry factory. A model that cannot load raises OSError (offline, missing).

    ``cpu_precision`` bf16 or f32 sets OpenVINO's inference precision; auto
    leaves OpenVINO's own choice (calibration.py measures which is faster).
    """
    precision = settings.cpu_precision if settings.cpu_precision != "auto" else None
    return OpenVINOBackend(settings, inference_precision=precision)
