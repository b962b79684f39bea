"""The Gradio page's header, from the ``header.html`` template.

Owns the top bar of the app page: its name, the backend, the user, the
balance, a resend-confirmation form while the email is unconfirmed, and the
log-out form (each form with the session's CSRF token).
"""

from __future__ import annotations

from ..studio import Studio
from .rendering import fragment


def header_html(studio: Studio, username: str, csrf_token: str) -> str:
    """The top bar: name, backend, user, balance and a log-out form."""
    return str(
        fragment(
            "header.html",
            account=studio.account(username),
            backend=studio.backend_label,
            backend_reason=studio.backend_reason,
            demo=studio.is_demo,
            csrf_token=csrf_token,
        )
    )
