"""The TinyDB account store: one JSON file (the default), or memory.

Owns the TinyDB file (this is the only module that imports TinyDB),
locking between threads and processes, and credit arithmetic as single
steps over it. The whitelist and the interface are in :mod:`.base`.

TinyDB is not thread-safe and rewrites its file in place, so this module:

- writes through :func:`aicreative.durable.write_bytes` (temp file,
  ``fsync``, ``os.replace``, ``fsync`` of the folder: a killed writer leaves
  the old file or the new one, never half);
- runs each read-modify-write under a thread lock and a ``filelock`` file
  lock, so that several processes can share one file;
- keeps the parsed file in memory and re-reads it only when another process
  changed it (a revision stamp written beside the file, plus the file's
  stat), so a lookup does not parse the whole file;
- keeps its username and email index across writes that change neither
  (a charge, a grant), and encodes with orjson: at 10k accounts a charge is
  one whole-file rewrite, and the stdlib encoder and an index rebuild were
  most of its time (see benchmarks/README.md).

>>> store = TinyDBStore.in_memory()
>>> _ = store.add(Account("ada", "ada@example.org", "hash", credits=3))
>>> store.charge("ada", 2)
1
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from .. import durable
from ..errors import Conflict, InsufficientCredits, NotFound, StoreError, ValidationError
from .base import (
    Account,
    AccountStore,
    TokenChange,
    check_amount,
    check_record,
    new_random_id,
)

TABLE = "accounts"
TEMP_PREFIX = ".accounts-"
TEMP_SUFFIX = durable.TEMP_SUFFIX


class _CachedStorage(Storage):
    """A TinyDB storage that counts its generations so the store can index it."""

    generation = 0

    def invalidate(self) -> None:
        """Forget what is cached (after a failed update left it half changed)."""


class MemoryStorage(_CachedStorage):
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


class AtomicJSONStorage(_CachedStorage):
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


class TinyDBStore(AccountStore):
    """Accounts and credits over TinyDB, safe across threads and processes."""

    def __init__(self, storage: _CachedStorage, lock_path: Path | None = None) -> None:
        self._storage = storage
        # TinyDB builds its storage from a callable; hand it the one built here.
        self._db = TinyDB(storage=lambda: storage)
        self._table = self._db.table(TABLE, cache_size=0)
        self._thread_lock = threading.RLock()
        self._file_lock = FileLock(str(lock_path), mode=0o600) if lock_path else None
        self._index_generation = -1
        self._by_name: dict[str, int] = {}
        self._by_email: dict[str, int] = {}
        self._by_id: dict[str, int] = {}
        self._by_token: dict[str, int] = {}
        with self._locked():
            if isinstance(storage, AtomicJSONStorage):
                storage.remove_orphans()
            storage.read()  # fail now, with the file's name, if it is corrupt
            self._give_identities()

    def _give_identities(self) -> None:
        """Give records written before account ids existed an id and a gallery salt, once.

        One write for all of them: a write per record rewrote a 10k-account
        file 10k times (~30 GB written, minutes) on the first start.
        """
        wanting = [
            int(doc_id)
            for doc_id, record in self._raw().items()
            if not record.get("account_id") or not record.get("gallery_salt")
        ]
        if not wanting:
            return

        def give(record: MutableMapping[str, Any]) -> None:
            for name, size in (("account_id", 16), ("gallery_salt", 32)):
                if not record.get(name):
                    record[name] = new_random_id(size)

        self._table.update(give, doc_ids=wanting)
        self._index_generation = -1

    @classmethod
    def open_file(cls, path: str | os.PathLike[str]) -> TinyDBStore:
        """The store in a file (created on first write, folder mode 0700)."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the data folder {path.parent}: {exc.strerror}."
            ) from exc
        return cls(AtomicJSONStorage(path), lock_path=path.with_name(path.name + ".lock"))

    @classmethod
    def in_memory(cls) -> TinyDBStore:
        """A store that lives in memory only."""
        return cls(MemoryStorage())

    @property
    def path(self) -> Path | None:
        """The file behind the store, or None in memory."""
        return getattr(self._storage, "path", None)

    @property
    def kind(self) -> str:
        return "file" if isinstance(self._storage, AtomicJSONStorage) else "memory"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            if self._file_lock is None:
                yield
                return
            with self._file_lock:
                yield

    @contextmanager
    def _writing(self) -> Iterator[None]:
        with self._locked():
            try:
                yield
            except BaseException:
                self._storage.invalidate()
                raise

    def _raw(self) -> dict[str, dict[str, Any]]:
        data = self._storage.read() or {}
        if self._index_generation != self._storage.generation:
            self._reindex(data.get(TABLE, {}))
        return data.get(TABLE, {})

    def _reindex(self, table: dict[str, dict[str, Any]]) -> None:
        by_name, by_email, by_id, by_token = {}, {}, {}, {}
        for doc_id, record in table.items():
            by_name[str(record.get("username", "")).lower()] = int(doc_id)
            by_email[str(record.get("email", "")).lower()] = int(doc_id)
            if record.get("account_id"):
                by_id[str(record["account_id"])] = int(doc_id)
            for token in record.get("api_tokens") or ():
                if isinstance(token, dict) and token.get("id"):
                    by_token[str(token["id"])] = int(doc_id)
        self._by_name, self._by_email, self._by_id = by_name, by_email, by_id
        self._by_token = by_token
        self._index_generation = self._storage.generation

    def _set(self, doc_id: int, fields: dict[str, Any]) -> None:
        """Write ``fields`` of one record; keep the index when they leave it valid."""
        before = self._storage.generation
        self._table.update(fields, doc_ids=[doc_id])
        # One write and nothing re-read (the file lock is held): the index
        # still holds unless a username or email changed.
        if (
            self._index_generation == before
            and self._storage.generation == before + 1
            and "username" not in fields
            and "email" not in fields
            and "api_tokens" not in fields
        ):
            self._index_generation = self._storage.generation

    def _find(self, username: str) -> tuple[int, dict[str, Any]] | None:
        table = self._raw()
        doc_id = self._by_name.get(username.lower())
        if doc_id is None:
            return None
        record = table.get(str(doc_id))
        return (doc_id, record) if record is not None else None

    def _require(self, username: str) -> tuple[int, dict[str, Any]]:
        found = self._find(username)
        if found is None:
            raise NotFound(f"No account named {username!r}.")
        return found

    # -- reading ---------------------------------------------------------

    def get(self, username: str) -> Account | None:
        """The account of ``username`` (any letter case), or None."""
        with self._thread_lock:
            found = self._find(username)
            return Account.from_record(found[1]) if found else None

    def require(self, username: str) -> Account:
        """The account of ``username``; NotFound when there is none."""
        with self._thread_lock:
            return Account.from_record(self._require(username)[1])

    def get_by_email(self, email: str) -> Account | None:
        """The account that has ``email`` (compared without letter case), or None."""
        with self._thread_lock:
            table = self._raw()
            doc_id = self._by_email.get(email.lower())
            record = table.get(str(doc_id)) if doc_id is not None else None
            return Account.from_record(record) if record else None

    def get_by_id(self, account_id: str) -> Account | None:
        """The account whose identity is ``account_id``, or None (deleted, never existed)."""
        with self._thread_lock:
            table = self._raw()
            doc_id = self._by_id.get(account_id)
            record = table.get(str(doc_id)) if doc_id is not None else None
            return Account.from_record(record) if record else None

    def find_token(self, token_id: str) -> Account | None:
        """The account holding the API token whose public id is ``token_id``, or None.

        An index lookup (rebuilt with the others), not a scan of every account.
        """
        with self._thread_lock:
            table = self._raw()
            doc_id = self._by_token.get(token_id)
            record = table.get(str(doc_id)) if doc_id is not None else None
            return Account.from_record(record) if record else None

    def all(self) -> list[Account]:
        """Every account, in sign-up order."""
        with self._thread_lock:
            table = self._raw()
            return [Account.from_record(table[k]) for k in sorted(table, key=int)]

    def raw_records(self) -> list[dict[str, Any]]:
        """The records exactly as stored (for the self-audit and tests)."""
        with self._thread_lock:
            return [dict(record) for record in self._raw().values()]

    def count(self) -> int:
        with self._thread_lock:
            return len(self._raw())

    # -- writing ---------------------------------------------------------

    def add(self, account: Account) -> Account:
        """Add a new account; Conflict when the username or email is taken."""
        record = account.record()
        check_record(record)
        with self._writing():
            table = self._raw()
            if account.username.lower() in self._by_name:
                raise Conflict(f"The username {account.username!r} is taken.")
            if account.email.lower() in self._by_email:
                raise Conflict("An account with this email already exists.")
            if account.account_id in self._by_id:
                raise Conflict("This account id exists already.")
            # Ids come from the file, not TinyDB's in-process counter, which
            # another process may have moved past.
            doc_id = max((int(k) for k in table), default=0) + 1
            self._table.insert(Document(record, doc_id=doc_id))
        return account

    def update(self, username: str, /, **fields: Any) -> Account:
        """Change whitelisted fields of one account and return it as stored."""
        with self._writing():
            doc_id, record = self._require(username)
            merged = {**record, **fields}
            check_record(merged)
            if "account_id" in fields and fields["account_id"] != record.get("account_id"):
                raise ValidationError("An account's id never changes.")
            if "username" in fields and fields["username"].lower() != username.lower():
                if fields["username"].lower() in self._by_name:
                    raise Conflict(f"The username {fields['username']!r} is taken.")
            if "email" in fields and fields["email"].lower() != str(record["email"]).lower():
                if fields["email"].lower() in self._by_email:
                    raise Conflict("An account with this email already exists.")
            self._set(doc_id, fields)
            return Account.from_record(merged)

    def change_tokens(self, account_id: str, change: TokenChange) -> Account:
        """Replace the account's API tokens by ``change(tokens)``, in one locked step.

        One step so that a revoke and a "last used" stamp racing each other
        cannot bring a revoked token back. NotFound when the account is gone.
        """
        with self._writing():
            table = self._raw()
            doc_id = self._by_id.get(account_id)
            record = table.get(str(doc_id)) if doc_id is not None else None
            if doc_id is None or record is None:
                raise NotFound("This account no longer exists.")
            before = tuple(dict(t) for t in record.get("api_tokens") or ())
            tokens = [dict(t) for t in change(before)]
            check_record({**record, "api_tokens": tokens})
            self._set(doc_id, {"api_tokens": tokens})
            return Account.from_record({**record, "api_tokens": tokens})

    def delete(self, username: str) -> bool:
        """Remove the account; the file is rewritten without it. False if absent."""
        with self._writing():
            found = self._find(username)
            if found is None:
                return False
            self._table.remove(doc_ids=[found[0]])
            return True

    def charge(self, username: str, amount: int) -> int:
        """Take ``amount`` credits in one step; InsufficientCredits if short.

        Returns the new balance, which is never below zero.
        """
        check_amount(amount)
        with self._writing():
            doc_id, record = self._require(username)
            balance = int(record["credits"])
            if balance < amount:
                raise InsufficientCredits(amount, balance)
            self._set(doc_id, {"credits": balance - amount})
            return balance - amount

    def grant(self, username: str, amount: int) -> int:
        """Add ``amount`` credits in one step; returns the new balance."""
        check_amount(amount)
        with self._writing():
            doc_id, record = self._require(username)
            balance = int(record["credits"]) + amount
            self._set(doc_id, {"credits": balance})
            return balance

    def take(self, username: str, amount: int) -> int:
        """Remove up to ``amount`` credits (an admin correction); never below zero."""
        check_amount(amount)
        with self._writing():
            doc_id, record = self._require(username)
            balance = max(0, int(record["credits"]) - amount)
            self._set(doc_id, {"credits": balance})
            return balance

    def confirm_email(self, account_id: str, email: str, credits: int) -> Account | None:
        """Mark the email confirmed and grant ``credits``, in one step, once.

        Only while the account is unconfirmed and still has ``email``; None
        otherwise (already confirmed, deleted, email changed), so that two
        clicks on one link never grant twice.
        """
        check_amount(credits)
        with self._writing():
            table = self._raw()
            doc_id = self._by_id.get(account_id)
            record = table.get(str(doc_id)) if doc_id is not None else None
            if (
                doc_id is None
                or record is None
                or record.get("email_confirmed", True)
                or str(record.get("email", "")).lower() != email.lower()
            ):
                return None
            fields = {"email_confirmed": True, "credits": int(record["credits"]) + credits}
            self._set(doc_id, fields)
            return Account.from_record({**record, **fields})

    def bump_session(self, username: str) -> int:
        """End every session of the user; returns the new counter."""
        with self._writing():
            doc_id, record = self._require(username)
            counter = int(record.get("session_counter", 0)) + 1
            self._set(doc_id, {"session_counter": counter})
            return counter

    def close(self) -> None:
        self._db.close()
