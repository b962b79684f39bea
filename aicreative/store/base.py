"""What every account store is: the record, the whitelist and the interface.

Owns :data:`FIELDS` (everything a record may hold, and nothing else),
:class:`Account`, the checks every backend applies before it writes, and
:class:`AccountStore`, the interface the Studio talks to. The backends
(TinyDB file or memory in :mod:`.tinydb_store`, PostgreSQL in
:mod:`.postgres`) implement it and are checked by the same contract tests
(``tests/unit/test_store.py``). Nothing here imports a database library.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ValidationError

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
#: Every key an API token's entry in ``api_tokens`` may hold: never the secret.
TOKEN_FIELDS: tuple[str, ...] = ("id", "hash", "name", "created", "last_used", "expires")
ROLES = ("user", "admin")
#: What :meth:`AccountStore.change_tokens` applies: the account's API tokens in, the new ones out.
TokenChange = Callable[[tuple[dict[str, Any], ...]], tuple[dict[str, Any], ...]]


def new_random_id(nbytes: int) -> str:
    """A random URL-safe identifier of ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


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
    for token in record.get("api_tokens") or ():
        if not isinstance(token, dict) or set(token) - set(TOKEN_FIELDS):
            refused = (
                ", ".join(sorted(set(token) - set(TOKEN_FIELDS)))
                if isinstance(token, dict)
                else type(token).__name__
            )
            raise ValidationError(
                f"An API token entry holds only {', '.join(TOKEN_FIELDS)}; refused: {refused}."
            )


def check_amount(amount: int) -> None:
    """Refuse an amount of credits that is not a whole number of zero or more."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise ValidationError("The amount of credits must be a whole number of zero or more.")


class AccountStore(abc.ABC):
    """Accounts and credits: the interface every backend implements.

    Build one with :meth:`open` (a TinyDB file), :meth:`memory` or
    :meth:`connect` (a ``postgresql://`` URL), or :func:`open_store` from a
    setting. Every credit change is one atomic step; usernames and emails
    are unique without regard to letter case.
    """

    # -- construction ------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> AccountStore:
        """The store in a TinyDB file (created on first write, folder mode 0700)."""
        from .tinydb_store import TinyDBStore

        return TinyDBStore.open_file(path)

    @classmethod
    def memory(cls) -> AccountStore:
        """A store that lives in memory only."""
        from .tinydb_store import TinyDBStore

        return TinyDBStore.in_memory()

    @classmethod
    def connect(cls, url: str, **pool: Any) -> AccountStore:
        """The store in a PostgreSQL database (``postgresql://…``), migrated on connect."""
        from .postgres import PostgresStore

        return PostgresStore(url, **pool)

    @property
    def path(self) -> Path | None:
        """The file behind the store, or None (memory, a database)."""
        return None

    @property
    @abc.abstractmethod
    def kind(self) -> str:
        """``memory``, ``file`` or ``postgresql``: what the store keeps its records in."""
        raise NotImplementedError

    # -- reading -------------------------------------------------------------

    @abc.abstractmethod
    def get(self, username: str) -> Account | None:
        """The account of ``username`` (any letter case), or None."""
        raise NotImplementedError

    @abc.abstractmethod
    def require(self, username: str) -> Account:
        """The account of ``username``; NotFound when there is none."""
        raise NotImplementedError

    @abc.abstractmethod
    def get_by_email(self, email: str) -> Account | None:
        """The account that has ``email`` (compared without letter case), or None."""
        raise NotImplementedError

    @abc.abstractmethod
    def get_by_id(self, account_id: str) -> Account | None:
        """The account whose identity is ``account_id``, or None (deleted, never existed)."""
        raise NotImplementedError

    @abc.abstractmethod
    def all(self) -> list[Account]:
        """Every account, in sign-up order."""
        raise NotImplementedError

    @abc.abstractmethod
    def raw_records(self) -> list[dict[str, Any]]:
        """The records exactly as stored (for the self-audit and tests)."""
        raise NotImplementedError

    @abc.abstractmethod
    def count(self) -> int:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.count()

    def __contains__(self, username: object) -> bool:
        return isinstance(username, str) and self.get(username) is not None

    # -- writing -------------------------------------------------------------

    @abc.abstractmethod
    def add(self, account: Account) -> Account:
        """Add a new account; Conflict when the username or email is taken."""
        raise NotImplementedError

    @abc.abstractmethod
    def update(self, username: str, /, **fields: Any) -> Account:
        """Change whitelisted fields of one account and return it as stored."""
        raise NotImplementedError

    @abc.abstractmethod
    def delete(self, username: str) -> bool:
        """Remove the account and every byte of it. False if absent."""
        raise NotImplementedError

    @abc.abstractmethod
    def charge(self, username: str, amount: int) -> int:
        """Take ``amount`` credits in one step; InsufficientCredits if short.

        Returns the new balance, which is never below zero.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def grant(self, username: str, amount: int) -> int:
        """Add ``amount`` credits in one step; returns the new balance."""
        raise NotImplementedError

    def refund(self, username: str, amount: int) -> int:
        """A refund is a grant of what was charged; the name says why."""
        return self.grant(username, amount)

    @abc.abstractmethod
    def take(self, username: str, amount: int) -> int:
        """Remove up to ``amount`` credits (an admin correction); never below zero."""
        raise NotImplementedError

    @abc.abstractmethod
    def bump_session(self, username: str) -> int:
        """End every session of the user; returns the new counter."""
        raise NotImplementedError

    @abc.abstractmethod
    def confirm_email(self, account_id: str, email: str, credits: int) -> Account | None:
        """Mark the email confirmed and grant ``credits``, in one step, once.

        Only while the account is unconfirmed and still has ``email``; None
        otherwise, so that two clicks on one link never grant twice.
        """
        raise NotImplementedError

    def shared_counters(self, max_keys: int) -> Any | None:
        """Throttle counts shared by every app process on this store, or None.

        None (this store lives in one process's file or memory): the Studio
        counts in its own memory. A database store returns counters with the
        interface of :class:`aicreative.limits.Counters`.
        """
        return None

    def find_token(self, token_id: str) -> Account | None:
        """The account holding the API token whose public id is ``token_id``, or None."""
        raise NotImplementedError(f"{type(self).__name__} does not index API tokens")

    def change_tokens(self, account_id: str, change: TokenChange) -> Account:
        """Replace the account's API tokens by ``change(tokens)``, in one locked step.

        One step so that a revoke and a "last used" stamp racing each other
        cannot bring a revoked token back. NotFound when the account is gone.
        """
        raise NotImplementedError(f"{type(self).__name__} does not change API tokens")

    @abc.abstractmethod
    def close(self) -> None:
        """Release files or connections; the store is not used after."""
