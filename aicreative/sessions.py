"""Login and sessions: the password check, its throttle, and session tokens.

Owns how a session begins and what it names: login by username or email
(an unknown user costs the same time as a wrong password, and repeated
failures wait), a session token that names the account's id and session
counter, never its name, so that a rename, a password change or a
deletion ends or keeps it as it should.
:class:`~aicreative.studio.Studio` delegates ``login`` and
``user_from_session`` here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import AuthError

if TYPE_CHECKING:
    from .public_account import PublicAccount
    from .studio import Studio


def login(studio: Studio, username: str, password: str, client: str | None) -> str:
    """Check the password and return a session token.

    Unknown users cost the same time as a wrong password, and repeated
    failures wait (Throttled says for how long).
    """
    typed = username.strip() if isinstance(username, str) else ""
    # A username never holds "@" (sign-up refuses it), so "@" means an email.
    # The throttle counts per account whichever of the two was typed (an
    # unknown email counts under itself), so switching doubles nothing.
    by_email = studio.store.get_by_email(typed) if "@" in typed else None
    name = by_email.username if by_email is not None else typed
    studio.throttle.check(name, client)
    account = by_email or (studio.store.get(name) if name and "@" not in name else None)
    if account is None or not studio.hasher.verify(password or "", account.password_hash):
        if account is None:
            studio.hasher.verify(password or "", None)  # same cost as a wrong password
        studio.throttle.failure(name, client)
        raise AuthError("Wrong username or password.")
    studio.throttle.success(name, client)
    if studio.hasher.needs_update(account.password_hash):
        studio.store.update(account.username, password_hash=studio.hasher.hash(password))
    return studio.tokens.session(account.account_id, account.session_counter)


def user_from_session(studio: Studio, token: str | None) -> PublicAccount:
    """The account a session token belongs to; AuthError if it ended.

    The token names the account's id, never its name: after a rename or
    a deletion, whoever takes the freed name is not reached by it.
    """
    if not token:
        raise AuthError("Please log in.")
    claims = studio.tokens.read_session(token)
    account = studio.store.get_by_id(claims.account_id)
    if account is None or account.session_counter != claims.counter:
        raise AuthError("Your session has ended. Please log in again.")
    return studio.public_account(account)
