"""The Account tab: what this browser holds, the stored data with its forms,
and the API tokens section (:mod:`aicreative.web.ui.tokens_section`).

The forms themselves post to the Account routes (``web/account.py``); this
tab only shows them, as stored now whenever it is opened.
"""

from __future__ import annotations

import gradio as gr

from ..account import account_forms
from .parts import Page, UIContext, user_of, with_gallery
from .tokens_section import build_token_section


class AccountEvents(UIContext):
    """The Account tab's handlers (see :class:`~aicreative.web.ui.Handlers`)."""

    def account_view(self, request: gr.Request) -> str:
        """The stored data and the forms, as stored now."""
        username = user_of(request)
        return account_forms(self.studio, self.studio.account(username), self.csrf_for(request))


def build_account_tab(events: AccountEvents, page: Page) -> None:
    """The Account tab; its data is re-read each time the tab is opened."""
    with gr.Tab("Account", id="account", elem_id="tab-account") as account_tab:
        # The result of the change just made (set on load, kept when the forms re-render).
        page.account_done = gr.HTML(elem_id="account-done", apply_default_css=False)
        gr.HTML(
            html_template=(
                '<div class="ac-section"><h3>What this browser holds</h3>'
                '<p class="ac-usage" data-testid="usage"></p>'
                "<p>Your gallery (images, prompts, settings) is stored here only, "
                "encrypted with a key only your logged-in session gets: after you log "
                "out nothing of it is readable in this browser. "
                "Delete it from the Gallery tab.</p></div>"
            ),
            js_on_load=with_gallery("AICreative.mountUsage(element.querySelector('.ac-usage'));"),
        )
        page.account_info = gr.HTML(elem_id="account-info")
        build_token_section(events.studio)  # issue 15: API tokens
    # The stored data changes with every generation and admin grant: show
    # it as stored now whenever the tab is opened.
    account_tab.select(
        events.account_view,
        None,
        page.account_info,
        api_visibility="private",
        show_progress="hidden",
    )
