"""``aicreative audit``'s account-database check: reachable, schema current,
columns = the whitelist, and not in clear text over a network."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicreative import Settings
from aicreative.audit import check_database

pytestmark = pytest.mark.postgres

KEY = "k3Y-" + "abcdefghijklmnopqrstuvwxyz0123456789"


def settings(tmp_path: Path, url: str = "") -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key=KEY, backend="demo", database_url=url)


def test_no_database_is_the_file(tmp_path: Path) -> None:
    check = check_database(settings(tmp_path))
    assert check.ok and "accounts.json" in check.detail


def test_a_migrated_database_on_loopback_passes(pg_url: str, tmp_path: Path) -> None:
    check = check_database(settings(tmp_path, pg_url))
    assert check.ok, check.detail
    assert "(current)" in check.detail and "loopback" in check.detail


def test_an_unmigrated_database_fails(pg_url: str, tmp_path: Path) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM schema_version WHERE version = (SELECT max(version) FROM schema_version)"
        )
    try:
        check = check_database(settings(tmp_path, pg_url))
        assert not check.ok and "start the app once" in check.detail
    finally:
        from aicreative.store.postgres_schema import LATEST_VERSION

        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (%s, 'restored')",
                (LATEST_VERSION,),
            )


def test_an_unreachable_database_fails_without_the_password(tmp_path: Path) -> None:
    check = check_database(settings(tmp_path, "postgresql://app:pw123@127.0.0.1:1/db"))
    assert not check.ok and "Cannot reach" in check.detail and "pw123" not in check.detail


@pytest.mark.parametrize(
    ("params", "ok"),
    [
        ({"host": "db.internal"}, False),
        ({"host": "db.internal", "sslmode": "disable"}, False),
        ({"host": "db.internal", "sslmode": "require"}, True),
        ({"host": "db.internal", "sslmode": "verify-full"}, True),
        ({"host": "/run/postgresql"}, True),
        ({}, True),
        ({"host": "localhost"}, True),
        ({"host": "::1"}, True),
        ({"host": "127.0.0.1,db.internal"}, False),
    ],
)
def test_transport_judgement(params: dict[str, str], ok: bool) -> None:
    from aicreative.store.postgres_schema import _transport

    assert _transport(params)[1] is ok
