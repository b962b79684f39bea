"""The account store: whitelist, atomicity, locking, caching, corruption."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from aicreative.errors import Conflict, InsufficientCredits, NotFound, StoreError, ValidationError
from aicreative.store import FIELDS, Account, AccountStore, AtomicJSONStorage

ROOT = Path(__file__).resolve().parents[2]


def make(name: str = "ada", credits: int = 10, email: str | None = None) -> Account:
    return Account(name, email or f"{name}@example.org", "$argon2id$fake", credits=credits)


# -- over both storages ------------------------------------------------------


def test_add_get_case_insensitive(store: AccountStore) -> None:
    added = store.add(make("Ada"))
    assert store.get("ada") == added
    assert store.get("ADA").username == "Ada"
    assert store.get("bob") is None
    assert "ada" in store and "bob" not in store
    assert store.get_by_email("ADA@example.org").username == "Ada"


def test_identity_is_a_random_id_never_reused(store: AccountStore) -> None:
    first = store.add(make("ada"))
    assert store.get_by_id(first.account_id) == first
    assert len(first.account_id) >= 20 and len(first.gallery_salt) >= 40
    with pytest.raises(ValidationError):
        store.update("ada", account_id="chosen")
    store.delete("ada")
    again = store.add(make("ada"))
    assert again.account_id != first.account_id
    assert again.gallery_salt != first.gallery_salt
    assert store.get_by_id(first.account_id) is None
    assert store.get_by_id(again.account_id).username == "ada"


def test_old_records_get_an_identity_once(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    legacy = {"username": "old", "email": "old@example.org", "password_hash": "h", "credits": 1}
    path.write_text(json.dumps({"accounts": {"1": legacy}}))
    store = AccountStore.open(path)
    given = store.require("old")
    assert given.account_id and given.gallery_salt
    store.close()
    assert AccountStore.open(path).require("old").account_id == given.account_id


def test_duplicates_refused(store: AccountStore) -> None:
    store.add(make("ada"))
    with pytest.raises(Conflict, match="taken"):
        store.add(make("ADA", email="other@example.org"))
    with pytest.raises(Conflict, match="email"):
        store.add(make("bob", email="ada@example.org"))
    assert store.count() == 1


def test_whitelist_refuses_other_fields(store: AccountStore) -> None:
    store.add(make())
    with pytest.raises(ValidationError, match="refused: prompt"):
        store.update("ada", prompt="a secret prompt")
    with pytest.raises(ValidationError, match="refused"):
        store.update("ada", image=b"\x89PNG")
    for record in store.raw_records():
        assert set(record) == set(FIELDS)


def test_records_hold_exactly_the_fields(store: AccountStore) -> None:
    store.add(make("ada"))
    store.add(make("bob"))
    store.charge("ada", 3)
    store.bump_session("bob")
    assert [set(r) for r in store.raw_records()] == [set(FIELDS), set(FIELDS)]


def test_charge_grant_refund_take(store: AccountStore) -> None:
    store.add(make(credits=5))
    assert store.charge("ada", 3) == 2
    with pytest.raises(InsufficientCredits) as info:
        store.charge("ada", 3)
    assert "needs 3" in str(info.value) and "have 2" in str(info.value)
    assert store.get("ada").credits == 2
    assert store.refund("ada", 3) == 5
    assert store.grant("ada", 10) == 15
    assert store.take("ada", 100) == 0
    with pytest.raises(ValidationError):
        store.charge("ada", -1)
    with pytest.raises(NotFound):
        store.charge("nobody", 1)


def test_update_rename_and_email_conflicts(store: AccountStore) -> None:
    store.add(make("ada"))
    store.add(make("bob"))
    with pytest.raises(Conflict):
        store.update("ada", username="BOB")
    with pytest.raises(Conflict):
        store.update("ada", email="bob@example.org")
    store.update("ada", username="ada2")
    assert store.get("ada") is None and store.get("ada2") is not None
    # Only the case changes: not a conflict with itself.
    store.update("ada2", username="ADA2")
    assert store.get("ada2").username == "ADA2"


def test_delete(store: AccountStore) -> None:
    store.add(make("ada"))
    assert store.delete("ADA") is True
    assert store.delete("ada") is False
    assert store.count() == 0


def test_bump_session(store: AccountStore) -> None:
    store.add(make())
    assert store.bump_session("ada") == 1
    assert store.bump_session("ada") == 2


def test_failed_update_leaves_state(store: AccountStore) -> None:
    store.add(make(credits=1))
    with pytest.raises(ValidationError):
        store.update("ada", credits=-5)
    assert store.get("ada").credits == 1


def test_credit_writes_keep_the_index_and_renames_rebuild_it(
    store: AccountStore, monkeypatch
) -> None:
    if store.kind == "postgresql":
        pytest.skip("TinyDB's in-process index; PostgreSQL's indexes are the database's")
    store.add(make("ada"))
    store.add(make("bob"))
    store.get("ada")  # index built
    rebuilds = []
    real = store._reindex
    monkeypatch.setattr(store, "_reindex", lambda table: (rebuilds.append(1), real(table)))
    store.charge("ada", 1)
    store.grant("bob", 3)
    store.take("ada", 1)
    store.bump_session("bob")
    assert store.get("ADA").credits == 8 and store.get("bob").credits == 13
    assert rebuilds == []  # credit and session writes leave the index valid
    store.update("ada", username="ada2", email="ada2@example.org")
    assert store.get("ada") is None and store.get("ada2") is not None
    assert store.get_by_email("ada2@example.org").username == "ada2"
    assert store.get_by_email("ada@example.org") is None
    assert len(rebuilds) == 1


def test_another_writer_still_invalidates_the_kept_index(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    a, b = AccountStore.open(path), AccountStore.open(path)
    a.add(make("ada"))
    b.charge("ada", 1)  # b's index is kept after its own write
    a.update("ada", username="eve")  # then another instance renames
    assert b.get("ada") is None and b.get("eve").credits == 9
    b.charge("eve", 1)
    assert a.get("eve").credits == 8


def test_integers_past_64_bits_survive_a_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    s = AccountStore.open(path)
    s.add(make(credits=0))
    s.grant("ada", 2**70)  # orjson refuses these; the store falls back to json
    assert AccountStore.open(path).get("ada").credits == 2**70


# -- the file ------------------------------------------------------------------


def test_file_is_atomic_json_and_private(tmp_path: Path) -> None:
    path = tmp_path / "d" / "accounts.json"
    s = AccountStore.open(path)
    s.add(make())
    assert json.loads(path.read_bytes())["accounts"]["1"]["username"] == "ada"
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert not list(path.parent.glob(".accounts-*.tmp"))


def test_deleted_user_leaves_no_bytes(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    s = AccountStore.open(path)
    s.add(make("zelda", email="zelda-unique@example.org"))
    s.add(make("bob"))
    s.delete("zelda")
    raw = path.read_bytes()
    assert b"zelda" not in raw and b"bob" in raw


def test_orphan_temp_files_removed_at_start(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    AccountStore.open(path).add(make())
    orphan = tmp_path / ".accounts-abc123.tmp"
    orphan.write_text("half a file")
    s = AccountStore.open(path)
    assert not orphan.exists()
    assert s.get("ada") is not None


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"accounts": [1, 2]}', b"[]", b"\xff\xfe garbage"]
)
def test_corrupt_file_stops_startup_and_is_kept(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "accounts.json"
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        AccountStore.open(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == content  # never reset or overwritten


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root reads any file, so make the path a folder: unreadable as a file.
        path = tmp_path / "accounts.json"
        path.mkdir()
    else:
        path = tmp_path / "accounts.json"
        path.write_text("{}")
        path.chmod(0)
    with pytest.raises(StoreError, match="accounts.json"):
        AccountStore.open(path)


def test_reads_come_from_memory_until_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    a = AccountStore.open(path)
    b = AccountStore.open(path)
    a.add(make(credits=5))
    storage: AtomicJSONStorage = b._storage  # type: ignore[assignment]
    assert b.get("ada").credits == 5
    generation = storage.generation
    for _ in range(20):
        b.get("ada")
    assert storage.generation == generation  # no re-read: nothing changed
    a.charge("ada", 2)  # another instance (as another process would) writes
    assert b.get("ada").credits == 3
    assert storage.generation == generation + 1  # exactly one re-read


def test_disk_full_is_clear_and_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "accounts.json"
    s = AccountStore.open(path)
    s.add(make(credits=5))
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # the one fault we cannot cause for real here
    with pytest.raises(StoreError, match="No space left"):
        s.charge("ada", 1)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert s.get("ada").credits == 5
    assert AccountStore.open(path).get("ada").credits == 5
    assert not list(tmp_path.glob(".accounts-*.tmp"))


# -- concurrency -----------------------------------------------------------------


def test_threads_charge_one_file_without_lost_updates(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    s = AccountStore.open(path)
    s.add(make(credits=1000))
    ok = [0] * 8
    refused = [0] * 8

    def worker(i: int) -> None:
        for _ in range(200):
            try:
                s.charge("ada", 1)
                ok[i] += 1
            except InsufficientCredits:
                refused[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(ok) == 1000 and sum(refused) == 600
    assert s.get("ada").credits == 0
    assert AccountStore.open(path).get("ada").credits == 0


WORKER = textwrap.dedent(
    """
    import sys, threading
    from aicreative.errors import InsufficientCredits
    from aicreative.store import AccountStore
    store = AccountStore.open(sys.argv[1])
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


def test_two_processes_four_threads_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    s = AccountStore.open(path)
    s.add(make("ada", credits=500))
    s.add(make("bob", credits=0))
    per_thread = 100  # 2 x 4 x 100 = 800 charges for 500 credits
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), str(per_thread)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    charged = sum(int(p.communicate(timeout=300)[0]) for p in procs)
    assert all(p.returncode == 0 for p in procs)
    fresh = AccountStore.open(path)
    assert charged == 500
    assert fresh.get("ada").credits == 0
    assert fresh.get("bob").credits == 800  # every grant landed


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from aicreative.store import Account, AccountStore
    store = AccountStore.open(sys.argv[1])
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        balance = store.grant("ada", 1)
        if n % 7 == 0:
            store.add(Account(f"u{n}", f"u{n}@example.org", "h", credits=n))
        if n % 11 == 0:
            store.delete(f"u{n - 4}")
        print(balance, flush=True)
    """
)


def test_sigkilled_writer_never_corrupts_the_file(tmp_path: Path) -> None:
    path = tmp_path / "accounts.json"
    AccountStore.open(path).add(make("ada", credits=0))
    rng = random.Random(1234)
    last_committed = 0
    for _ in range(50):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        out = proc.communicate()[0].split()
        proc.wait()
        if out:
            last_committed = int(out[-1])
        store = AccountStore.open(path)  # must load: never half a file
        balance = store.get("ada").credits
        # Every write the writer saw return is on disk; at most one more landed.
        assert last_committed <= balance <= last_committed + 1
        last_committed = balance
        for record in store.raw_records():
            assert set(record) == set(FIELDS)
            assert record["credits"] >= 0
        assert not list(tmp_path.glob(".accounts-*.tmp"))
    assert last_committed > 100  # the writer really was killed mid-stream, many times


def test_an_old_file_gets_its_identities_in_one_write(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "accounts.json"
    legacy = {
        str(i): {"username": f"u{i}", "email": f"u{i}@example.org", "password_hash": "h"}
        for i in range(1, 201)
    }
    path.write_text(json.dumps({"accounts": legacy}))
    writes = []
    real = AtomicJSONStorage.write
    monkeypatch.setattr(
        AtomicJSONStorage, "write", lambda self, data: (writes.append(1), real(self, data))
    )
    store = AccountStore.open(path)
    assert len(writes) == 1  # not one rewrite of the whole file per record
    ids = {a.account_id for a in store.all()}
    assert len(ids) == 200 and all(ids) and all(a.gallery_salt for a in store.all())
