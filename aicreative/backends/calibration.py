"""Choosing the fastest CPU path by measuring it here, once.

Which precision is fastest is a property of the CPU, not of the library: the
same benchmark ran OpenVINO 2x faster in bf16 than in fp32 on a Zen 4 with
avx512_bf16, and 1.7x *slower* in bf16 on a Xeon with avx512_bf16 and no
AMX (``benchmarks/README.md``). No rule of thumb can know that, so on the
first start on a machine the app times a short run of each viable
configuration (OpenVINO in bf16 where the CPU has native bf16, OpenVINO in
fp32, and diffusers, with TAESD where the settings allow it), keeps the
fastest and caches the decision in the data dir, keyed by the CPU (model
and flags), the model and the library versions. Later starts read it back
and build only the winner, so they are as fast as before; a new CPU, model
or library version measures again.

``AICREATIVE_CPU_PRECISION`` (``bf16`` or ``f32``) skips the measurement;
``int8`` (an INT8 UNet, quantized once by NNCF) is only ever chosen so: it
measured 1.25-1.54x faster than bf16 for the UNet, but quantizing takes
minutes and ~15 GB once (``benchmarks/README.md``).
The log, ``/healthz`` and the UI's backend label say what was chosen and the
figure it was chosen on. Calibration runs at start-up, before the server
takes requests, never during one. This module imports no model library: the
candidates are built through the backend registry's modules, lazily.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import durable
from .base import Backend, GenerationRequest
from .common import package_version

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

CACHE_FILE = "cpu-calibration.json"
PRECISIONS = ("auto", "bf16", "f32", "int8")
#: CPU flags that change which precision and kernels are fast.
FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_bf16",
    "amx_int8",
    "amx_tile",
)
#: What a calibration run makes: the app's default request (sd-turbo's one step).
CALIBRATION_REQUEST = {"prompt": "a lighthouse at dawn", "seed": 1, "steps": 1}
#: A candidate whose warm-up image alone takes this many times the best figure
#: so far is taken not to win, and is dropped without its timed images. A
#: warm-up is slower than the steady state, by 1.2-1.9x for OpenVINO fp32 and
#: 1.3x for diffusers where measured, 2.5x once (``benchmarks/README.md``), so
#: a close race can be misjudged, by at most that ratio halved; bf16, whose
#: first images are the slowest to settle, is measured first and never
#: dropped. On a Zen 4 the rule cut the calibration from 71-76 s to 47-49 s,
#: picking the same.
DISMISS_AFTER_WARM_UP = 2.0


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One configuration to measure: a name and how to build it."""

    name: str
    build: Callable[[], Backend]


@dataclasses.dataclass(frozen=True)
class Decision:
    """What calibration chose, and on what figures (seconds per image)."""

    winner: str
    seconds: dict[str, float]
    measured_at: str
    cached: bool = False
    #: Candidates that could not load, with the reason.
    skipped: tuple[str, ...] = ()
    #: Candidates timed on their warm-up image only: it showed they could not win.
    dismissed: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for the log, /healthz and the label: the winner and the figures."""
        others = ", ".join(
            f"{name} {_secs(secs)} s" + (" (warm-up)" if name in self.dismissed else "")
            for name, secs in self.seconds.items()
            if name != self.winner
        )
        text = f"{self.winner} measured fastest here ({_secs(self.seconds[self.winner])} s/image"
        text += f"; {others})" if others else ")"
        when = "cached from " if self.cached else "measured "
        text = f"{text}, {when}{self.measured_at}"
        if self.skipped:
            text += " (could not load: " + "; ".join(self.skipped) + ")"
        return text


def _secs(seconds: float) -> str:
    return f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"


def cpu_flags() -> tuple[str, str]:
    """(CPU model name, the speed-relevant flags it has), from /proc/cpuinfo."""
    model, flags = "unknown CPU", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            elif line.startswith(("flags", "Features")) and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return model, " ".join(flag for flag in FLAGS if flag in flags)


def has_native_bf16(flags: str) -> bool:
    """Whether bf16 runs natively (else OpenVINO falls back to fp32 and bf16 is no option)."""
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def calibration_key(settings: Settings) -> str:
    """A stable key for 'this CPU, this model, these libraries, these choices'."""
    model, flags = cpu_flags()
    parts = {
        "cpu": model,
        "flags": flags,
        "cores": os.cpu_count(),
        "model": settings.model_id,
        "tiny_autoencoder": settings.tiny_autoencoder,
        "taesd": settings.taesd_id,
        "versions": {name: package_version(name) for name in ("torch", "diffusers", "openvino")},
        # How candidates are timed; a change measures again (2: best of two images).
        "method": 2,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def candidates(settings: Settings, *, bf16: bool | None = None) -> list[Candidate]:
    """The viable CPU configurations for ``settings``, in the order they are tried.

    Each is built through the backend registry, so that a test can put a
    stand-in there; OpenVINO's precision travels in the settings.
    """
    from . import load_backend

    if bf16 is None:
        bf16 = has_native_bf16(cpu_flags()[1])

    def build(name: str, **changes: Any) -> Callable[[], Backend]:
        return lambda: load_backend(name, settings.replace(**changes))

    found = []
    if bf16:
        found.append(Candidate("openvino-bf16", build("openvino", cpu_precision="bf16")))
    found.append(Candidate("openvino-f32", build("openvino", cpu_precision="f32")))
    found.append(Candidate("diffusers", build("diffusers")))
    return found


def time_backend(backend: Backend, beat: float = float("inf"), runs: int = 2) -> tuple[float, bool]:
    """Seconds per image at the app's default request: the best of ``runs``
    images after one warm-up image, and whether they were timed.

    Two, not one: on a Zen 5 EPYC, OpenVINO's bf16 took 2.14 s on its first
    timed image and 1.3-1.4 s from then on (f32: 2.4 s throughout), so one
    image nearly picked the slower precision (``benchmarks/README.md``).
    When the warm-up alone takes over :data:`DISMISS_AFTER_WARM_UP` times
    ``beat`` (the best so far), its figure is returned and nothing more is
    timed: ``(warm-up seconds, False)``.
    """
    request = GenerationRequest(**CALIBRATION_REQUEST)  # type: ignore[arg-type]
    started = time.perf_counter()
    backend.generate(request)  # warm-up: first-call set-up is not the steady state
    warm_up = time.perf_counter() - started
    if warm_up > DISMISS_AFTER_WARM_UP * beat:
        return warm_up, False
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        backend.generate(request)
        best = min(best, time.perf_counter() - started)
    return best, True


def choose(
    settings: Settings,
    options: list[Candidate],
    *,
    measure: Callable[[Backend, float], tuple[float, bool]] = time_backend,
) -> tuple[Backend, Decision]:
    """The fastest of ``options`` here, from the cached decision or by measuring.

    Each candidate is built, timed and dropped before the next is built, so
    that two models are never resident together; the winner is then built
    again (its export is on disk, so that is quick). A candidate that cannot
    load is skipped and said in the log; one whose warm-up alone takes over
    twice the best figure so far is not timed further (:func:`time_backend`).
    """
    from . import BackendUnavailable

    path = Path(settings.data_dir) / CACHE_FILE
    key = calibration_key(settings)
    names = [option.name for option in options]
    decision = _cached_decision(_read(path).get(key), names)
    if decision is not None:
        try:
            backend = _build(options, decision.winner)
        except (BackendUnavailable, ImportError, OSError) as exc:
            log.warning(
                "calibrated choice %s no longer loads (%s); measuring again", decision.winner, exc
            )
        else:
            log.info("cpu calibration: %s", decision.summary())
            return backend, decision
    seconds: dict[str, float] = {}
    failures: list[str] = []
    dismissed: list[str] = []
    started = time.perf_counter()
    for option in options:
        try:
            backend = option.build()
        except (BackendUnavailable, ImportError, OSError, ValueError, RuntimeError) as exc:
            failures.append(f"{option.name}: {exc}")
            log.info("cpu calibration: skipping %s (%s)", option.name, exc)
            continue
        try:
            figure, timed = measure(backend, min(seconds.values(), default=float("inf")))
        finally:
            del backend
            gc.collect()
        seconds[option.name] = figure
        if timed:
            log.info("cpu calibration: %s %.2f s/image", option.name, figure)
        else:
            dismissed.append(option.name)
            log.info(
                "cpu calibration: %s %.2f s on its warm-up image: not timed further",
                option.name,
                figure,
            )
    if not seconds:
        raise BackendUnavailable("no CPU backend could load: " + "; ".join(failures))
    winner = min(seconds, key=seconds.__getitem__)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    decision = Decision(winner, seconds, now, skipped=tuple(failures), dismissed=tuple(dismissed))
    _write(
        path,
        key,
        {"winner": winner, "seconds": seconds, "measured_at": now, "dismissed": dismissed},
    )
    log.info("cpu calibration: %s (took %.0f s)", decision.summary(), time.perf_counter() - started)
    return _build(options, winner), decision


def choose_for_settings(settings: Settings, *, openvino_only: bool = False) -> tuple[Backend, str]:
    """The CPU backend for ``settings`` and the reason to show for it.

    ``AICREATIVE_CPU_PRECISION`` set to bf16 or f32 builds OpenVINO in that
    precision without measuring, int8 builds it with an INT8 UNet; ``auto``
    measures the viable configurations (once per machine), unless only one is
    viable.
    """
    from . import load_backend

    if settings.cpu_precision in ("bf16", "f32"):
        backend = load_backend("openvino", settings)
        return backend, f"OpenVINO in {settings.cpu_precision}, set by AICREATIVE_CPU_PRECISION"
    if settings.cpu_precision == "int8":
        # Opt-in only: quantizing takes minutes and ~15 GB once, too much for
        # a calibration meant to stay under a minute and 8 GB.
        backend = load_backend("openvino", settings)
        if getattr(backend, "manifest", {}).get("unet") == "int8":
            return backend, "OpenVINO with an INT8 UNet, set by AICREATIVE_CPU_PRECISION"
        return backend, (
            "OpenVINO with its fp16 UNet: AICREATIVE_CPU_PRECISION=int8 asked for INT8, "
            "which could not be made (see the log)"
        )
    options = candidates(settings)
    if openvino_only:
        options = [option for option in options if option.name.startswith("openvino")]
    if len(options) == 1:
        return options[0].build(), f"{options[0].name}, the only viable configuration here"
    backend, decision = choose(settings, options)
    measured = decision.seconds[decision.winner]
    backend.label = f"{backend.label}; {_secs(measured)} s/image measured here"  # type: ignore[misc]
    return backend, decision.summary()


def _build(options: list[Candidate], name: str) -> Backend:
    return next(option for option in options if option.name == name).build()


def _cached_decision(entry: Any, names: list[str]) -> Decision | None:
    """The cached decision in ``entry``, or None (measure again) when there is
    none, its winner is not a candidate now, or it is malformed (hand-edited,
    say: a start must not fail on it)."""
    if not entry:
        return None
    try:
        winner, seconds = entry["winner"], entry["seconds"]
        dismissed = entry.get("dismissed", [])
        valid = (
            isinstance(winner, str)
            and isinstance(seconds, dict)
            and all(isinstance(s, (int, float)) and math.isfinite(s) for s in seconds.values())
            and winner in seconds
            and isinstance(entry["measured_at"], str)
            and isinstance(dismissed, list)
            and all(isinstance(name, str) for name in dismissed)
        )
    except (TypeError, KeyError, AttributeError):
        valid = False
    if not valid:
        log.warning("cpu calibration: ignoring a malformed cached decision; measuring again")
        return None
    if winner not in names:  # e.g. bf16 no longer offered: measure what is
        return None
    return Decision(winner, seconds, entry["measured_at"], cached=True, dismissed=tuple(dismissed))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, key: str, decision: dict[str, Any]) -> None:
    # Kept small: one decision per key, the newest few keys only.
    data = _read(path)
    data[key] = decision
    data = dict(list(data.items())[-8:])
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    durable.write_bytes(path, json.dumps(data, indent=2).encode("utf-8"))
