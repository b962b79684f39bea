"""The OpenVINO export cache: where an export lives, and writing it safely once.

What this module owns:

* **Where.** The IR goes to ``<data dir>/models/openvino/<name>``, where the
  name carries the model, the decoder, the batch size, the OpenVINO version
  and a hash of the sources (see :func:`cache_name`), so a change of any of
  them makes a new folder.
* **Writing the cache safely.** The export is written into a temporary
  folder beside the final one and published with
  :func:`aicreative.durable.replace_folder` (a crash leaves no half-written
  cache, only a temporary folder that the next start removes), under a
  ``filelock.FileLock`` so that two processes starting together export once:
  the second waits, then loads. A full disk is reported as such
  (:class:`BackendUnavailable`), and ``auto`` then moves on.
* **The conversion process.** The export (:mod:`.openvino_export`) runs in a
  child process by default, so the server's memory never holds the torch
  pipeline (~5 GB while tracing sd-turbo's UNet; ``benchmarks/README.md``)
  and an out-of-memory kill takes the child, not the server; this module
  starts it and reads its result line back.
* **Not trying a failed INT8 export again on every start.** Quantizing takes
  minutes and ~15 GB (``benchmarks/README.md``); where it failed (killed for
  memory, say), a marker beside the cache says so, and later starts fail at
  once, naming the marker to delete to try again. A new model, recipe or
  library version has another cache name, so another marker: it tries anew.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from .. import durable
from . import BackendUnavailable
from .base import short_model_name
from .common import cache_dir, package_version
from .openvino_export import (
    FORMAT_VERSION,
    INT8_RECIPE,
    MANIFEST,
    RESULT_MARK,
    TinyAutoencoderUnavailable,
    export_model,
    is_disk_full,
    openvino_version,
)

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

#: How long a process waits for another one's export before giving up.
LOCK_TIMEOUT_S = 3600.0


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


def cache_name(model_id: str, decoder: str, taesd_id: str, *, int8: bool = False) -> str:
    """A file-system-safe folder name for one export.

    ``sd-turbo-taesd-b1-ov2026.4.1-<hash>``: model, decoder, batch size 1 and
    OpenVINO version for people (``-int8`` after the decoder for an INT8
    UNet); the hash covers the full model id (or the folder's files), the
    TAESD source and the export format. Height and width are not in it: the
    files leave them free and each size is fixed when it is compiled.
    """
    path = Path(model_id)
    short = path.name if path.is_dir() else model_id.replace("/", "--")
    key = [FORMAT_VERSION, _fingerprint(model_id), decoder]
    if decoder == "taesd":
        key.append(_fingerprint(taesd_id))
    if int8:
        key.append(["int8", INT8_RECIPE, package_version("nncf")])
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]
    unet = "-int8" if int8 else ""
    return f"{_slug(short)}-{decoder}{unet}-b1-ov{openvino_version()}-{digest}"


def cache_folder(settings: Settings, decoder: str, *, int8: bool = False) -> Path:
    """``<data dir>/models/openvino/<cache_name>`` for these settings."""
    return (
        Path(settings.model_cache_dir)
        / "openvino"
        / cache_name(settings.model_id, decoder, settings.taesd_id, int8=int8)
    )


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
    settings: Settings, decoder: str, *, in_subprocess: bool = True, int8: bool = False
) -> tuple[Path, bool]:
    """The export folder for ``settings`` and ``decoder``, converting it if needed.

    Returns ``(folder, exported)``; ``exported`` is False when the cache was
    already there (or another process wrote it while this one waited).
    Raises :class:`TinyAutoencoderUnavailable` when TAESD cannot load,
    :class:`BackendUnavailable` for a full disk, and the loader's own errors
    (OSError for a missing model) otherwise. ``int8`` asks for an export whose
    UNet is quantized to INT8 (a folder of its own); where an earlier start
    failed to make it, :class:`BackendUnavailable` at once (:func:`failure_marker`).
    """
    final = cache_folder(settings, decoder, int8=int8)
    if (final / MANIFEST).is_file():
        return final, False
    if int8:
        _refuse_after_failure(final)
    _check_reachable(settings)
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with _export_lock(parent / f"{final.name}.lock"):
            if (final / MANIFEST).is_file():  # another process wrote it meanwhile
                return final, False
            if int8:  # another process may have failed at it meanwhile
                _refuse_after_failure(final)
            try:
                _write_export(settings, decoder, final, in_subprocess, int8)
            except BackendUnavailable as exc:
                # The conversion process killed (for memory, say) or failing in
                # its own code. OSErrors (a full disk, the network, TAESD,
                # permissions) are not recorded: mending them should be enough.
                if int8:
                    _record_failure(final, exc)
                raise
            return final, True
    except OSError as exc:
        if is_disk_full(exc):
            raise BackendUnavailable(_disk_full_message(parent, exc)) from exc
        raise


def failure_marker(final: Path) -> Path:
    """The file that says the export ``final`` could not be made, beside it."""
    return final.with_name(f"{final.name}.failed")


def _record_failure(final: Path, exc: BaseException) -> None:
    marker = failure_marker(final)
    record = {
        "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "reason": (str(exc) or type(exc).__name__)[:500],
    }
    try:
        durable.write_bytes(marker, json.dumps(record).encode("utf-8"))
    except OSError as write_error:  # a full disk, say: the next start simply tries again
        log.warning("could not record the failed export in %s (%s)", marker, write_error)
        return
    log.error("the INT8 export failed; later starts will not try again until %s is deleted", marker)


def _refuse_after_failure(final: Path) -> None:
    """Raise at once when an earlier start failed to make this export."""
    marker = failure_marker(final)
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError, RecursionError):  # unreadable: still a failure recorded
        record = {}
    if not isinstance(record, dict):
        record = {}
    at = str(record.get("at", "an earlier start"))[:40]
    reason = str(record.get("reason", "reason not recorded"))[:500]
    log.warning("not making the INT8 export again: delete %s to try again", marker)
    # No server path in the message: the log above names the file.
    raise BackendUnavailable(
        f"openvino: the INT8 UNet could not be made on {at} ({reason}); delete "
        f"{marker.name} in the OpenVINO model cache (<data dir>/models/openvino) to try again"
    )


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

    cached = try_to_load_from_cache(model, "model_index.json", cache_dir=cache_dir(settings))
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


def _write_export(
    settings: Settings, decoder: str, final: Path, in_subprocess: bool, int8: bool = False
) -> None:
    """Export into a temporary folder beside ``final``, then move it into place.

    Called under the lock. ``os.replace`` of a folder is atomic on one file
    system: readers see no export or a whole one.
    """
    parent = final.parent
    _remove_leftovers(parent, final)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=parent))
    started = time.perf_counter()
    log.info(
        "converting %s (%s decoder%s) to OpenVINO once, into %s; this takes minutes on a small CPU",
        short_model_name(settings.model_id),
        decoder,
        ", INT8 UNet: several more minutes and ~15 GB of memory" if int8 else "",
        final,
    )
    try:
        if in_subprocess:
            _export_in_child(settings, decoder, work, int8)
        else:
            export_model(settings, decoder, work, int8=int8)
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


def _export_in_child(settings: Settings, decoder: str, target: Path, int8: bool = False) -> None:
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
            "int8": int8,
        }
    )
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    code = "from aicreative.backends.openvino_export import export_main; export_main()"
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
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK) :])
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
