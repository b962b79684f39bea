"""Admin: a role checked on the server for every admin action."""

from __future__ import annotations

import pytest

from aicreative import Settings, Studio
from aicreative.errors import PermissionDenied
from aicreative.store import Account

from ..conftest import PASSWORD
from ..fixtures_server import gradio_call, login, signup


@pytest.fixture
def admin_server(settings: Settings, studio: Studio, start_server):
    # The operator's way: the account exists, the setting lists it at start.
    studio.signup("root", "root@example.org", PASSWORD)
    settings.admin_usernames = ["root"]
    return start_server(settings=settings)


def test_non_admin_is_refused_by_the_server(admin_server) -> None:
    mallory = signup(admin_server, "mallory")
    signup(admin_server, "victim")
    store = admin_server.studio.store
    for api, data in [
        ("admin_list", ["", 1]),
        ("admin_grant", ["mallory", 1000, "", 1]),
        ("admin_delete", ["victim", True, "", 1]),
    ]:
        event, payload, _ = gradio_call(mallory, api, data)
        assert event == "error", (api, payload)
    assert store.get("mallory").credits == 10  # no credits gained
    assert store.get("victim") is not None  # nobody deleted
    # The session event hides the tab and sends no rows to a non-admin.
    event, data, _ = gradio_call(mallory, "session", [])
    assert event == "complete"
    assert data[3]["visible"] is False
    assert "victim@example.org" not in str(data[4:])


def test_admin_sees_only_the_allowed_columns_and_acts(admin_server) -> None:
    root = login(admin_server, "root")
    signup(admin_server, "ada")
    event, data, _ = gradio_call(root, "session", [])
    assert data[3]["visible"] is True
    event, data, _ = gradio_call(root, "admin_list", ["ada", 1])
    assert event == "complete"
    table = data[0]
    assert table["headers"] == ["username", "email", "credits", "objected"]
    assert table["data"] == [["ada", "ada@example.org", 10, "no"]]
    assert "argon2" not in str(data)

    event, data, _ = gradio_call(root, "admin_grant", ["ada", 5, "", 1])
    assert event == "complete" and "ada now has 15 credits" in data[0]
    event, data, _ = gradio_call(root, "admin_grant", ["ada", -100, "", 1])
    assert "ada now has 0 credits" in data[0]
    event, data, _ = gradio_call(root, "admin_delete", ["ada", False, "", 1])
    assert "I am sure" in data[0] and admin_server.studio.store.get("ada") is not None
    event, data, _ = gradio_call(root, "admin_delete", ["ada", True, "", 1])
    assert "Deleted ada" in data[0] and admin_server.studio.store.get("ada") is None
    event, data, _ = gradio_call(root, "admin_grant", ["ghost", 5, "", 1])
    assert "No account named" in data[0]


def test_paging_and_search(studio: Studio) -> None:
    studio.signup("root", "root@example.org", PASSWORD)
    studio.set_role("root", "admin")
    for i in range(45):
        studio.store.add(Account(f"user{i:02d}", f"u{i}@example.org", "h", credits=i))
    rows, total = studio.admin_accounts("root", "user", page=3, per_page=20)
    assert total == 45 and [r["username"] for r in rows] == [f"user{i}" for i in range(40, 45)]
    rows, total = studio.admin_accounts("root", "U7@EXAMPLE", page=1)
    assert total == 1 and rows[0]["username"] == "user07"


def test_promote_demote(studio: Studio) -> None:
    studio.signup("ada", "ada@example.org", PASSWORD)
    with pytest.raises(PermissionDenied):
        studio.require_admin("ada")
    assert studio.set_role("ada", "admin").is_admin
    studio.require_admin("ada")
    assert not studio.set_role("ada", "user").is_admin
