"""Admin operations: roles, the account list, credits and deletion by an admin.

Owns who may do what as an admin: every call checks the actor here (a UI
that hides a button is a courtesy, not the guard); roles are granted by
operators only (the CLI and the start-up setting, never the web), and each
change of role is logged with the account's id and who made it.
:class:`~aicreative.studio.Studio` delegates its admin methods here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .errors import NotFound, PermissionDenied

if TYPE_CHECKING:
    from .public_account import PublicAccount
    from .studio import Studio

# Logged as the Studio, as before these modules were split from it (log filters stay).
log = logging.getLogger("aicreative.studio")


def require_admin(studio: Studio, actor: str) -> None:
    """PermissionDenied unless ``actor`` is an admin."""
    if not studio.is_admin(actor):
        raise PermissionDenied("Only admins can do this.")


def admin_accounts(
    studio: Studio, actor: str, query: str, page: int, per_page: int
) -> tuple[list[dict[str, Any]], int]:
    """(rows, total) of username, email, credits and objection flag only."""
    require_admin(studio, actor)
    needle = query.strip().lower()
    rows = [
        {"username": a.username, "email": a.email, "credits": a.credits, "objected": a.objected}
        for a in studio.store.all()
        if not needle or needle in a.username.lower() or needle in a.email.lower()
    ]
    page = max(1, int(page))
    start = (page - 1) * per_page
    return rows[start : start + per_page], len(rows)


def admin_grant(studio: Studio, actor: str, username: str, amount: int) -> int:
    """An admin gives (amount > 0) or removes (amount < 0) credits; the new balance."""
    require_admin(studio, actor)
    if amount >= 0:
        return studio.store.grant(username, amount)
    return studio.store.take(username, -amount)


def admin_delete(studio: Studio, actor: str, username: str) -> None:
    """An admin deletes an account (and the results held for it)."""
    require_admin(studio, actor)
    account = studio.store.get(username)
    if account is None or not studio.store.delete(username):
        raise NotFound(f"No account named {username!r}.")
    studio.deliveries.forget(account.account_id)


def set_role(studio: Studio, username: str, role: str, by: str) -> PublicAccount:
    """Promote or demote; a change is logged with the account's id and ``by``.

    Every change is logged with the account's id and who made it.
    """
    before = studio.store.require(username)
    account = studio.store.update(before.username, role=role)
    if before.role != account.role:
        log.warning(
            "role of %s (account %s) changed from %s to %s by %s",
            account.username,
            account.account_id,
            before.role,
            account.role,
            by,
        )
    return studio.public_account(account)


def apply_admin_setting(studio: Studio) -> list[str]:
    """Grant admin to the accounts ``admin_usernames`` lists that exist now.

    Run once at server start: the role is stored in the account, so a
    name that is signed up for or renamed to later gets nothing from the
    list. Returns the usernames promoted now (already-admins are skipped).
    """
    promoted = []
    for name in studio.settings.admin_usernames:
        account = studio.store.get(name)
        if account is None:
            log.warning(
                "AICREATIVE_ADMIN_USERNAMES lists %r, which has no account now: nothing "
                "granted (sign it up, then restart or run `aicreative users promote`)",
                name,
            )
        elif account.role != "admin":
            set_role(studio, account.username, "admin", "AICREATIVE_ADMIN_USERNAMES at start")
            promoted.append(account.username)
    return promoted
