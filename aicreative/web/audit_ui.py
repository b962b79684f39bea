"""What the self-audit reads from the built web app: its Gradio flags.

Owns :func:`ui_problems`, the web half of the audit's "analytics and
telemetry" check. It lives in the web layer because it builds the real app;
:mod:`aicreative.audit` (core) only receives it, from ``aicreative audit``
(:mod:`aicreative.cli`), so that no core module imports the web layer.
"""

from __future__ import annotations

from typing import Any

from ..backends.demo import DemoBackend
from ..config import Settings
from ..store import AccountStore
from ..studio import Studio
from .app import create_app

#: Components that would hand a file to the browser, or keep one on the server.
FILE_COMPONENTS = ("Image", "Gallery", "File", "Video", "Audio", "UploadButton")


def ui_problems(settings: Settings) -> list[str] | None:
    """What in the app built for ``settings`` breaks the privacy promise.

    Builds the real UI, in memory, and reads its flags rather than trust a
    comment: Gradio analytics, run history, file components. An empty list
    means none; None means the Gradio app could not be found to inspect.
    """
    # A copy without the admin list: the in-memory store has none of those accounts.
    quiet = settings.replace(admin_usernames=[])
    studio = Studio(AccountStore.memory(), DemoBackend(), settings=quiet, secret_key="x" * 48)
    blocks = _mounted_blocks(create_app(studio, quiet))
    if blocks is None:
        return None
    problems = []
    if blocks.analytics_enabled:
        problems.append("Gradio analytics on")
    if getattr(blocks, "run_history", False):
        problems.append("run history on")
    file_outputs = [
        type(block).__name__
        for block in blocks.blocks.values()
        if type(block).__name__ in FILE_COMPONENTS
    ]
    if file_outputs:
        problems.append("file components present: " + ", ".join(sorted(set(file_outputs))))
    return problems


def _mounted_blocks(app: object) -> Any:
    for route in getattr(app, "routes", []):
        inner = getattr(route, "app", None)
        blocks = getattr(inner, "blocks", None)
        if blocks is not None:
            return blocks
    return None
