"""PostgreSQL for the tests: a throwaway database per test session.

The server is the machine's own (127.0.0.1:5432, trust authentication; set
``AICREATIVE_TEST_DATABASE_URL`` to use another). The session creates a
database named ``aicreative_test_<random>`` on it and drops it at the end, so
runs on one server do not collide. Each test that asks for ``pg_url`` gets
that database migrated and empty. Where no server answers (or psycopg is not
installed) these tests skip with the reason, and the run's summary says how
many PostgreSQL tests ran.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

#: Where the tests find a server: a maintenance database they may create databases from.
SERVER_URL = os.environ.get(
    "AICREATIVE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_counts = {"passed": 0, "failed": 0, "skipped": 0}
_why_skipped: list[str] = []


def _with_dbname(url: str, dbname: str) -> str:
    """The same server URL naming another database (a URL, as AICREATIVE_DATABASE_URL is)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A new, empty database for this test session (dropped after); its URL."""
    try:
        import psycopg
    except ImportError:
        reason = "PostgreSQL tests skipped: psycopg is not installed (pip install -e '.[postgres]')"
        _why_skipped.append(reason)
        pytest.skip(reason)
    try:
        admin = psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL tests skipped: no server answers at {SERVER_URL} ({str(exc).strip().splitlines()[0]})"
        _why_skipped.append(reason)
        pytest.skip(reason)
    name = f"aicreative_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_dbname(SERVER_URL, name)
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The session's database, migrated and with every table emptied: its URL."""
    import psycopg

    from aicreative.store.postgres import migrate

    migrate(pg_database)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("TRUNCATE accounts, signup_order, limits")
    return pg_database


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "pg_url" in getattr(item, "fixturenames", ()) or "postgres" in params.values():
            item.add_marker(pytest.mark.postgres)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "postgres" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _counts[report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = _counts["passed"] + _counts["failed"]
    line = (
        f"PostgreSQL tests: {ran} ran ({_counts['passed']} passed, {_counts['failed']} failed), "
        f"{_counts['skipped']} skipped"
    )
    if _why_skipped:
        line += f" - {_why_skipped[0]}"
    terminalreporter.write_line(line)
