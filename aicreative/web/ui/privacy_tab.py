"""The Privacy tab: the policy in force, with a link to every version."""

from __future__ import annotations

import html

import gradio as gr

from ...policy import format_date
from ...studio import Studio


def build_privacy_tab(studio: Studio) -> None:
    """The Privacy tab: the policy in force now (the latest one before any is)."""
    current_policy = studio.policy.current() or studio.policy.latest()
    with gr.Tab("Privacy", id="privacy", elem_id="tab-privacy"):
        gr.HTML(
            f'<div class="ac-policy"><p class="ac-meta">Version {current_policy.version} · effective '
            f"{html.escape(format_date(current_policy.effective))} · "
            '<a href="/privacy" target="_blank">open as a page, with earlier versions</a></p>'
            f"{current_policy.html(studio.settings.contact_email)}</div>"
        )
