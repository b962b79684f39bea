"""The account store: the only place that holds data about people.

Owns the TinyDB file (this is the only module that imports TinyDB), the
field whitelist that keeps anything else out of it, atomic writes, locking
between threads and processes, and credit arithmetic as single steps.

What a record may hold is fixed by :data:`FIELDS`; the store refuses any
other field, so a prompt or an image can never be written here by mistake.

TinyDB is not thread-safe and rewrites its file in place, so this module:

- writes through a temp file, ``fsync``, ``os.replace`` and an ``fsync`` of
  the folder (a killed writer leaves the old file or the new one, never half);
- runs each read-modify-write under a thread lock and a ``filelock`` file
  lock, so that several processes can share one file;
- keeps the parsed file in memory and re-reads it only when another process
  changed it (a revision stamp written beside the file, plus the file's
  stat), so a lookup does not parse the whole file;
- keeps its username and email index across writes that change neither
  (a charge, a grant), and encodes with orjson: at 10k accounts a charge is
  one whole-file rewrite, and the stdlib encoder and an index rebuild were
  most of its time (see benchmarks/README.md).

>>> store = AccountStore.memory()
>>> _ = store.add(Account("ada", "ada@example.org", "hash", credits=3))
>>> store.charge("ada", 2)
1
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from .errors import Conflict, InsufficientCredits, NotFound, StoreError, ValidationError

#: Every field an account record may hold, and nothing else.
FIELDS: tuple[str, ...] = (
    "username",
    "email",
    "password_hash",
    "credits",
    "role",
    "policy_version",
    "session_counter",
    "objected",
    "account_id",
    "gallery_salt",
    "email_confirmed",
    "api_tokens",
)
#: Fields that are bookkeeping, not personal data: never shown as "your data".
TECHNICAL_FIELDS: tuple[str, ...] = ("account_id", "gallery_salt", "api_tokens")
ROLES = ("user", "admin")
TABLE = "accounts"
TEMP_PREFIX = ".accounts-"
TEMP_SUFFIX = ".tmp"


@dataclasses.dataclass(frozen=True)
class Account:
    """One account, exactly as stored."""

    username: str
    email: str
    password_hash: str
    credits: int = 0
    role: str = "user"
    #: The privacy policy version this user last accepted (None: not yet).
    policy_version: int | None = None
    #: Part of every session token; bumping it ends every session.
    session_counter: int = 0
    #: The user objects to processing beyond what the account needs.
    objected: bool = False
    #: The identity: random, never reused, never changed. Sessions, links and
    #: tokens name this, never the username, which can be freed and taken again.
    account_id: str = dataclasses.field(default_factory=lambda: new_random_id(16))
    #: Random value the browser gallery's key is derived from; deleting the
    #: account deletes it, which makes every copy of the gallery unreadable.
    gallery_salt: str = dataclasses.field(default_factory=lambda: new_random_id(32))
    #: Whether the email address was confirmed by a one-use link.
    email_confirmed: bool = True
    #: API tokens as stored: hashes and bookkeeping, never the secret.
    api_tokens: tuple[dict[str, Any], ...] = ()

    def record(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["api_tokens"] = [dict(token) for token in self.api_tokens]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Account:
        fields = {name: record[name] for name in FIELDS if name in record}
        if "api_tokens" in fields:
            fields["api_tokens"] = tuple(dict(t) for t in fields["api_tokens"] or ())
        return cls(**fields)


def new_random_id(nbytes: int) -> str:
    """A random URL-safe identifier of ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def check_record(record: dict[str, Any]) -> None:
    """Refuse a record with a field outside the whitelist or of the wrong type."""
    extra = set(record) - set(FIELDS)
    if extra:
        raise ValidationError(
            f"The account store holds only {', '.join(FIELDS)}; refused: {', '.join(sorted(extra))}."
        )
    credits = record.get("credits", 0)
    if not isinstance(credits, int) or isinstance(credits, bool) or credits < 0:
        raise ValidationError("Credits must be a whole number of zero or more.")
    if record.get("role", "user") not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}.")


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
            return None
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
        folder = self.path.parent
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
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            self.invalidate()
            with _suppress_missing():
                os.unlink(tmp)
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
        removed = []
        for tmp in self.path.parent.glob(TEMP_PREFIX + "*" + TEMP_SUFFIX):
            with _suppress_missing():
                tmp.unlink()
                removed.append(tmp)
        return removed


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


@contextmanager
def _suppress_missing() -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        pass


class AccountStore:
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
        with self._locked():
            if isinstance(storage, AtomicJSONStorage):
                storage.remove_orphans()
            storage.read()  # fail now, with the file's name, if it is corrupt
            self._give_identities()

    def _give_identities(self) -> None:
        """Give records written before account ids existed an id and a gallery salt, once."""
        for doc_id, record in self._raw().items():
            missing = {
                name: new_random_id(size)
                for name, size in (("account_id", 16), ("gallery_salt", 32))
                if not record.get(name)
            }
            if missing:
                self._table.update(missing, doc_ids=[int(doc_id)])
                self._index_generation = -1

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> AccountStore:
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
    def memory(cls) -> AccountStore:
        """A store that lives in memory only."""
        return cls(MemoryStorage())

    @property
    def path(self) -> Path | None:
        """The file behind the store, or None in memory."""
        return getattr(self._storage, "path", None)

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
        by_name, by_email, by_id = {}, {}, {}
        for doc_id, record in table.items():
            by_name[str(record.get("username", "")).lower()] = int(doc_id)
            by_email[str(record.get("email", "")).lower()] = int(doc_id)
            if record.get("account_id"):
                by_id[str(record["account_id"])] = int(doc_id)
        self._by_name, self._by_email, self._by_id = by_name, by_email, by_id
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

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, username: object) -> bool:
        return isinstance(username, str) and self.get(username) is not None

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
        _check_amount(amount)
        with self._writing():
            doc_id, record = self._require(username)
            balance = int(record["credits"])
            if balance < amount:
                raise InsufficientCredits(amount, balance)
            self._set(doc_id, {"credits": balance - amount})
            return balance - amount

    def grant(self, username: str, amount: int) -> int:
        """Add ``amount`` credits in one step; returns the new balance."""
        _check_amount(amount)
        with self._writing():
            doc_id, record = self._require(username)
            balance = int(record["credits"]) + amount
            self._set(doc_id, {"credits": balance})
            return balance

    #: A refund is a grant of what was charged; the name says why.
    refund = grant

    def take(self, username: str, amount: int) -> int:
        """Remove up to ``amount`` credits (an admin correction); never below zero."""
        _check_amount(amount)
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
        _check_amount(credits)
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


def _check_amount(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise ValidationError("The amount of credits must be a whole number of zero or more.")
