"""Sign-up and email confirmation: how an account comes to be.

Owns the rules of opening an account: what is checked and in which order,
so that neither the answer nor its time tells whether an email has an
account; the confirmation link, whose use brings the sign-up credits; and
the notice to an address's owner when someone signs up with it again.
:class:`~aicreative.studio.Studio` delegates ``signup``, ``register``,
``resend_confirmation`` and ``confirm_email`` here.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from .accounts import email_matches, validate_email, validate_password, validate_username
from .errors import AICreativeError, AuthError, Conflict, ValidationError
from .public_account import PublicAccount
from .store import Account

if TYPE_CHECKING:
    from .mail import Mailer
    from .studio import Studio

# Logged as the Studio, as before these modules were split from it (log filters stay).
log = logging.getLogger("aicreative.studio")


def send_in_background(mailer: Mailer, to: str, subject: str, body: str) -> None:
    """Send from a thread, so that the answer does not wait for (or time) the mail."""
    threading.Thread(target=mailer.send, args=(to, subject, body), daemon=True).start()


def register(
    studio: Studio, username: str, email: str, password: str, client: str | None, confirmed: bool
) -> PublicAccount | None:
    """Sign up without telling whether the email has an account.

    Returns the new account, or None when the email was taken: then the
    owner of the address is told by email, and the caller answers as for
    a new account. Both paths count against the client's sign-up limit
    and pay for one password hash, so neither the answer nor its time
    differs. A taken username is said at once, before any hash: a
    username is public anyway. Each refusal is a ValidationError,
    Conflict or Throttled that says what is wrong.
    """
    name = validate_username(username)
    address = validate_email(email)
    if isinstance(password, str) and password.strip().lower() == name.lower():
        raise ValidationError("Please choose a password that is not your username.", "password")
    validate_password(password, context=(name, address))
    if studio.store.get(name) is not None:
        raise Conflict(f"The username {name!r} is taken.")
    if client:
        studio.signup_limit.hit(client, "sign-ups")
    password_hash = studio.hasher.hash(password)
    existing = studio.store.get_by_email(address)
    if existing is not None:
        tell_owner_of_signup_attempt(studio, existing)
        return None
    # An operator's account (``confirmed``, from the CLI) needs no link.
    # A confirmation link needs our public address (never the request's
    # Host): without one, no link can be mailed, so the credits come at
    # once, and the self-audit says to set the address.
    confirm = studio.settings.confirm_email and not confirmed and studio.link("/") is not None
    current = studio.policy.current(studio.policy.today())
    account = Account(
        username=name,
        email=address,
        password_hash=password_hash,
        credits=0 if confirm else studio.settings.signup_credits,
        role="user",
        policy_version=current.version if current else None,
        email_confirmed=not confirm,
    )
    try:
        studio.store.add(account)
    except Conflict:
        if studio.store.get_by_email(address) is None:
            raise  # the username, taken a moment ago
        return None  # the email, taken a moment ago: same answer as above
    log.info("account created: %s", name)
    if confirm:
        mail_confirmation(studio, account)
    return studio.public_account(account)


def mail_confirmation(studio: Studio, account: Account) -> None:
    """Mail the link that confirms the account's email (and brings its credits)."""
    link = studio.link("/confirm?token=" + studio.tokens.confirm(account.account_id, account.email))
    send_in_background(
        studio.mailer,
        account.email,
        "Confirm your AI Creative email address",
        f"Hello {account.username},\n\nplease confirm that this address is yours; the "
        f"{studio.settings.signup_credits} free credits of a new account come with the "
        f"confirmation. This link works once, for 48 hours:\n\n{link}\n\n"
        "If you did not sign up, ignore this email: no account will hold credits "
        f"with your address.\n\nQuestions: {studio.settings.contact_email}\n",
    )


def tell_owner_of_signup_attempt(studio: Studio, account: Account) -> None:
    """Tell the owner of an address that someone tried to sign up with it.

    At most a few such notices per address a day (the rest are dropped,
    so that nobody can fill an inbox through the form), and none to
    those who objected to emails they did not ask for. The reset link is
    given only when the public address is configured (never one derived
    from a request).
    """
    if account.objected:
        return
    try:
        studio.taken_notice_limit.hit(account.email.lower(), "notices")
    except AICreativeError:
        return
    reset = ""
    forgot = studio.link("/forgot")
    if forgot:
        reset = f" If you forgot your password, set a new one at {forgot} ."
    send_in_background(
        studio.mailer,
        account.email,
        "Someone tried to sign up with your email",
        f"Hello {account.username},\n\nsomeone (maybe you) tried to open a new AI Creative "
        "account with this email address, which already has your account. No new "
        f"account was made and nothing changed in yours.{reset}\n\nIf it was not you, "
        f"you need not do anything.\n\nQuestions: {studio.settings.contact_email}\n",
    )


def resend_confirmation(studio: Studio, username: str) -> None:
    """Mail the confirmation link again (a few times an hour); Throttled beyond."""
    account = studio.store.require(username)
    if account.email_confirmed:
        raise ValidationError("Your email address is confirmed already.")
    studio.confirm_mail_limit.hit(account.account_id, "confirmation emails")
    mail_confirmation(studio, account)


def confirm_email(studio: Studio, token: str) -> PublicAccount:
    """Confirm an email from its link, once, and grant the sign-up credits then.

    AuthError when the link is forged, expired, already used, or for an
    address the account no longer has.
    """
    account_id, tag = studio.tokens.read_confirm(token)
    account = studio.store.get_by_id(account_id)
    if account is None or not email_matches(account.email, tag):
        raise AuthError("This confirmation link is no longer valid.")
    updated = studio.store.confirm_email(
        account_id, account.email, credits=studio.settings.signup_credits
    )
    if updated is None:
        raise AuthError("This confirmation link was already used.")
    log.info("email confirmed: %s", updated.username)
    return studio.public_account(updated)
