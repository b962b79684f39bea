"""The Account tab's "API tokens" section: create (shown once), list, revoke.

Owns the Gradio components and handlers of that section only; the rules
(hash only, limits, expiry, what a token may do) are the Studio's. The
section is built by :func:`build_token_section` inside the Account tab
(one line in ``ui/account_tab.py``). The new token's secret reaches the page once, as
the value of a read-only textbox (text in a response, never a file); the
list shows name, dates and expiry, never a hash.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.context import Context

from ...errors import AICreativeError
from ...studio import Studio
from ..rendering import fragment
from .parts import status_html, user_of

#: Expiry choices offered (days; 0 means none).
EXPIRY_CHOICES: list[tuple[str, int]] = [
    ("30 days", 30),
    ("7 days", 7),
    ("90 days", 90),
    ("1 year", 365),
    ("No expiry", 0),
]


def _day(stamp: Any) -> str:
    return str(stamp)[:16].replace("T", " ") if stamp else "never"


def token_table(tokens: list[dict[str, Any]]) -> str:
    """The user's tokens as an HTML table (escaped), or a line saying there are none."""
    rows = [
        {
            "name": t["name"],
            "id": t["id"],
            "created": _day(t["created"]),
            "last_used": _day(t["last_used"]),
            "expired": t["expired"],
            "expires": _day(t["expires"]) if t["expires"] else "no expiry",
        }
        for t in tokens
    ]
    return str(fragment("token_list.html", tokens=rows))


def _choices(tokens: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f"{t['name']} ({t['id']})", str(t["id"])) for t in tokens]


class TokenHandlers:
    """The section's event handlers (plain methods: tests call them without Blocks)."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio

    def view(self, request: gr.Request) -> tuple[Any, ...]:
        tokens = self.studio.api_token_list(user_of(request))
        return token_table(tokens), gr.update(choices=_choices(tokens), value=None)

    def create(self, name: str, days: Any, request: gr.Request) -> tuple[Any, ...]:
        username = user_of(request)
        try:
            lifetime = int(days or 0) or None
            new = self.studio.create_api_token(username, name, lifetime)
        except (AICreativeError, TypeError, ValueError) as exc:
            message = str(exc) if isinstance(exc, AICreativeError) else "Choose an expiry."
            tokens = self.studio.api_token_list(username)
            return (
                gr.update(value="", visible=False),
                token_table(tokens),
                gr.update(choices=_choices(tokens)),
                status_html(message, "error", testid="token-status"),
                gr.update(),
            )
        tokens = self.studio.api_token_list(username)
        return (
            gr.update(value=new.token, visible=True),
            token_table(tokens),
            gr.update(choices=_choices(tokens), value=None),
            status_html(
                f"Token {new.info['name']!r} created. Copy it now: it is shown only this once.",
                testid="token-status",
            ),
            "",
        )

    def revoke(self, token_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        username = user_of(request)
        if not token_id:
            message, kind = "Choose the token to revoke.", "error"
        else:
            try:
                self.studio.revoke_api_token(username, token_id)
                message, kind = "Token revoked: it stops working now.", "info"
            except AICreativeError as exc:
                message, kind = str(exc), "error"
        tokens = self.studio.api_token_list(username)
        return (
            token_table(tokens),
            gr.update(choices=_choices(tokens), value=None),
            status_html(message, kind, testid="token-status"),
            gr.update(value="", visible=False),
        )


def build_token_section(studio: Studio) -> TokenHandlers:
    """Build the section where it is called (inside the Account tab); returns its handlers."""
    handlers = TokenHandlers(studio)
    with gr.Group(elem_id="api-tokens"):
        gr.HTML(
            '<div class="ac-section"><h3>API tokens</h3><p>For scripts and notebooks: '
            "a token may generate with your credits and read your balance, nothing else. "
            "It is shown once; we keep only a hash. Changing your password ends every "
            'token. <a href="/api/v1/docs" target="_blank">API reference</a>.</p></div>'
        )
        with gr.Row():
            name = gr.Textbox(
                label="Token name",
                placeholder="laptop notebook",
                max_length=64,
                elem_id="token-name",
            )
            days = gr.Dropdown(
                EXPIRY_CHOICES, value=30, label="Expires after", elem_id="token-days"
            )
            create = gr.Button("Create token", elem_id="token-create")
        secret = gr.Textbox(
            label="Your new token (copy it now: it is not shown again)",
            interactive=False,
            visible=False,
            buttons=["copy"],
            elem_id="token-secret",
        )
        table = gr.HTML(token_table([]), elem_id="token-list")
        with gr.Row():
            which = gr.Dropdown(
                [],
                label="Token to revoke",
                # The Studio checks the token is the user's own; choices change per user.
                allow_custom_value=True,
                elem_id="token-which",
            )
            revoke = gr.Button("Revoke", variant="stop", elem_id="token-revoke")
        status = gr.HTML(elem_id="token-status")
    create.click(
        handlers.create,
        [name, days],
        [secret, table, which, status, name],
        api_name="create_api_token",
    )
    revoke.click(
        handlers.revoke, [which], [table, which, status, secret], api_name="revoke_api_token"
    )
    # The list as stored now at every page load (the section has no tab of its own to watch).
    root = Context.root_block
    if root is not None:
        root.load(
            handlers.view, None, [table, which], api_name="api_tokens", show_progress="hidden"
        )
    return handlers
