"""What the tabs of the Gradio interface share: the session's user, the
header, status lines, the stop flags and the handlers' common state.

Every event reads the user from the session (``gr.Request.username``, set
by the app's ``auth_dependency``), never from an input.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import gradio as gr

from ...errors import AICreativeError, Cancelled
from ...studio import Studio
from ..header import header_html
from ..rendering import fragment

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


def status_html(message: str, kind: str = "info", testid: str = "status") -> str:
    """A status line (kind: info, ok or error), from the ``status.html`` template."""
    return str(fragment("status.html", message=message, kind=kind, testid=testid))


def user_of(request: gr.Request) -> str:
    """The logged-in user of an event (set by the app's auth dependency)."""
    username = getattr(request, "username", None)
    if not username:
        raise AICreativeError("Your session has ended. Please log in again.")
    return str(username)


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
