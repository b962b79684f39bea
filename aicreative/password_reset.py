"""Password reset: the one-hour, one-use link mailed to an account's address.

Owns the request (throttled per email and per client, the same answer
whether or not the address has an account), the link (built from the
configured public address only, never a request's Host) and its use: the
link is bound to the password hash it was made for, so it works once.
:class:`~aicreative.studio.Studio` delegates its reset methods here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .accounts import reset_matches, validate_password
from .errors import AuthError, ValidationError
from .signup import send_in_background
from .store import Account

if TYPE_CHECKING:
    from .studio import Studio

# Logged as the Studio, as before these modules were split from it (log filters stay).
log = logging.getLogger("aicreative.studio")


def request_password_reset(studio: Studio, email: str, client: str | None) -> None:
    """Mail a reset link if an account has ``email``.

    The caller answers the same either way; the mail goes out from a
    thread so that the answer takes the same time too. Throttled per
    email and per client address. The link is built from the configured
    public address only; with none configured no link is mailed and the
    operator is warned in the log.
    """
    address = (email or "").strip()
    if not address:
        raise ValidationError("Please enter your email address.", "email")
    studio.reset_limit.hit("email:" + address.lower(), "reset requests")
    if client:
        studio.client_reset_limit.hit("client:" + client, "reset requests")
    account = studio.store.get_by_email(address)
    if account is None:
        return
    link = studio.link("/reset?token=")
    if link is None:
        log.warning(
            "a password reset was asked for but no link was mailed: set "
            "AICREATIVE_PUBLIC_URL to the site's public address (on Spaces SPACE_HOST "
            "gives it); links are never built from a request's Host header"
        )
        return
    link += reset_token(studio, account.username)
    body = (
        f"Hello {account.username},\n\nsomeone (we hope you) asked to reset the password "
        f"of your AI Creative account. This link sets a new one; it works once, for one "
        f"hour:\n\n{link}\n\nIf you did not ask for this, ignore this email: your "
        f"password stays as it is.\n\nQuestions: {studio.settings.contact_email}\n"
    )
    # Sent even to users who objected to emails: they asked for this one.
    send_in_background(studio.mailer, account.email, "Reset your AI Creative password", body)


def reset_account(studio: Studio, token: str) -> Account:
    """The account a reset link is for; AuthError if it is used, old or forged.

    The link names the account's id: a deleted account's link opens
    nothing, even after someone signs up with its name.
    """
    account_id, tag = studio.tokens.read_reset(token)
    account = studio.store.get_by_id(account_id)
    if account is None or not reset_matches(account.password_hash, tag):
        raise AuthError("This reset link was already used or is no longer valid.")
    return account


def reset_token(studio: Studio, username: str) -> str:
    """A reset token for the account as stored now (bound to its password hash)."""
    account = studio.store.require(username)
    return studio.tokens.reset(account.account_id, account.password_hash)


def reset_password(studio: Studio, token: str, new_password: str) -> str:
    """Set a new password from a reset link; it works once. Returns the username."""
    reset_account(studio, token)
    validate_password(new_password)
    # Read again: the link is checked against the account as stored now.
    account = studio.store.require(reset_account(studio, token).username)
    validate_password(new_password, context=(account.username, account.email))
    studio.store.update(
        account.username,
        password_hash=studio.hasher.hash(new_password),
        session_counter=account.session_counter + 1,
        api_tokens=[],  # every API token dies with the old password
    )
    return account.username
