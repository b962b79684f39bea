"""The account store: the only place that holds data about people.

Owns every record about an account and the field whitelist that keeps
anything else out of it (:data:`FIELDS`): the store refuses any other
field, so a prompt or an image can never be written here by mistake.
Three backends behind one interface (:class:`AccountStore`), checked by the
same contract tests:

- a TinyDB file (:mod:`.tinydb_store`, the default: zero setup, one process
  or several on one machine);
- memory (tests, notebooks);
- PostgreSQL (:mod:`.postgres`, chosen by ``AICREATIVE_DATABASE_URL``): any
  number of app processes on one database; also the shared throttle
  counters (:class:`~.postgres.PostgresCounters`). Only this package
  imports a database library, and psycopg only when PostgreSQL is used.

>>> store = AccountStore.memory()
>>> _ = store.add(Account("ada", "ada@example.org", "hash", credits=3))
>>> store.charge("ada", 2)
1
>>> store.kind
'memory'
"""

from __future__ import annotations

from pathlib import Path

from .base import (
    FIELDS,
    ROLES,
    TECHNICAL_FIELDS,
    TOKEN_FIELDS,
    Account,
    AccountStore,
    check_amount,
    check_record,
    new_random_id,
)
from .tinydb_storage import TEMP_PREFIX, TEMP_SUFFIX, AtomicJSONStorage, MemoryStorage
from .tinydb_store import TABLE, TinyDBStore

__all__ = [
    "FIELDS",
    "ROLES",
    "TABLE",
    "TECHNICAL_FIELDS",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "TOKEN_FIELDS",
    "Account",
    "AccountStore",
    "AtomicJSONStorage",
    "MemoryStorage",
    "TinyDBStore",
    "check_amount",
    "check_record",
    "is_database_url",
    "new_random_id",
    "open_store",
]

#: URL schemes that select the PostgreSQL backend.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database.

    >>> is_database_url("postgresql://app@db.internal/aicreative"), is_database_url("")
    (True, False)
    """
    return url.strip().lower().startswith(POSTGRES_SCHEMES)


def open_store(database_url: str, file: str | Path) -> AccountStore:
    """The store a deployment's settings name: PostgreSQL when ``database_url``
    is set, else the TinyDB ``file``."""
    if database_url.strip():
        return AccountStore.connect(database_url.strip())
    return AccountStore.open(file)
