"""The PostgreSQL schema: its migrations, reaching the database, and what the audit reads.

Owns the numbered SQL files in ``migrations/`` and applying them (one
transaction under an advisory lock, recorded in ``schema_version``), the
connection with its timeout and its redacted errors, and the read-only
report ``aicreative audit`` makes of a database URL. The store itself
(:mod:`.postgres`) migrates through here when it connects.
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ..errors import StoreError
from ..hosts import is_loopback

#: Key of the advisory lock that serialises migrations across processes
#: (any constant shared by every process of this app; "AICr" in ASCII).
MIGRATION_LOCK = 0x41494372
CONNECT_TIMEOUT_S = 10


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs.

    >>> redact("postgresql://app:s3cret@db:5432/aicreative")
    'postgresql://app:***@db:5432/aicreative'
    """
    text = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)
    return re.sub(r"(password=)\S+", r"\1***", text)


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped, in order."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = re.fullmatch(r"(\d{4})_[a-z0-9_]+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    if [v for v, _, _ in found] != list(range(1, len(found) + 1)):
        raise StoreError("The store's migrations are not numbered 0001, 0002, … without gaps.")
    return found


LATEST_VERSION = len(migrations())


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, **kwargs)
    except psycopg.Error as exc:
        raise StoreError(f"Cannot reach the database {redact(url)}: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The schema version recorded in the database (0: none yet)."""
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(url: str) -> tuple[int, int]:
    """Bring the database's schema to :data:`LATEST_VERSION`; (before, after).

    One transaction under an advisory lock: processes starting together
    apply each migration once, and a failed one leaves the schema as it was.
    """
    with connect(url) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            before = schema_version(conn)
            if before > LATEST_VERSION:
                raise StoreError(
                    f"The database {redact(url)} has schema version {before}, newer than this "
                    f"app knows ({LATEST_VERSION}): upgrade the app, do not run an old one on it."
                )
            for version, name, text in migrations():
                if version > before:
                    conn.execute(text.encode())  # several statements, no parameters
                    conn.execute(
                        "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                        (version, name),
                    )
        return before, LATEST_VERSION


# -- what the audit and the operator need to know ------------------------------


@dataclasses.dataclass(frozen=True)
class DatabaseReport:
    """What ``aicreative audit`` checks about a database URL."""

    reachable: bool
    error: str
    version: int
    latest: int
    transport: str
    transport_ok: bool
    #: The accounts table's columns, in order (empty before the first migration).
    columns: tuple[str, ...] = ()


def inspect(url: str) -> DatabaseReport:
    """Reach the database at ``url`` and read, without changing anything, its
    schema version and how the connection travels (TLS, socket or loopback)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as exc:
        return DatabaseReport(
            False, f"not a valid database URL: {first_line(exc)}", 0, LATEST_VERSION, "", False
        )
    transport, transport_ok = _transport(params)
    try:
        with connect(url) as conn:
            version = schema_version(conn)
            if conn.info.pgconn.ssl_in_use:
                transport, transport_ok = "TLS", True
            columns = tuple(
                str(name)
                for (name,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'accounts' "
                    "ORDER BY ordinal_position"
                ).fetchall()
            )
    except StoreError as exc:
        return DatabaseReport(False, str(exc), 0, LATEST_VERSION, transport, transport_ok)
    return DatabaseReport(True, "", version, LATEST_VERSION, transport, transport_ok, columns)


def _transport(params: dict[str, Any]) -> tuple[str, bool]:
    host = str(params.get("host") or params.get("hostaddr") or "")
    sslmode = str(params.get("sslmode") or "prefer")
    if sslmode in ("verify-full", "verify-ca"):
        return f"TLS ({sslmode})", True
    if not host or host.startswith("/"):
        return "a local socket", True
    hosts = [h.strip() for h in host.split(",")]
    if all(is_loopback(h) for h in hosts):
        return f"loopback ({host})", True
    if sslmode == "require":
        return "TLS (sslmode=require: encrypted, server not verified)", True
    return f"plain over the network to {host} (sslmode={sslmode})", False
