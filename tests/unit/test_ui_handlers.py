"""The UI's handlers called directly, over a local Studio, without Blocks or a browser.

Each tab's handlers are methods of :class:`aicreative.web.ui.Handlers`
(issue 14, item 2): a test gives them a request that carries only what
Gradio's would (the session's username, the query), and reads what the
page would show.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import pytest

from aicreative import Studio
from aicreative.backends.base import GenerationRequest
from aicreative.web.ui import Handlers, admin_rows

PASSWORD = "a long password"


class FakeRequest:
    """The parts of ``gr.Request`` the handlers read."""

    def __init__(self, username: str, **query: str) -> None:
        self.username = username
        self.query_params = query


def no_progress(*args: Any, **kwargs: Any) -> None:
    """Stands for ``gr.Progress`` (nobody is watching)."""


@pytest.fixture
def studio() -> Studio:
    studio = Studio.local()
    studio.signup("ada", "ada@example.org", PASSWORD)
    return studio


@pytest.fixture
def handlers(studio: Studio) -> Handlers:
    return Handlers(studio, lambda request: "csrf-token")


def test_generate_hands_back_the_gallery_payload(studio: Studio, handlers: Handlers) -> None:
    before = dt.datetime.now(dt.UTC)
    payload, status, header = handlers.generate(
        "a kite", "rain", "512x512", 2, 1.5, 7, False, 2, FakeRequest("ada"), no_progress
    )
    # The shape the browser's gallery stores (static/gallery/), key for key.
    assert list(payload) == [
        "kind",
        "user",
        "batch",
        "created",
        "prompt",
        "negative_prompt",
        "settings",
        "images",
        "balance",
        "delivery",
    ]
    assert payload["kind"] == "generation" and payload["user"] == "ada"
    assert payload["settings"] == {
        "width": 512,
        "height": 512,
        "steps": 2,
        "guidance": 1.5,
        "num_images": 2,
        "backend": "demo",
    }
    assert (payload["prompt"], payload["negative_prompt"]) == ("a kite", "rain")
    assert [image["seed"] for image in payload["images"]] == [7, 8]
    assert payload["images"][0]["data_url"].startswith("data:image/png;base64,")
    assert payload["balance"] == 8 == studio.balance("ada")
    # Milliseconds and a Z: two generations in one second keep their order.
    created = payload["created"]
    assert len(created) == len("2026-01-01T00:00:00.000Z") and created.endswith("Z")
    assert dt.datetime.fromisoformat(created) >= before.replace(microsecond=0)
    assert "Made 2 images for 2 credits" in status and "ac-status-ok" in status
    assert "<b>8</b> credits" in header and 'value="csrf-token"' in header


def test_generate_refusal_is_a_status_line(studio: Studio, handlers: Handlers) -> None:
    latest, status, header = handlers.generate(
        "", "", "512x512", 1, 0, 0, True, 1, FakeRequest("ada"), no_progress
    )
    assert latest == {"__type__": "update"}  # the latest images stay as they were
    assert "ac-status-error" in status and "prompt" in status.lower()
    assert studio.balance("ada") == 10  # nothing charged
    _, status, _ = handlers.generate(
        "a kite", "", "huge", 1, 0, 0, True, 1, FakeRequest("ada"), no_progress
    )
    assert "Please choose a size from the list." in status


def test_payload_comes_from_the_result(studio: Studio) -> None:
    result = studio.generate("ada", GenerationRequest("a kite", seed=3))
    payload = result.payload("ada")
    settings = result.request.settings()
    assert payload["prompt"] == settings["prompt"]
    assert {k: payload["settings"][k] for k in ("width", "steps", "num_images")} == {
        k: settings[k] for k in ("width", "steps", "num_images")
    }
    assert payload["batch"] != result.payload("ada")["batch"]  # a new batch each time


def test_on_load_shows_the_policy_notices_of_the_studio(studio: Studio, handlers: Handlers) -> None:
    studio.store.update("ada", policy_version=None)  # owed at least the policy in force
    owed = studio.policy_notices("ada")
    assert owed
    header, notices, forms, admin_tab, rows, info, tabs, done = handlers.on_load(
        FakeRequest("ada", done="email")
    )
    assert 'data-user="ada"' in header and "csrf-token" in forms
    # The Studio's notices, as the Studio words them, one line each.
    assert notices.count('data-testid="policy-notice"') == len(owed)
    assert all(html.escape(notice.message) in notices for notice in owed)
    # This visit accepted the version in force.
    current = studio.policy.current(studio.policy.today())
    assert current is not None and studio.account("ada").policy_version == current.version
    assert admin_tab["visible"] is False and rows == [] and info == ""
    # Back from an Account form: the Account tab opens with the result.
    assert tabs["selected"] == "account" and "Your email was changed." in done


def test_admin_handlers_check_the_actor(studio: Studio, handlers: Handlers) -> None:
    import gradio as gr

    with pytest.raises(gr.Error):
        handlers.admin_list("", 1, FakeRequest("ada"))
    studio.signup("root", "root@example.org", PASSWORD)
    studio.set_role("root", "admin")
    table, info = admin_rows(studio, "root", "ada", 1)
    assert table == [["ada", "ada@example.org", 10, "no"]] and info.startswith("1 account(s)")
    status, table, _ = handlers.admin_credit("ada", 5, "", 1, FakeRequest("root"))
    assert "ada now has 15 credits." in status and studio.balance("ada") == 15
    status, _, _ = handlers.admin_remove("root", True, "", 1, FakeRequest("root"))
    assert "Account tab" in status and studio.is_admin("root")
