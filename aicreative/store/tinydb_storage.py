"""The TinyDB storages under the account store: the file format and its safe rewrite.

Owns how the accounts file is read and written (orjson, a stdlib fallback
for what orjson refuses, a whole-file rewrite through
:func:`aicreative.durable.write_bytes`), the revision stamp that tells a
process another one changed the file, and the in-memory storage of tests
and notebooks. :mod:`.tinydb_store` builds the store over them.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import orjson
from tinydb.storages import Storage

from .. import durable
from ..errors import StoreError

TEMP_PREFIX = ".accounts-"
TEMP_SUFFIX = durable.TEMP_SUFFIX


class CachedStorage(Storage):
    """A TinyDB storage that counts its generations so the store can index it."""

    generation = 0

    def invalidate(self) -> None:
        """Forget what is cached (after a failed update left it half changed)."""


class MemoryStorage(CachedStorage):
    """In-memory storage: the offline stand-in for tests and notebooks."""

    def __init__(self) -> None:
        self.memory: dict[str, dict[str, Any]] | None = None

    def read(self) -> dict[str, dict[str, Any]] | None:
        return self.memory

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self.memory = data
        self.generation += 1

    def invalidate(self) -> None:
        # Memory is the only copy: nothing to reload, so a failed update is
        # prevented by the store checking everything before it writes.
        self.generation += 1


class AtomicJSONStorage(CachedStorage):
    """A JSON file written atomically and cached until another process changes it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.rev_path = self.path.with_name(self.path.name + ".rev")
        self._cache: dict[str, dict[str, Any]] | None = None
        self._cache_key: tuple[Any, ...] | None = None

    def _stamp(self) -> str:
        try:
            return self.rev_path.read_text()
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise StoreError(f"Cannot read {self.rev_path}: {exc.strerror}.") from exc

    def read(self) -> dict[str, dict[str, Any]] | None:
        # The stamp is read before the file: a writer changes the stamp
        # first, so a reader that raced it sees a new stamp or a new stat.
        stamp = self._stamp()
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed below, stat taken from it
        except FileNotFoundError:
            self._cache, self._cache_key = None, None
            return None
        except OSError as exc:
            raise StoreError(f"Cannot read the account store {self.path}: {exc.strerror}.") from exc
        with fh:
            st = os.fstat(fh.fileno())
            key = (stamp, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if key == self._cache_key and self._cache is not None:
                return self._cache
            raw = fh.read()
        data = self._parse(raw)
        self._cache, self._cache_key = data, key
        self.generation += 1
        return data

    def _parse(self, raw: bytes) -> dict[str, dict[str, Any]] | None:
        if not raw.strip():
            # Only a missing file means a new store. An empty one is a store
            # that lost its contents (a crash of another tool, a full disk,
            # a bad restore): taking it as new would let the next sign-up
            # overwrite it with one account.
            raise StoreError(
                f"The account store {self.path} is empty ({len(raw)} bytes). It was left as "
                "it is: restore it from a backup, or delete it to start with no accounts."
            )
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = _loads_or_explain(raw, self.path)
        if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
            raise StoreError(
                f"The account store {self.path} is not a TinyDB file of tables. It was left "
                "as it is: restore it from a backup or move it aside, then start again."
            )
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        try:
            payload = orjson.dumps(data)
        except orjson.JSONEncodeError:
            # orjson refuses integers past 64 bits; the stdlib writes them.
            payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        # A new stamp before the file changes (see read()). Written in place:
        # the stamp only has to differ, and a truncating rewrite cost a
        # second metadata update per charge.
        stamp = secrets.token_hex(8)
        try:
            stamp_fd = os.open(self.rev_path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(stamp_fd, stamp.encode(), 0)
            finally:
                os.close(stamp_fd)
        except OSError as exc:
            raise StoreError(
                f"Could not save the account store {self.path}: {exc.strerror}. Nothing was changed."
            ) from exc
        try:
            durable.write_bytes(self.path, payload, prefix=TEMP_PREFIX)
        except OSError as exc:
            self.invalidate()
            raise StoreError(
                f"Could not save the account store {self.path}: {exc.strerror} "
                "(is the disk full?). Nothing was changed."
            ) from exc
        st = os.stat(self.path)
        self._cache = data
        self._cache_key = (stamp, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        self.generation += 1

    def invalidate(self) -> None:
        self._cache, self._cache_key = None, None
        self.generation += 1

    def remove_orphans(self) -> list[Path]:
        """Delete temp files left by a writer that died (call under the file lock)."""
        return durable.remove_orphans(self.path.parent, TEMP_PREFIX, TEMP_SUFFIX)


def _loads_or_explain(raw: bytes, path: Path) -> Any:
    """Parse what orjson refused: the stdlib reads a few things it does not
    (integers past 64 bits); anything else stops with the file's name."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreError(
            f"The account store {path} is corrupt ({exc}). It was left as it is: "
            "restore it from a backup or move it aside, then start again."
        ) from None
