"""What the tabs of the Gradio interface share: the session's user, the
header, status lines, the stop flags and the handlers' common state.

Every event reads the user from the session (``gr.Request.username``, set
by the app's ``auth_dependency``), never from an input.
"""

from __future__ import annotations

import dataclasses
import html
import threading
from collections.abc import Callable
from typing import Any

import gradio as gr

from ...errors import AICreativeError, Cancelled
from ...studio import Studio

#: Runs when a component mounts; waits for gallery.js (loaded from the head).
_WITH_GALLERY = (
    "(function go(){{ if (window.AICreative) {{ {body} }} else setTimeout(go, 30); }})();"
)


def with_gallery(body: str) -> str:
    """``body`` as a component's on-load script, run once gallery.js is there."""
    return _WITH_GALLERY.format(body=body)


def plural(count: int, noun: str) -> str:
    """``1 credit``, ``2 credits``, ``0 credits``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def status_html(message: str, kind: str = "info") -> str:
    """A status line (kind: info, ok or error)."""
    return (
        f'<div class="ac-status ac-status-{kind}" data-testid="status">{html.escape(message)}</div>'
    )


def user_of(request: gr.Request) -> str:
    """The logged-in user of an event (set by the app's auth dependency)."""
    username = getattr(request, "username", None)
    if not username:
        raise AICreativeError("Your session has ended. Please log in again.")
    return str(username)


def header_html(studio: Studio, username: str, csrf_token: str) -> str:
    """The top bar: name, backend, user, balance and a log-out form."""
    account = studio.account(username)
    backend = studio.backend_label
    demo = (
        ' <span class="ac-demo-badge" data-testid="demo-badge">demo</span>'
        if studio.is_demo
        else ""
    )
    admin = ' <span class="ac-role">admin</span>' if account.is_admin else ""
    # Until the email is confirmed the account has no sign-up credits; say so,
    # with a way to have the link sent again (throttled in the Studio).
    unconfirmed = (
        ""
        if account.email_confirmed
        else '<form method="post" action="/account/confirm" class="ac-logout" '
        'data-testid="email-unconfirmed"><span>Email not confirmed yet (your free credits '
        "come with it)</span>"
        f'<input type="hidden" name="csrf_token" value="{html.escape(csrf_token)}">'
        '<button type="submit" data-testid="resend-confirmation">Resend link</button></form>'
    )
    return (
        f'<div class="ac-header" data-user="{html.escape(account.username)}">'
        # The page's one h1: the app's name, as on every other page.
        '<h1 class="ac-header-brand"><span class="ac-logo" aria-hidden="true">◆</span> AI Creative</h1>'
        f'<div class="ac-header-backend" data-testid="backend-label" title="{html.escape(studio.backend_reason)}">'
        f"{html.escape(backend)}{demo}</div>"
        '<div class="ac-header-user">'
        f'<span class="ac-username" data-testid="header-username">{html.escape(account.username)}</span>{admin}'
        f'<span class="ac-balance" data-testid="balance"><b>{account.credits}</b> '
        f"credit{'' if account.credits == 1 else 's'}</span>"
        f"{unconfirmed}"
        '<form method="post" action="/logout" class="ac-logout">'
        f'<input type="hidden" name="csrf_token" value="{html.escape(csrf_token)}">'
        '<button type="submit" data-testid="logout">Log out</button></form>'
        "</div></div>"
    )


class Cancels:
    """Per-user stop flags: Gradio cannot stop a running thread, so the
    backend's progress callback checks the flag and raises Cancelled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: set[str] = set()

    def request(self, username: str) -> None:
        with self._lock:
            self._flags.add(username.lower())

    def clear(self, username: str) -> None:
        with self._lock:
            self._flags.discard(username.lower())

    def check(self, username: str) -> None:
        with self._lock:
            if username.lower() in self._flags:
                self._flags.discard(username.lower())
                raise Cancelled()


@dataclasses.dataclass
class UIContext:
    """What every tab's handlers work over: the Studio, the form token and stop flags.

    ``csrf_for(request)`` gives the form token for a request's session. The
    handlers of each tab are methods of a class derived from this one (bound
    methods, so that Gradio sees their ``gr.Request`` parameter), gathered
    in :class:`~aicreative.web.ui.Handlers`.
    """

    studio: Studio
    csrf_for: Callable[[Any], str]
    cancels: Cancels = dataclasses.field(default_factory=Cancels)

    def header(self, username: str, request: gr.Request) -> str:
        """The top bar for this request's session."""
        return header_html(self.studio, username, self.csrf_for(request))


@dataclasses.dataclass
class Page:
    """The components that events of more than one tab read or write."""

    header: Any
    notice: Any
    account_info: Any = None
    admin_tab: Any = None
    admin_table: Any = None
    admin_info: Any = None
    tabs: Any = None
    account_done: Any = None
    cost: Any = None
    size: Any = None
    count: Any = None
    generate: Any = None
