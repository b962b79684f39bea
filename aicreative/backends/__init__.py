"""Backends: the protocol, and the one registry that names every backend.

Each backend module is imported only when it is chosen, so that the app
starts without torch, openvino or huggingface_hub installed.

>>> from aicreative.backends import available_backends
>>> "demo" in available_backends()
True
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import Backend, GenerationRequest, ProgressCallback
from .common import gpu_device

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

__all__ = [
    "Backend",
    "BackendChoice",
    "GenerationRequest",
    "ProgressCallback",
    "available_backends",
    "create_backend",
    "load_backend",
]

#: name -> "module:factory"; the factory takes Settings and returns a Backend.
#: A factory raises BackendUnavailable (or ImportError/OSError) when it cannot load.
REGISTRY: dict[str, str] = {
    "demo": "aicreative.backends.demo:create",
    "diffusers": "aicreative.backends.diffusers_backend:create",
    "openvino": "aicreative.backends.openvino_backend:create",
    "remote": "aicreative.backends.remote:create",
}


class BackendUnavailable(RuntimeError):
    """A backend that cannot load here (a missing package, model or GPU)."""


@dataclass(frozen=True)
class BackendChoice:
    """The backend in use and why it was chosen (shown by /healthz and the UI)."""

    backend: Backend
    reason: str

    @property
    def name(self) -> str:
        return self.backend.name


def available_backends() -> list[str]:
    """Names in the registry (whether or not their packages are installed)."""
    return list(REGISTRY)


def load_backend(name: str, settings: Settings) -> Backend:
    """Create backend ``name``; raises BackendUnavailable with the reason."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise BackendUnavailable(f"unknown backend {name!r}") from None
    module_name, _, factory_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        backend: Backend = getattr(module, factory_name)(settings)
    except BackendUnavailable:
        raise
    except ImportError as exc:
        raise BackendUnavailable(f"{name}: a package is missing ({exc.name or exc})") from exc
    except (OSError, ValueError, RuntimeError) as exc:
        raise BackendUnavailable(f"{name}: {type(exc).__name__}: {exc}") from exc
    return backend


def _auto_order(settings: Settings) -> list[str]:
    """diffusers on a GPU, OpenVINO on a CPU, diffusers on a CPU, then demo.

    On a GPU diffusers (fp16) is fastest and OpenVINO runs on the CPU only;
    without one, OpenVINO with TAESD made sd-turbo 4.7-8.4x faster than plain
    diffusers in fp32 on 2 cores (benchmarks/README.md).
    """
    if _gpu_device(settings):
        return ["diffusers", "openvino", "demo"]
    return ["openvino", "diffusers", "demo"]


def _gpu_device(settings: Settings) -> str | None:
    """The torch GPU device diffusers would use ("cuda", "mps"), or None.

    ``settings.device`` counts: "cpu" means no GPU even where one exists.
    Asked of torch through :func:`.common.gpu_device` (torch only if it is
    installed, and no backend module loaded for it).
    """
    return gpu_device(settings.device)


def create_backend(settings: Settings) -> BackendChoice:
    """The backend that settings ask for; ``auto`` falls back and says why."""
    from . import calibration

    if settings.backend == "openvino":
        backend, why = calibration.choose_for_settings(settings, openvino_only=True)
        return BackendChoice(backend, f"openvino chosen by the backend setting; {why}")
    if settings.backend != "auto":
        backend = load_backend(settings.backend, settings)
        return BackendChoice(backend, f"{settings.backend} chosen by the backend setting")
    reasons = []
    gpu = _gpu_device(settings)
    if gpu:
        where = f"a GPU ({gpu}) was found"
    elif settings.device == "cpu":
        where = "the device setting is cpu"
    else:
        where = "no GPU was found"
    if not gpu:
        # On a CPU the fastest configuration depends on the CPU: measure it
        # (once per machine, cached) instead of trusting an order.
        try:
            backend, why = calibration.choose_for_settings(settings)
        except BackendUnavailable as exc:
            reasons.append(str(exc))
            log.info("auto backend: %s", exc)
        else:
            reason = f"{backend.name}: {where}; {why}"
            log.info("auto backend: %s", reason)
            return BackendChoice(backend, reason)
    for name in _auto_order(settings) if gpu else ["demo"]:
        try:
            backend = load_backend(name, settings)
        except BackendUnavailable as exc:
            reasons.append(str(exc))
            log.info("auto backend: skipping %s", exc)
            continue
        if name == "demo":
            reason = "demo: no model backend could load (" + "; ".join(reasons) + ")"
        elif reasons:
            reason = (
                f"{name}: {where}, and the backends before it in the auto order could not "
                "load (" + "; ".join(reasons) + ")"
            )
        else:
            reason = f"{name}: {where}, so {name} comes first in the auto order"
        log.info("auto backend: %s", reason)
        return BackendChoice(backend, reason)
    raise BackendUnavailable("no backend could load: " + "; ".join(reasons))
