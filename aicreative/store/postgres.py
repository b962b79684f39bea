"""The PostgreSQL account store and the shared throttle counters.

Owns what this project keeps in PostgreSQL (with :mod:`.postgres_schema`,
the only modules that import psycopg): the ``accounts`` table, whose columns are exactly the
whitelist :data:`~.base.FIELDS` (a test compares them); the schema
migrations (applied at connect time through :mod:`.postgres_schema`);
and :class:`PostgresCounters`, the throttle counts every app process shares.

Why it is safe with any number of app processes on one database:

- a charge is one statement, ``UPDATE … SET credits = credits - n WHERE …
  AND credits >= n RETURNING credits``: the row lock makes concurrent
  charges queue in the database, and none can take the balance below zero
  (the ``CHECK (credits >= 0)`` says so too);
- usernames and emails are unique without regard to letter case by unique
  indexes on ``lower()``, so two processes signing up "Ada" and "ada" at
  once cannot both win;
- session revocation (``session_counter``) and API tokens are columns of
  the account, read fresh on every request.

Connections come from a ``psycopg_pool.ConnectionPool`` (autocommit; a
transaction only where one step needs several statements).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, LiteralString

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import Conflict, InsufficientCredits, NotFound, StoreError, ValidationError
from .base import FIELDS, Account, AccountStore, TokenChange, check_amount, check_record
from .postgres_schema import CONNECT_TIMEOUT_S, first_line, migrate, redact

#: Connections per app process. A request holds one for a statement or two;
#: 10 per process leaves room for many processes under PostgreSQL's default
#: of 100 connections.
POOL_MAX = 10
_COLUMNS = sql.SQL(", ").join(sql.Identifier(f) for f in FIELDS)
#: Unique constraints and the refusal each one means.
_CONFLICTS = {
    "accounts_username_lower_key": "The username {username!r} is taken.",
    "accounts_email_lower_key": "An account with this email already exists.",
    "accounts_account_id_key": "This account id exists already.",
}


class PostgresStore(AccountStore):
    """Accounts and credits in PostgreSQL, shared by any number of processes."""

    def __init__(
        self, url: str, *, max_size: int = POOL_MAX, timeout: float = CONNECT_TIMEOUT_S
    ) -> None:
        self.url = url
        migrate(url)  # also the clear error when the server does not answer
        self._pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            open=False,
            name="aicreative-store",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout:
            self._pool.close()
            raise StoreError(f"Cannot reach the database {redact(url)} (timed out).") from None

    @property
    def kind(self) -> str:
        return "postgresql"

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout:
            raise StoreError(
                "The account database is busy or unreachable; try again in a moment."
            ) from None
        except pg_errors.NumericValueOutOfRange:
            raise ValidationError("That number of credits is too large.") from None
        except psycopg.OperationalError as exc:
            raise StoreError(f"The account database failed: {first_line(exc)}") from None

    def _one(
        self, query: sql.Composed | LiteralString, params: Any = None
    ) -> dict[str, Any] | None:
        with self._conn() as conn:
            cur = conn.cursor(row_factory=dict_row)
            return cur.execute(query, params).fetchone()

    @staticmethod
    def _values(record: dict[str, Any]) -> list[Any]:
        values = []
        for name in FIELDS:
            value = record.get(name)
            values.append(Jsonb(list(value or ())) if name == "api_tokens" else value)
        return values

    @staticmethod
    def _conflict(exc: pg_errors.UniqueViolation, username: str) -> Conflict:
        name = getattr(exc.diag, "constraint_name", None) or ""
        message = _CONFLICTS.get(name, "This account exists already.")
        return Conflict(message.format(username=username))

    # -- reading -------------------------------------------------------------

    def _select(self, where: LiteralString) -> sql.Composed:
        # ``where`` is always a constant of this module, never user text.
        return sql.SQL("SELECT {} FROM accounts WHERE {}").format(_COLUMNS, sql.SQL(where))

    def get(self, username: str) -> Account | None:
        row = self._one(self._select("lower(username) = lower(%s)"), (username,))
        return Account.from_record(row) if row else None

    def require(self, username: str) -> Account:
        account = self.get(username)
        if account is None:
            raise NotFound(f"No account named {username!r}.")
        return account

    def get_by_email(self, email: str) -> Account | None:
        row = self._one(self._select("lower(email) = lower(%s)"), (email,))
        return Account.from_record(row) if row else None

    def get_by_id(self, account_id: str) -> Account | None:
        row = self._one(self._select("account_id = %s"), (account_id,))
        return Account.from_record(row) if row else None

    def find_token(self, token_id: str) -> Account | None:
        row = self._one(self._select("api_tokens @> %s"), (Jsonb([{"id": token_id}]),))
        return Account.from_record(row) if row else None

    def raw_records(self) -> list[dict[str, Any]]:
        query = sql.SQL(
            "SELECT {} FROM accounts a LEFT JOIN signup_order s USING (account_id) "
            "ORDER BY s.seq NULLS LAST"
        ).format(sql.SQL(", ").join(sql.Identifier("a", f) for f in FIELDS))
        with self._conn() as conn:
            return list(conn.cursor(row_factory=dict_row).execute(query).fetchall())

    def all(self) -> list[Account]:
        return [Account.from_record(r) for r in self.raw_records()]

    def count(self) -> int:
        row = self._one("SELECT count(*) AS n FROM accounts")
        return int(row["n"]) if row else 0

    # -- writing -------------------------------------------------------------

    def add(self, account: Account) -> Account:
        record = account.record()
        check_record(record)
        query = sql.SQL(
            "WITH a AS (INSERT INTO accounts ({}) VALUES ({}) RETURNING account_id) "
            "INSERT INTO signup_order (account_id) SELECT account_id FROM a"
        ).format(_COLUMNS, sql.SQL(", ").join(sql.Placeholder() * len(FIELDS)))
        try:
            with self._conn() as conn:
                conn.execute(query, self._values(record))
        except pg_errors.UniqueViolation as exc:
            raise self._conflict(exc, account.username) from None
        return account

    def update(self, username: str, /, **fields: Any) -> Account:
        check_record(fields)  # refuses a field outside the whitelist before any query
        try:
            with self._conn() as conn, conn.transaction():
                cur = conn.cursor(row_factory=dict_row)
                record = cur.execute(
                    self._select("lower(username) = lower(%s) FOR UPDATE"), (username,)
                ).fetchone()
                if record is None:
                    raise NotFound(f"No account named {username!r}.")
                merged = {**record, **fields}
                check_record(merged)
                if "account_id" in fields and fields["account_id"] != record["account_id"]:
                    raise ValidationError("An account's id never changes.")
                if fields:
                    values = self._values(merged)
                    changes = sql.SQL(", ").join(
                        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder())
                        for name in FIELDS
                        if name in fields
                    )
                    params = [values[FIELDS.index(name)] for name in FIELDS if name in fields]
                    cur.execute(
                        sql.SQL("UPDATE accounts SET {} WHERE account_id = %s").format(changes),
                        [*params, record["account_id"]],
                    )
        except pg_errors.UniqueViolation as exc:
            raise self._conflict(exc, str(fields.get("username", username))) from None
        return Account.from_record(merged)

    def change_tokens(self, account_id: str, change: TokenChange) -> Account:
        with self._conn() as conn, conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            record = cur.execute(
                self._select("account_id = %s FOR UPDATE"), (account_id,)
            ).fetchone()
            if record is None:
                raise NotFound("This account no longer exists.")
            before = tuple(dict(t) for t in record.get("api_tokens") or ())
            tokens = [dict(t) for t in change(before)]
            check_record({**record, "api_tokens": tokens})
            cur.execute(
                "UPDATE accounts SET api_tokens = %s WHERE account_id = %s",
                (Jsonb(tokens), account_id),
            )
        return Account.from_record({**record, "api_tokens": tokens})

    def delete(self, username: str) -> bool:
        with self._conn() as conn:
            cur = conn.execute(
                "DELETE FROM accounts WHERE lower(username) = lower(%s)", (username,)
            )
            return cur.rowcount > 0

    def _balance_step(self, username: str, query: LiteralString, amount: int) -> int:
        check_amount(amount)
        row = self._one(query, {"n": amount, "u": username})
        if row is not None:
            return int(row["credits"])
        current = self._one(
            "SELECT credits FROM accounts WHERE lower(username) = lower(%s)", (username,)
        )
        if current is None:
            raise NotFound(f"No account named {username!r}.")
        raise InsufficientCredits(amount, int(current["credits"]))

    def charge(self, username: str, amount: int) -> int:
        # One statement: the row lock queues concurrent charges, and the
        # WHERE refuses a charge the balance cannot cover.
        return self._balance_step(
            username,
            "UPDATE accounts SET credits = credits - %(n)s "
            "WHERE lower(username) = lower(%(u)s) AND credits >= %(n)s RETURNING credits",
            amount,
        )

    def grant(self, username: str, amount: int) -> int:
        return self._balance_step(
            username,
            "UPDATE accounts SET credits = credits + %(n)s "
            "WHERE lower(username) = lower(%(u)s) RETURNING credits",
            amount,
        )

    def take(self, username: str, amount: int) -> int:
        return self._balance_step(
            username,
            "UPDATE accounts SET credits = greatest(credits - %(n)s, 0) "
            "WHERE lower(username) = lower(%(u)s) RETURNING credits",
            amount,
        )

    def shared_counters(self, max_keys: int) -> PostgresCounters:
        """Login throttles and sign-up limits in the database: one budget for every process."""
        return self.counters(max_keys=max_keys)

    def confirm_email(self, account_id: str, email: str, credits: int) -> Account | None:
        check_amount(credits)
        # One statement: only an unconfirmed account still at that email
        # changes, so two clicks (or two processes) grant once.
        row = self._one(
            "UPDATE accounts SET email_confirmed = true, credits = credits + %s "
            "WHERE account_id = %s AND NOT email_confirmed AND lower(email) = lower(%s) "
            "RETURNING account_id",
            (credits, account_id, email),
        )
        return self.get_by_id(account_id) if row else None

    def bump_session(self, username: str) -> int:
        row = self._one(
            "UPDATE accounts SET session_counter = session_counter + 1 "
            "WHERE lower(username) = lower(%s) RETURNING session_counter",
            (username,),
        )
        if row is None:
            raise NotFound(f"No account named {username!r}.")
        return int(row["session_counter"])

    def load(self, records: Iterable[dict[str, Any]], *, replace: bool = False) -> int:
        """Bulk-load whole records (with COPY, in one transaction); how many.

        For ``aicreative store migrate`` and the benchmarks. Each record is
        checked against the whitelist first; the sign-up order is the
        records' order. With ``replace`` every account already here is
        deleted in the same transaction (all or nothing).
        """
        ids: list[str] = []
        columns = sql.SQL("COPY accounts ({}) FROM STDIN").format(_COLUMNS)
        with self._conn() as conn, conn.transaction():
            if replace:
                conn.execute("TRUNCATE accounts, signup_order")
            with conn.cursor() as cur:
                with cur.copy(columns) as copy:
                    for record in records:
                        check_record(record)
                        copy.write_row(self._values(record))
                        ids.append(str(record["account_id"]))
                with cur.copy("COPY signup_order (account_id) FROM STDIN") as copy:
                    for account_id in ids:
                        copy.write_row((account_id,))
        return len(ids)

    def counters(self, **kwargs: Any) -> PostgresCounters:
        """Throttle counters in this database, sharing this store's connections."""
        return PostgresCounters(self._pool, **kwargs)

    def close(self) -> None:
        self._pool.close()


class PostgresCounters:
    """Fixed-window event counts in PostgreSQL, shared by every app process.

    The same duck-typed interface as ``aicreative.limits.Counters``
    (``add``, ``get``, ``reset``) and the same windows: aligned on the
    epoch, so every process agrees where a window starts. Each ``add`` is
    one upsert. Rows whose window ended are purged at most every
    ``purge_every_s`` seconds by whichever process counts next, and past
    ``max_keys`` rows the ones ending soonest go first, so the table stays
    bounded however many names or addresses an attacker tries.
    """

    def __init__(
        self,
        pool: ConnectionPool[Any] | str,
        *,
        max_keys: int = 1_000_000,
        purge_every_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        if isinstance(pool, str):
            migrate(pool)
            pool = ConnectionPool(
                pool, min_size=1, max_size=4, kwargs={"autocommit": True}, open=True
            )
            self._owns_pool = True
        else:
            self._owns_pool = False
        self._pool = pool
        self.max_keys = max_keys
        self.purge_every_s = purge_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next_purge = 0.0

    @staticmethod
    def _window(now: float, window_s: float) -> float:
        return (now // window_s) * window_s

    def add(self, key: str, window_s: float) -> int:
        now = self._clock()
        start = self._window(now, window_s)
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO limits AS l (key, window_start, count, expires_at) "
                "VALUES (%(k)s, %(s)s, 1, %(e)s) ON CONFLICT (key) DO UPDATE SET "
                "count = CASE WHEN l.window_start = EXCLUDED.window_start "
                "THEN l.count + 1 ELSE 1 END, "
                "window_start = EXCLUDED.window_start, expires_at = EXCLUDED.expires_at "
                "RETURNING count",
                {"k": key, "s": start, "e": start + window_s},
            ).fetchone()
        self._maybe_purge(now)
        return int(row[0]) if row else 1

    def get(self, key: str, window_s: float) -> int:
        start = self._window(self._clock(), window_s)
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT count FROM limits WHERE key = %s AND window_start = %s", (key, start)
            ).fetchone()
        return int(row[0]) if row else 0

    def reset(self, key: str) -> None:
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM limits WHERE key = %s", (key,))

    def __len__(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM limits").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the connections (only those this object opened itself)."""
        if self._owns_pool:
            self._pool.close()

    def _maybe_purge(self, now: float) -> None:
        with self._lock:
            if now < self._next_purge:
                return
            self._next_purge = now + self.purge_every_s
        self.purge(now)

    def purge(self, now: float | None = None) -> int:
        """Delete ended windows, then the soonest-ending rows past ``max_keys``; rows deleted."""
        now = self._clock() if now is None else now
        with self._pool.connection() as conn:
            ended = conn.execute("DELETE FROM limits WHERE expires_at <= %s", (now,)).rowcount
            over = conn.execute(
                "DELETE FROM limits WHERE key IN (SELECT key FROM limits ORDER BY expires_at "
                "LIMIT greatest(0, (SELECT count(*) FROM limits) - %s))",
                (self.max_keys,),
            ).rowcount
        return max(ended, 0) + max(over, 0)
