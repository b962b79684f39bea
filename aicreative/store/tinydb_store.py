"""The TinyDB account store: one JSON file (the default), or memory.

Owns the TinyDB store (with :mod:`.tinydb_storage`, its file format, the
only modules that import TinyDB), locking between threads and processes,
and credit arithmetic as single steps over it. The whitelist and the interface are in :mod:`.base`.

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

import os
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock
from tinydb import TinyDB
from tinydb.table import Document

from ..errors import Conflict, InsufficientCredits, NotFound, StoreError, ValidationError
from .base import (
    Account,
    AccountStore,
    TokenChange,
    check_amount,
    check_record,
    new_random_id,
)
from .tinydb_storage import AtomicJSONStorage, CachedStorage, MemoryStorage

TABLE = "accounts"


class TinyDBStore(AccountStore):
    """Accounts and credits over TinyDB, safe across threads and processes."""

    def __init__(self, storage: CachedStorage, lock_path: Path | None = None) -> None:
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
