"""Moving over: copy a TinyDB account file into PostgreSQL, verified.

Owns ``aicreative store migrate --to postgresql://…``: the copy, its
verification (the same number of accounts, the same credits checksum)
and the rules that make it safe to run twice: a target that already holds
exactly this store is left as it is; a target that holds anything else is
refused unless the operator says ``--replace``. Stop the app processes
before copying: a charge made during the copy would not be in it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .base import AccountStore


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What must agree between the two stores after a copy."""

    accounts: int
    credits: int
    checksum: str

    def __str__(self) -> str:
        return f"{self.accounts} account(s), {self.credits} credits, checksum {self.checksum[:16]}"


def fingerprint(records: list[dict[str, Any]]) -> Fingerprint:
    """Count, credits total and a SHA-256 over every (account id, username, credits).

    >>> fingerprint([{"account_id": "a1", "username": "ada", "credits": 3}]).credits
    3
    """
    digest = hashlib.sha256()
    for account_id, username, credits in sorted(
        (str(r["account_id"]), str(r["username"]), int(r["credits"])) for r in records
    ):
        digest.update(f"{account_id}\x00{username}\x00{credits}\n".encode())
    return Fingerprint(len(records), sum(int(r["credits"]) for r in records), digest.hexdigest())


@dataclasses.dataclass(frozen=True)
class CopyReport:
    copied: int
    source: Fingerprint
    target: Fingerprint
    already_there: bool


def copy_to_postgres(source_path: str | Path, url: str, *, replace: bool = False) -> CopyReport:
    """Copy the TinyDB store at ``source_path`` into the database at ``url``; verify it."""
    path = Path(source_path)
    if not path.is_file():
        raise StoreError(f"There is no account file at {path} to copy.")
    source = AccountStore.open(path)  # also gives old records their ids, once
    try:
        # Whole records with every field's default (old files lack the newer
        # fields), in sign-up order.
        records = [account.record() for account in source.all()]
    finally:
        source.close()
    expected = fingerprint(records)
    from .postgres import PostgresStore  # psycopg only when PostgreSQL is used

    target = PostgresStore(url)
    try:
        present = target.raw_records()
        if present:
            found = fingerprint(present)
            if found == expected and not replace:
                return CopyReport(0, expected, found, already_there=True)
            if not replace:
                raise StoreError(
                    f"The database already holds {found}, not this store ({expected}). "
                    "Nothing was copied; pass --replace to delete what it holds and copy."
                )
        copied = target.load(records, replace=replace)
        result = fingerprint(target.raw_records())
    finally:
        target.close()
    if result != expected:
        raise StoreError(
            f"The copy does not match: the file has {expected}, the database {result}."
        )
    return CopyReport(copied, expected, result, already_there=False)
