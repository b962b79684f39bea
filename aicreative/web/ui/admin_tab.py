"""The Admin tab: find accounts, give or remove credits, delete an account.

Shown to admins only; the Studio refuses everyone else anyway (every
admin call checks the actor), so hiding the tab is a courtesy, not the
guard.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ...errors import AICreativeError, PermissionDenied
from ...studio import Studio
from .parts import Page, UIContext, status_html, user_of

ADMIN_PAGE = 20


def admin_rows(
    studio: Studio, actor: str, query: str, page: float | None
) -> tuple[list[list[Any]], str]:
    """One page of the account table, and the line under it (``n account(s) · page i of j``)."""
    number = max(1, int(page or 1))
    rows, total = studio.admin_accounts(actor, query or "", number, ADMIN_PAGE)
    pages = max(1, -(-total // ADMIN_PAGE))
    table = [
        [r["username"], r["email"], r["credits"], "yes" if r["objected"] else "no"] for r in rows
    ]
    return table, f"{total} account(s) · page {min(number, pages)} of {pages}"


class AdminEvents(UIContext):
    """The Admin tab's handlers (see :class:`~aicreative.web.ui.Handlers`)."""

    def admin_list(self, query: str, page: float | None, request: gr.Request) -> tuple[Any, ...]:
        """Search: the table and its line."""
        try:
            return admin_rows(self.studio, user_of(request), query, page)
        except PermissionDenied as exc:
            raise gr.Error(str(exc)) from None

    def admin_credit(
        self,
        target: str,
        amount: float | None,
        query: str,
        page: float | None,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        """Apply credits: the result line, then the table as it is now."""
        actor = user_of(request)
        try:
            self.studio.require_admin(actor)
            balance = self.studio.admin_grant(actor, (target or "").strip(), int(amount or 0))
            message = status_html(f"{target.strip()} now has {balance} credits.", "ok")
        except PermissionDenied as exc:
            raise gr.Error(str(exc)) from None
        except (AICreativeError, ValueError) as exc:
            message = status_html(str(exc), "error")
        return (message, *admin_rows(self.studio, actor, query, page))

    def admin_remove(
        self, target: str, sure: bool, query: str, page: float | None, request: gr.Request
    ) -> tuple[Any, ...]:
        """Delete an account: the result line, then the table as it is now."""
        actor = user_of(request)
        try:
            self.studio.require_admin(actor)
            name = (target or "").strip()
            if not sure:
                raise AICreativeError("Tick “I am sure” to delete an account.")
            if name.lower() == actor.lower():
                raise AICreativeError("Delete your own account from the Account tab.")
            self.studio.admin_delete(actor, name)
            message = status_html(f"Deleted {name}; every session of it has ended.", "ok")
        except PermissionDenied as exc:
            raise gr.Error(str(exc)) from None
        except AICreativeError as exc:
            message = status_html(str(exc), "error")
        return (message, *admin_rows(self.studio, actor, query, page))


def build_admin_tab(events: AdminEvents, page: Page) -> None:
    """The Admin tab (made visible on load for admins)."""
    with gr.Tab("Admin", id="admin", elem_id="tab-admin", visible=False) as admin_tab:
        gr.Markdown(
            "Accounts, as admins may see them: username, email, credits and the "
            "objection flag. Nothing else is shown or stored."
        )
        with gr.Row():
            search = gr.Textbox(label="Search username or email", elem_id="admin-search")
            number = gr.Number(value=1, label="Page", precision=0, minimum=1, elem_id="admin-page")
            find = gr.Button("Search", elem_id="admin-find")
        table = gr.Dataframe(
            headers=["username", "email", "credits", "objected"],
            datatype=["str", "str", "number", "str"],
            interactive=False,
            elem_id="admin-table",
        )
        table_info = gr.Markdown(elem_id="admin-info")
        with gr.Row():
            target = gr.Textbox(label="Username", elem_id="admin-target")
            amount = gr.Number(
                label="Credits (+ give, − remove)", precision=0, value=10, elem_id="admin-amount"
            )
            apply = gr.Button("Apply credits", elem_id="admin-apply")
        with gr.Row():
            doomed = gr.Textbox(label="Username to delete", elem_id="admin-doomed")
            sure = gr.Checkbox(label="I am sure", elem_id="admin-sure")
            remove = gr.Button("Delete account", variant="stop", elem_id="admin-delete")
        admin_status = gr.HTML(elem_id="admin-status")
    page.admin_tab, page.admin_table, page.admin_info = admin_tab, table, table_info

    find.click(events.admin_list, [search, number], [table, table_info], api_name="admin_list")
    search.submit(
        events.admin_list, [search, number], [table, table_info], api_visibility="private"
    )
    apply.click(
        events.admin_credit,
        [target, amount, search, number],
        [admin_status, table, table_info],
        api_name="admin_grant",
    )
    remove.click(
        events.admin_remove,
        [doomed, sure, search, number],
        [admin_status, table, table_info],
        api_name="admin_delete",
    )
