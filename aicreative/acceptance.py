"""The privacy policy as it meets accounts: notices owed, acceptance by use, announcements.

Owns what the site must tell a user about the policy now, the rule that
using the service after a version's effective date accepts it (recorded in
the account), and the announcement of a new version by email to everyone
who has not objected. The documents themselves are :mod:`aicreative.policy`'s.
:class:`~aicreative.studio.Studio` delegates its policy methods here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .policy import Notice, PolicyDocument
    from .studio import Studio


def policy_notices(studio: Studio, username: str) -> list[Notice]:
    """What the site must tell this user about the policy now (maybe nothing)."""
    account = studio.store.require(username)
    return studio.policy.notices(studio.policy.today(), account.policy_version)


def record_use(studio: Studio, username: str) -> int | None:
    """Use of the service after a policy's effective date accepts it.

    Returns the version recorded when it changed, else None.
    """
    current = studio.policy.current(studio.policy.today())
    if current is None:
        return None
    account = studio.store.get(username)
    if account is None or account.policy_version == current.version:
        return None
    studio.store.update(account.username, policy_version=current.version)
    return current.version


def publish_policy(
    studio: Studio, source: Path, effective: dt.date, summary: str | None, dry_run: bool
) -> tuple[PolicyDocument, int]:
    """Add the next policy version and email everyone who has not objected.

    Returns the document and how many emails went out (0 on a dry run).
    """
    from .policy import announcement_email

    doc = studio.policy.publish(source, effective, summary=summary, dry_run=dry_run)
    if dry_run:
        return doc, 0
    subject, body = announcement_email(
        doc, studio.settings.contact_email, studio.link("/privacy") or "/privacy"
    )
    sent = 0
    for account in studio.store.all():
        if not account.objected and studio.mailer.send(account.email, subject, body):
            sent += 1
    return doc, sent
