"""Shared fixtures: stores over every backend, studios, settings, free ports.

Model, mail and remote-service fixtures live in ``tests/fixtures_*.py`` and
are loaded here as plugins so that every test module can use them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from aicreative import Settings, Studio
from aicreative.accounts import PasswordHasher
from aicreative.backends.demo import DemoBackend
from aicreative.store import AccountStore

pytest_plugins = [  # every tests/fixtures_*.py module
    f"tests.{p.stem}" for p in Path(__file__).parent.glob("fixtures_*.py")
]

# Tests never talk to a hub or to Gradio's servers.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["memory", "file", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccountStore]:
    """The same store tests run over memory, the TinyDB file and PostgreSQL
    (a throwaway database, see ``fixtures_postgres.py``)."""
    if request.param == "memory":
        s = AccountStore.memory()
    elif request.param == "postgres":
        s = AccountStore.connect(request.getfixturevalue("pg_url"))
    else:
        s = AccountStore.open(tmp_path / "data" / "accounts.json")
    yield s
    s.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: its own data dir, demo backend, a fixed key."""
    return Settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-0123456789abcdef",
        backend="demo",
        signup_credits=10,
        # Credits at once; tests/http/test_abuse.py turns confirmation on and tests it.
        confirm_email=False,
    )


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher.fast()


@pytest.fixture
def studio(settings: Settings, hasher: PasswordHasher) -> Studio:
    """A Studio over a real TinyDB file in the test's data dir, demo backend."""
    from aicreative.mail import MemoryMailer

    settings.ensure_data_dir()
    return Studio(
        AccountStore.open(settings.store_path),
        DemoBackend(),
        settings=settings,
        hasher=hasher,
        mailer=MemoryMailer(),
        secret_key=settings.secret_key.get_secret_value(),
    )


PASSWORD = "correct horse battery"


@pytest.fixture
def user(studio: Studio) -> str:
    """A signed-up user "ada" with the sign-up credits; returns the username."""
    studio.signup("ada", "ada@example.org", PASSWORD)
    return "ada"
