"""Typed errors of AI Creative.

Every error that can reach a person carries a message fit to show them: the
web layer and notebooks print ``str(error)`` as it is, never a traceback.
"""

from __future__ import annotations


class AICreativeError(Exception):
    """Base class: the message is safe and meant for the user."""

    #: HTTP status the web layer answers with for this kind of error.
    status_code = 400


class ValidationError(AICreativeError):
    """Input that does not meet the rules (a field, a size, a password...)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AuthError(AICreativeError):
    """Wrong credentials, or a session that is missing, expired or ended."""

    status_code = 401


class PermissionDenied(AICreativeError):
    """The user is known but may not do this (an admin action, say)."""

    status_code = 403


class NotFound(AICreativeError):
    """The named account (or document) does not exist."""

    status_code = 404


class Conflict(AICreativeError):
    """A username or email that is already taken."""

    status_code = 409


class InsufficientCredits(AICreativeError):
    """The balance is too small for the requested generation."""

    status_code = 402

    def __init__(self, needed: int, balance: int) -> None:
        super().__init__(f"Not enough credits: this needs {needed} and you have {balance}.")
        self.needed = needed
        self.balance = balance


class Throttled(AICreativeError):
    """Too many attempts; ``retry_after`` seconds to wait."""

    status_code = 429

    def __init__(self, retry_after: float, what: str = "attempts") -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(f"Too many {what}. Please wait {seconds} s and try again.")
        self.retry_after = seconds


class BackendError(AICreativeError):
    """The image backend failed; the credits were refunded."""

    status_code = 503


class Cancelled(AICreativeError):
    """The generation was cancelled; the credits were refunded."""

    status_code = 499

    def __init__(self, message: str = "Generation cancelled; your credits were refunded.") -> None:
        super().__init__(message)


class StoreError(AICreativeError):
    """The account file cannot be read or written (start-up refuses to go on)."""

    status_code = 500
