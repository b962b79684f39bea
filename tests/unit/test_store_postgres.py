"""The PostgreSQL store beyond the shared contract: schema, migrations,
atomic charges across threads and processes, a killed writer, shared counters.

The contract every store keeps (``tests/unit/test_store.py``) runs over
PostgreSQL too, through the ``store`` fixture. These tests use the machine's
server in a throwaway database (``tests/fixtures_postgres.py``) and skip,
saying why, where no server answers.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from aicreative.errors import Conflict, InsufficientCredits, NotFound, StoreError, ValidationError
from aicreative.store import FIELDS, Account, AccountStore

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def make(name: str = "ada", credits: int = 10, email: str | None = None) -> Account:
    return Account(name, email or f"{name}@example.org", "$argon2id$fake", credits=credits)


@pytest.fixture
def pg(pg_url: str):
    store = AccountStore.connect(pg_url)
    yield store
    store.close()


def _query(url: str, text: str, params=()):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(text, params)
        return cur.fetchall() if cur.description else []


# -- schema ----------------------------------------------------------------------


def test_the_table_columns_are_exactly_the_whitelist(pg, pg_url: str) -> None:
    columns = _query(
        pg_url,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'accounts' ORDER BY ordinal_position",
    )
    assert tuple(c for (c,) in columns) == FIELDS
    types = dict(
        _query(
            pg_url,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'accounts'",
        )
    )
    assert types["api_tokens"] == "jsonb" and types["credits"] == "bigint"


def test_uniqueness_is_the_databases_case_insensitive(pg, pg_url: str) -> None:
    indexes = dict(_query(pg_url, "SELECT indexname, indexdef FROM pg_indexes"))
    assert "lower(username)" in indexes["accounts_username_lower_key"]
    assert "lower(email)" in indexes["accounts_email_lower_key"]
    assert "UNIQUE" in indexes["accounts_account_id_key"]
    # Straight into the table, past the store's own code: the database refuses.
    import psycopg

    pg.add(make("Ada"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        _query(
            pg_url,
            "INSERT INTO accounts (username, email, password_hash, account_id, gallery_salt) "
            "VALUES ('ADA', 'x@example.org', 'h', 'id2', 's')",
        )


def test_sign_ups_racing_for_one_name_one_wins(pg_url: str) -> None:
    stores = [AccountStore.connect(pg_url) for _ in range(2)]
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def sign_up(i: int) -> None:
        barrier.wait()
        name = "Ada" if i % 2 else "aDA"
        try:
            stores[i % 2].add(make(name, email=f"a{i}@example.org"))
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
    assert stores[0].count() == 1
    for s in stores:
        s.close()


def test_records_keep_types_and_sign_up_order(pg) -> None:
    tokens = ({"id": "t1", "hash": "h", "name": "laptop"},)
    pg.add(make("zed"))
    pg.add(Account("ada", "ada@example.org", "h", policy_version=2, api_tokens=tokens))
    pg.update("zed", objected=True, email_confirmed=False)
    assert [a.username for a in pg.all()] == ["zed", "ada"]
    ada = pg.get_by_id(pg.get("ADA").account_id)
    assert ada.api_tokens == tokens and ada.policy_version == 2
    zed = pg.get("zed")
    assert zed.objected is True and zed.email_confirmed is False
    assert pg.raw_records()[1]["api_tokens"] == [dict(tokens[0])]


def test_api_tokens_found_by_id_and_changed_in_one_step(pg, pg_url: str) -> None:
    pg.add(make("ada"))
    bob = pg.add(make("bob"))
    assert pg.find_token("t1") is None
    pg.change_tokens(bob.account_id, lambda tokens: (*tokens, {"id": "t1", "hash": "h1"}))
    pg.change_tokens(bob.account_id, lambda tokens: (*tokens, {"id": "t2", "hash": "h2"}))
    assert pg.find_token("t2").username == "bob" and pg.find_token("t1").username == "bob"
    # Racing revokes from many threads: each lands, none brings a token back.
    threads = [
        threading.Thread(
            target=pg.change_tokens,
            args=(bob.account_id, lambda ts, i=i: tuple(t for t in ts if t["id"] != f"t{i}")),
        )
        for i in (1, 2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pg.get("bob").api_tokens == () and pg.find_token("t1") is None
    indexes = dict(_query(pg_url, "SELECT indexname, indexdef FROM pg_indexes"))
    assert "gin (api_tokens jsonb_path_ops)" in indexes["accounts_api_tokens"]
    with pytest.raises(NotFound):
        pg.change_tokens("no-such-id", lambda ts: ts)


def test_a_balance_past_the_column_is_refused_clearly(pg) -> None:
    pg.add(make(credits=0))
    with pytest.raises(ValidationError, match="too large"):
        pg.grant("ada", 2**70)
    assert pg.get("ada").credits == 0


# -- migrations --------------------------------------------------------------------


@pytest.fixture
def empty_db(pg_database: str):
    """A second, empty database on the same server, dropped after."""
    import secrets

    import psycopg

    from tests.fixtures_postgres import _with_dbname

    name = f"{pg_database.rsplit('/', 1)[1]}_{secrets.token_hex(3)}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_dbname(pg_database, name)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_processes_starting_together_migrate_once(empty_db: str) -> None:
    from aicreative.store.postgres_schema import LATEST_VERSION, migrate

    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        try:
            results.append(migrate(empty_db))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Exactly one applied the migrations; the others found them applied.
    assert sorted(before for before, _ in results) == [0] + [LATEST_VERSION] * 5
    versions = _query(empty_db, "SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, LATEST_VERSION + 1))


def test_a_newer_schema_stops_an_old_app(empty_db: str) -> None:
    from aicreative.store.postgres_schema import LATEST_VERSION, migrate

    migrate(empty_db)
    _query(
        empty_db,
        "INSERT INTO schema_version (version, name) VALUES (%s, 'from the future')",
        (LATEST_VERSION + 1,),
    )
    with pytest.raises(StoreError, match="newer than this app knows"):
        AccountStore.connect(empty_db)


def test_no_server_is_one_clear_error_without_the_password() -> None:
    with pytest.raises(StoreError) as info:
        AccountStore.connect("postgresql://app:s3cret@127.0.0.1:1/aicreative")
    message = str(info.value)
    assert "Cannot reach the database" in message and "127.0.0.1:1" in message
    assert "s3cret" not in message


# -- atomic charges ----------------------------------------------------------------


def test_threads_charge_without_lost_updates(pg) -> None:
    pg.add(make(credits=1000))
    ok = [0] * 8
    refused = [0] * 8

    def worker(i: int) -> None:
        for _ in range(200):
            try:
                pg.charge("ada", 1)
                ok[i] += 1
            except InsufficientCredits:
                refused[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(ok) == 1000 and sum(refused) == 600
    assert pg.get("ada").credits == 0


WORKER = textwrap.dedent(
    """
    import sys, threading
    from aicreative.errors import InsufficientCredits
    from aicreative.store import AccountStore
    store = AccountStore.connect(sys.argv[1])
    ok = [0] * 4
    def work(i):
        for _ in range(int(sys.argv[2])):
            try:
                store.charge("ada", 1)
                ok[i] += 1
            except InsufficientCredits:
                pass
            store.grant("bob", 1)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(sum(ok))
    """
)


def test_two_processes_four_threads_share_one_database(pg, pg_url: str) -> None:
    pg.add(make("ada", credits=500))
    pg.add(make("bob", credits=0))
    per_thread = 100  # 2 x 4 x 100 = 800 charges for 500 credits
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, pg_url, str(per_thread)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    charged = sum(int(p.communicate(timeout=300)[0]) for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert charged == 500
    assert pg.get("ada").credits == 0
    assert pg.get("bob").credits == 800  # every grant landed


KILLED_CHARGER = textwrap.dedent(
    """
    import sys
    from aicreative.store import AccountStore
    store = AccountStore.connect(sys.argv[1])
    print("ready", flush=True)
    while True:
        print(store.charge("ada", 1), flush=True)
    """
)


def test_a_killed_process_loses_no_committed_charge(pg, pg_url: str) -> None:
    pg.add(make("ada", credits=1_000_000))
    seen = 1_000_000
    for _ in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_CHARGER, pg_url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.15)
        proc.send_signal(signal.SIGKILL)
        out = proc.communicate()[0].split()
        if out:
            seen = int(out[-1])
        balance = pg.get("ada").credits
        # Every charge the process saw return is in the database; at most one
        # more committed that it did not live to print.
        assert seen - 1 <= balance <= seen
        seen = balance
    assert seen < 1_000_000 - 20  # it really was killed mid-stream


# -- shared throttle counters --------------------------------------------------------


def test_counters_count_per_window_and_share_across_instances(pg, pg_url: str) -> None:
    from aicreative.store.postgres import PostgresCounters

    now = [1000.0]
    here = pg.counters(clock=lambda: now[0])
    there = PostgresCounters(pg_url, clock=lambda: now[0])  # as another process would
    assert [here.add("login:ada", 60) for _ in range(3)] == [1, 2, 3]
    assert there.add("login:ada", 60) == 4 and there.get("login:ada", 60) == 4
    assert here.get("login:bob", 60) == 0
    now[0] = 1021.0  # the next 60 s window starts at 1020 (aligned on the epoch)
    assert here.get("login:ada", 60) == 0
    assert there.add("login:ada", 60) == 1
    here.reset("login:ada")
    assert there.get("login:ada", 60) == 0
    there.close()


def test_counters_stay_bounded(pg) -> None:
    now = [0.0]
    counters = pg.counters(clock=lambda: now[0], max_keys=50, purge_every_s=10)
    for i in range(120):
        counters.add(f"signup:{i}", 60)
    now[0] = 30.0
    counters.add("signup:late", 600)  # purges: 121 rows over a maximum of 50
    assert len(counters) == 50
    assert counters.get("signup:late", 600) == 1  # the newest kept
    now[0] = 601.0
    counters.purge()
    assert len(counters) == 0  # every window ended


def test_counters_are_exact_under_concurrency(pg) -> None:
    counters = pg.counters()
    threads = [
        threading.Thread(target=lambda: [counters.add("k", 3600) for _ in range(50)])
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counters.get("k", 3600) == 300


def test_redact() -> None:
    from aicreative.store.postgres_schema import redact

    assert redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert redact("host=h password=pw dbname=d") == "host=h password=*** dbname=d"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


def test_two_studios_on_one_database_share_the_login_throttle(pg_url: str, tmp_path: Path) -> None:
    """Two app processes (two Studios here) count one attacker's failures together."""
    from aicreative.accounts import PasswordHasher
    from aicreative.backends.demo import DemoBackend
    from aicreative.config import Settings
    from aicreative.errors import AuthError, Throttled
    from aicreative.mail import MemoryMailer
    from aicreative.studio import Studio

    settings = Settings(data_dir=tmp_path, backend="demo", confirm_email=False)
    studios = []
    for _ in range(2):
        store = AccountStore.connect(pg_url)
        studios.append(
            Studio(
                store,
                DemoBackend(),
                settings=settings,
                hasher=PasswordHasher.fast(),
                mailer=MemoryMailer(),
                counters=store.shared_counters(1000),
            )
        )
    one, two = studios
    one.signup("ada", "ada@example.org", "correct horse battery")
    for attempt in range(5):  # the pair's free failures, spread over both processes
        with pytest.raises(AuthError):
            (one if attempt % 2 else two).login("ada", "not the password", client="192.0.2.9")
    for studio in studios:
        with pytest.raises(Throttled):
            studio.login("ada", "correct horse battery", client="192.0.2.9")
    # The owner's own address is not locked out, on either process.
    assert two.login("ada", "correct horse battery", client="198.51.100.1")
    for studio in studios:
        studio.store.close()
