"""Durable, atomic writes to the local disk: the one way this project does them.

Owns writing a file so that a reader (or the next start after a crash, a
``SIGKILL`` or a power cut) sees the old content or the new, never half:
write a temp file in the same folder, ``fsync`` it, ``os.replace`` it over
the target, ``fsync`` the folder so the rename itself is on disk. Also
publishing a whole folder the same way (the OpenVINO export cache) and
removing the temp files or folders a writer that died left behind.

Used by the TinyDB account store, the privacy-policy book, the OpenVINO
export cache and the CPU calibration cache (no other module renames a file
into place); ``tests/unit/test_store.py`` kills a writer mid-stream 50 times to
check it, and ``tests/unit/test_durable.py`` checks the pieces.

"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def temp_prefix(target: Path) -> str:
    """The prefix of temp files written for ``target`` (hidden, named after it)."""
    return f".{target.name}."


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename into it) to disk.

    Windows cannot open a folder; there the rename is as durable as the
    platform makes it. Everywhere else a failure is raised, not hidden:
    a rename that may not survive a power cut is not a finished write.
    """
    if os.name == "nt":  # pragma: no cover - not a platform we run on
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: str | os.PathLike[str]) -> None:
    """Flush every file and folder under ``folder`` (before publishing it by a rename)."""
    root = Path(folder)
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for path in [root, *(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink())]:
        fsync_dir(path)


def write_bytes(
    target: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = 0o600,
    prefix: str | None = None,
) -> None:
    """Replace ``target`` with ``data`` atomically and durably (file mode ``mode``).

    The temp file is ``{prefix}XXXX.tmp`` beside the target (``prefix``
    defaults to ``.{name}.``) so :func:`remove_orphans` finds what a killed
    writer left. On any error the temp file is removed, the target is
    untouched and the ``OSError`` is raised for the caller to word.
    """
    path = Path(target)
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=prefix or temp_prefix(path), suffix=TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode != 0o600:  # mkstemp creates 0600
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(folder)


def replace_folder(work: str | os.PathLike[str], final: str | os.PathLike[str]) -> None:
    """Publish the finished folder ``work`` as ``final`` (same file system), durably.

    ``os.replace`` of a folder is atomic: readers see no ``final`` or a whole one.
    """
    fsync_tree(work)
    os.replace(work, final)
    fsync_dir(Path(final).parent)


def remove_orphans(
    folder: str | os.PathLike[str], prefix: str, suffix: str = TEMP_SUFFIX
) -> list[Path]:
    """Delete temp files (or folders) named ``{prefix}*{suffix}`` in ``folder``.

    Call it where no live writer can be using them (under the writers' lock,
    or at start). Returns what was removed.
    """
    removed = []
    for stale in Path(folder).glob(f"{prefix}*{suffix}"):
        try:
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink()
        except FileNotFoundError:
            continue  # another process tidied it first
        removed.append(stale)
    return removed
