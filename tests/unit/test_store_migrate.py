"""``aicreative store migrate``: a TinyDB file copied into PostgreSQL, verified,
safe to repeat, refusing to overwrite a database that holds something else."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from aicreative.cli import main
from aicreative.store import FIELDS, Account, AccountStore

pytestmark = pytest.mark.postgres


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), stdin=io.StringIO(""))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def source(tmp_path: Path, monkeypatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("AICREATIVE_DATA_DIR", str(data))
    monkeypatch.setenv("AICREATIVE_SECRET_KEY", "cli-test-secret-key-0123456789abcdef")
    store = AccountStore.open(data / "accounts.json")
    tokens = ({"id": "tok1", "hash": "h"},)
    for i in range(25):
        store.add(Account(f"user{i}", f"user{i}@example.org", "$argon2id$h", credits=i * 3))
    store.add(Account("Ada", "Ada@Example.org", "h", role="admin", api_tokens=tokens))
    store.bump_session("user3")
    store.close()
    return data / "accounts.json"


def test_copy_verify_repeat_refuse_replace(source: Path, pg_url: str, capsys) -> None:
    original = AccountStore.open(source).raw_records()
    code, out, err = run(capsys, "store", "migrate", "--to", pg_url)
    assert code == 0, err
    assert "Copied 26 account(s)" in out and "Verified" in out
    db = AccountStore.connect(pg_url)
    assert db.raw_records() == original  # every field, in sign-up order
    assert set(db.raw_records()[0]) == set(FIELDS)
    assert db.get("ada").api_tokens == ({"id": "tok1", "hash": "h"},)
    assert db.get("user3").session_counter == 1

    # Again: the database holds exactly this store; nothing is copied twice.
    code, out, _ = run(capsys, "store", "migrate", "--to", pg_url)
    assert code == 0 and "already holds this store" in out
    assert db.count() == 26

    # The database moved on (a charge): refused, nothing changed.
    db.charge("user5", 1)
    code, _, err = run(capsys, "store", "migrate", "--to", pg_url)
    assert code == 1 and "--replace" in err and "Nothing was copied" in err
    assert db.get("user5").credits == 14

    code, out, _ = run(capsys, "store", "migrate", "--to", pg_url, "--replace")
    assert code == 0 and "Copied 26" in out
    assert db.get("user5").credits == 15
    db.close()


def test_legacy_file_and_missing_file(tmp_path: Path, pg_url: str, capsys) -> None:
    legacy = tmp_path / "old.json"
    record = {"username": "old", "email": "old@example.org", "password_hash": "h", "credits": 4}
    legacy.write_text(json.dumps({"accounts": {"1": record}}))
    code, out, err = run(capsys, "store", "migrate", "--to", pg_url, "--from", str(legacy))
    assert code == 0, err
    db = AccountStore.connect(pg_url)
    assert db.get("old").credits == 4 and db.get("old").account_id
    db.close()
    code, _, err = run(capsys, "store", "migrate", "--to", pg_url, "--from", str(tmp_path / "none"))
    assert code == 1 and "no account file" in err


def test_unreachable_target_is_one_line(source: Path, capsys) -> None:
    code, _, err = run(capsys, "store", "migrate", "--to", "postgresql://u:pw@127.0.0.1:1/x")
    assert code == 1 and "Cannot reach the database" in err and "pw" not in err
    assert "Traceback" not in err
