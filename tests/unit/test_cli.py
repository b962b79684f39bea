"""The operators' command line, run in process against a real data dir."""

from __future__ import annotations

import datetime as dt
import io
import logging
import shutil
from pathlib import Path

import pytest

from aicreative.cli import main
from aicreative.policy import SHIPPED_DIR
from aicreative.store import AccountStore


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> Path:
    data = tmp_path / "data"
    policies = tmp_path / "policies"
    policies.mkdir()
    shutil.copy(SHIPPED_DIR / "v1.md", policies)  # v1 only, whatever later versions ship
    monkeypatch.setenv("AICREATIVE_DATA_DIR", str(data))
    monkeypatch.setenv("AICREATIVE_SECRET_KEY", "cli-test-secret-key-0123456789abcdef")
    monkeypatch.setenv("AICREATIVE_BACKEND", "demo")
    monkeypatch.setenv("AICREATIVE_POLICY_DIR", str(policies))
    return data


def run(capsys, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    code = main(list(argv), stdin=io.StringIO(stdin))
    out, err = capsys.readouterr()
    return code, out, err


def test_users_add_list_delete(env: Path, capsys) -> None:
    code, out, _ = run(
        capsys, "users", "add", "ada", "--email", "ada@example.org", stdin="correct horse battery\n"
    )
    assert code == 0 and "Added ada <ada@example.org> with 10 credits" in out
    code, out, err = run(
        capsys, "users", "add", "ada", "--email", "x@example.org", stdin="correct horse battery\n"
    )
    assert code == 1 and "taken" in err
    code, out, err = run(
        capsys, "users", "add", "bob", "--email", "bob@example.org", stdin="short\n"
    )
    assert code == 1 and "at least 10" in err
    code, out, _ = run(capsys, "users", "list")
    assert "ada" in out and "ada@example.org" in out and "1 account(s)" in out
    assert "argon2" not in out
    code, out, _ = run(capsys, "users", "delete", "ada")
    assert code == 0
    assert AccountStore.open(env / "accounts.json").get("ada") is None
    code, _, err = run(capsys, "users", "delete", "ada")
    assert code == 1 and "No account named" in err


def test_credits_and_roles(env: Path, capsys, caplog: pytest.LogCaptureFixture) -> None:
    run(
        capsys, "users", "add", "ada", "--email", "ada@example.org", stdin="correct horse battery\n"
    )
    code, out, _ = run(capsys, "credits", "grant", "ada", "15")
    assert code == 0 and "ada now has 25 credits" in out
    code, out, _ = run(capsys, "credits", "grant", "ada", "-30")
    assert "ada now has 0 credits" in out
    with caplog.at_level(logging.WARNING, logger="aicreative.studio"):
        code, out, _ = run(capsys, "users", "promote", "ada")
        assert code == 0 and "an admin" in out
        assert AccountStore.open(env / "accounts.json").get("ada").role == "admin"
        code, out, _ = run(capsys, "users", "demote", "ada")
        assert AccountStore.open(env / "accounts.json").get("ada").role == "user"
    # Every role change is logged, with the account's id and who made it.
    changes = [r.getMessage() for r in caplog.records if "role of ada" in r.getMessage()]
    assert len(changes) == 2
    assert "from user to admin by operator" in changes[0]
    assert "from admin to user by operator" in changes[1]
    code, _, err = run(capsys, "credits", "grant", "ghost", "1")
    assert code == 1 and "No account named" in err


def test_policy_publish(env: Path, tmp_path: Path, capsys) -> None:
    run(
        capsys, "users", "add", "ada", "--email", "ada@example.org", stdin="correct horse battery\n"
    )
    draft = tmp_path / "draft.md"
    draft.write_text("# Privacy Policy\n\nA clearer version.\n")
    future = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    code, out, _ = run(
        capsys,
        "policy",
        "publish",
        str(draft),
        "--effective",
        future,
        "--summary",
        "Clearer.",
        "--dry-run",
    )
    assert code == 0 and "would publish version 2" in out
    assert not (tmp_path / "policies" / "v2.md").exists()
    code, out, _ = run(
        capsys, "policy", "publish", str(draft), "--effective", future, "--summary", "Clearer."
    )
    assert code == 0 and "Published version 2" in out and "emailed 1 user(s)" in out
    assert "To: ada@example.org" in out or "ada@example.org" in out  # the console mailer printed it
    assert (tmp_path / "policies" / "v2.md").exists()
    code, out, _ = run(capsys, "policy", "list")
    assert "v1" in out and "v2" in out and "(in force)" in out
    code, _, err = run(capsys, "policy", "publish", str(draft), "--effective", "yesterday")
    assert code == 1 and "YYYY-MM-DD" in err


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["users"])
    assert info.value.code == 2
