"""The page around the tabs: the header, the notices line, and what a page load shows.

On load the page shows the header, any delivery or policy notice, the
Account tab's forms, the Admin tab for admins, and the result of an
Account action that brought the user back (``?done=...``).
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from ...studio import Studio
from ..account import DONE, account_forms
from ..delivery import delivery_notice
from .admin_tab import admin_rows
from .parts import Page, UIContext, header_html, user_of, with_gallery


def notices_html(studio: Studio, username: str) -> str:
    """The notices line: a result held for delivery, then what changed in the policy.

    The policy notices are worked out before the visit records acceptance
    (the caller records it), so the first visit after a change still says
    what changed.
    """
    delivered = delivery_notice(studio, username)
    policy = "".join(
        f'<div class="ac-notice" data-testid="policy-notice">{html.escape(n.message)} '
        f'<a href="/privacy/v{n.version}" target="_blank">Read version {n.version}</a></div>'
        for n in studio.policy_notices(username)
    )
    return (delivered or "") + policy


def done_html(request: gr.Request) -> str:
    """The result of the Account action that led here (``?done=...``), or nothing."""
    params = getattr(request, "query_params", None) or {}
    done = DONE.get(str(params.get("done", "")), "")
    if not done:
        return ""
    return f'<p class="ac-result ac-result-ok" role="status" data-testid="done">{html.escape(done)}</p>'


class PageEvents(UIContext):
    """The page load's handler (see :class:`~aicreative.web.ui.Handlers`)."""

    def on_load(self, request: gr.Request) -> tuple[Any, ...]:
        """Header, notices, Account forms, the Admin tab and table, the tab to open, the result."""
        studio = self.studio
        username = user_of(request)
        # The account and the notices as they were before this visit records
        # acceptance of the policy in force.
        notices = notices_html(studio, username)
        account = studio.account(username)
        studio.record_use(username)
        # An Account action's result is shown on the Account tab, which opens.
        done = done_html(request)
        csrf = self.csrf_for(request)
        is_admin = account.is_admin
        rows, info = admin_rows(studio, username, "", 1) if is_admin else ([], "")
        return (
            header_html(studio, username, csrf),
            notices,
            account_forms(studio, account, csrf),
            gr.update(visible=is_admin),
            rows,
            info,
            # Appended, so that API callers' indices of the ones above stay.
            gr.update(selected="account") if done else gr.update(),
            done,
        )


def build_header() -> Page:
    """The top bar and the notices line under it, as a new :class:`Page`."""
    # Our own markup and CSS (app.css, gallery.css): without Gradio's "prose"
    # styles, whose `.prose *` colour and button rules outrank ours.
    header = gr.HTML(
        elem_id="ac-header",
        apply_default_css=False,
        js_on_load=with_gallery(
            # The gallery is keyed by account id: a new username moves nothing
            # (a link can no longer move or wipe a gallery, issue 11 item 8).
            "const sync = () => { const h = element.querySelector('[data-user]'); "
            "if (h) AICreative.setUser(h.dataset.user); }; sync(); watch('value', sync);"
        ),
    )
    notice = gr.HTML(elem_id="ac-notices")
    return Page(header, notice)
