"""The user's rights over their data: see it, take it, correct it, object, delete.

Owns what a user may do to their own stored account: the "my data" view and
its download (built from the store, nothing else), corrections of the
email, username and password (each needs the password), the objection
flag, and deletion (with the typed username, then a confirmation email).
:class:`~aicreative.studio.Studio` delegates these methods here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

from .accounts import PasswordHasher, validate_email, validate_password, validate_username
from .errors import AuthError, ValidationError
from .public_account import PublicAccount
from .store import Account

if TYPE_CHECKING:
    from .studio import Studio

# Logged as the Studio, as before these modules were split from it (log filters stay).
log = logging.getLogger("aicreative.studio")

NOT_STORED = (
    "Images, prompts and generation settings are never stored on the server; "
    "they are only in your browser's gallery."
)


def my_data(studio: Studio, username: str) -> dict[str, Any]:
    """Every field stored about the user, as stored; the hash is described, not shown."""
    account = studio.store.require(username)
    stored = account.record()
    stored["password_hash"] = PasswordHasher.describe(account.password_hash)
    # The salt is half of the gallery key's material: say it exists, never show it.
    stored["gallery_salt"] = "set (random; your gallery's key is derived from it)"
    # Tokens as their owner sees them: the stored hash is never shown.
    stored["api_tokens"] = studio.api_token_list(account.username)
    return {
        "stored": stored,
        "effective_role": studio.role_of(account),
        "not_stored": NOT_STORED,
        "contact": studio.settings.contact_email,
    }


def export_data(studio: Studio, username: str) -> bytes:
    """The "Download my data" file: JSON built from the store, nothing else."""
    data = my_data(studio, username)
    data["exported_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(data, indent=2, ensure_ascii=False).encode()


def check_password(studio: Studio, username: str, password: str) -> Account:
    """The account, if ``password`` is its password; AuthError otherwise."""
    account = studio.store.require(username)
    if not studio.hasher.verify(password or "", account.password_hash):
        raise AuthError("Your password is not right.")
    return account


def change_email(studio: Studio, username: str, password: str, new_email: str) -> PublicAccount:
    """Correct the email (password required)."""
    account = check_password(studio, username, password)
    address = validate_email(new_email)
    return studio.public_account(studio.store.update(account.username, email=address))


def change_username(
    studio: Studio, username: str, password: str, new_username: str
) -> PublicAccount:
    """Correct the username (unique; password required); sessions, keyed by id, stay.

    Sessions name the account's id, so they stay valid; the old name is
    free for others and nothing issued for this account follows it.
    """
    account = check_password(studio, username, password)
    name = validate_username(new_username)
    updated = studio.store.update(account.username, username=name)
    log.info("account %s renamed from %s to %s", account.account_id, account.username, name)
    return studio.public_account(updated)


def change_password(studio: Studio, username: str, current: str, new: str) -> str:
    """Set a new password; every session and API token ends. A fresh session token.

    Returns a fresh session token for the device that made the change.
    """
    account = check_password(studio, username, current)
    validate_password(new, context=(account.username, account.email))
    if new == current:
        raise ValidationError("The new password is the same as the current one.", "password")
    updated = studio.store.update(
        account.username,
        password_hash=studio.hasher.hash(new),
        session_counter=account.session_counter + 1,
        api_tokens=[],  # every API token dies with the old password
    )
    return studio.tokens.session(updated.account_id, updated.session_counter)


def delete_account(studio: Studio, username: str, password: str, typed: str) -> PublicAccount:
    """The user deletes their account: password and the username typed again."""
    account = check_password(studio, username, password)
    if (typed or "").strip().lower() != account.username.lower():
        raise ValidationError(
            "Type your username exactly to confirm the deletion.", "confirm_username"
        )
    return delete_account_now(studio, account.username)


def delete_account_now(studio: Studio, username: str) -> PublicAccount:
    """Remove the record at once (every session dies with it) and confirm by email."""
    account = studio.store.require(username)
    studio.store.delete(account.username)
    studio.deliveries.forget(account.account_id)  # its held images go with it
    log.info("account deleted: %s", account.username)
    # A confirmation is part of the request the user made, so it goes out
    # even to those who objected to other emails.
    studio.mailer.send(
        account.email,
        "Your AI Creative account was deleted",
        f"Hello {account.username},\n\nyour AI Creative account and everything we stored "
        "about it (username, email, password hash, credits) were deleted just now. "
        "Images and prompts were never stored on our servers; those in your browser "
        "stay there until you clear them.\n\n"
        f"Questions: {studio.settings.contact_email}\n",
    )
    return studio.public_account(account)
