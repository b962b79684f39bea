"""Accounts: the rules for usernames, emails and passwords, and the tokens.

Owns password hashing (argon2id through the ``passlib`` API of the
``libpass`` package), sign-up validation (common passwords refused), and the signed tokens for
sessions, password resets, email confirmation and CSRF. It stores nothing
itself: the store holds accounts; throttles live in :mod:`.limits`.

>>> validate_username("ada_lovelace")
'ada_lovelace'
>>> validate_username("<b>")
Traceback (most recent call last):
...
aicreative.errors.ValidationError: A username may hold only letters, digits and _ . - (no spaces).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from dataclasses import dataclass

import email_validator
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from passlib.context import CryptContext

from .errors import AuthError, ValidationError

USERNAME_MIN, USERNAME_MAX = 3, 32
PASSWORD_MIN, PASSWORD_MAX = 10, 1024
EMAIL_MAX = 254
#: zxcvbn scores below this (under 10**6 guesses) are refused as common.
COMMON_PASSWORD_SCORE = 2
#: Seconds an email-confirmation link stays valid (48 hours).
CONFIRM_MAX_AGE = 48 * 3600
_USERNAME_CHARS = re.compile(r"[A-Za-z0-9_.\-]+")


def validate_username(username: object) -> str:
    """The username, stripped; ValidationError saying what is wrong."""
    if not isinstance(username, str) or not username.strip():
        raise ValidationError("Please choose a username.", "username")
    name = username.strip()
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise ValidationError(
            f"A username has {USERNAME_MIN} to {USERNAME_MAX} characters (this one has {len(name)}).",
            "username",
        )
    if not _USERNAME_CHARS.fullmatch(name):
        raise ValidationError(
            "A username may hold only letters, digits and _ . - (no spaces).", "username"
        )
    return name


def validate_email(email: object, *, allow_test_domains: bool = False) -> str:
    """The email normalised by email-validator; ValidationError if it is not valid."""
    if not isinstance(email, str) or not email.strip():
        raise ValidationError("Please enter your email address.", "email")
    if len(email) > EMAIL_MAX:
        raise ValidationError("That email address is too long.", "email")
    try:
        result = email_validator.validate_email(
            email.strip(),
            check_deliverability=False,
            test_environment=allow_test_domains,
        )
    except email_validator.EmailNotValidError as exc:
        raise ValidationError(f"That email address is not valid: {exc}", "email") from None
    return str(result.normalized)


def validate_password(password: object, *, context: tuple[str, ...] = ()) -> str:
    """The password unchanged; ValidationError if too short, too long or too common.

    "Too common" is zxcvbn's estimate (the maintained Python port of
    Dropbox's estimator, with its lists of common passwords, words, names and
    keyboard patterns): under a million guesses (score 0 or 1), such as
    "1234567890" or "password123", is refused. ``context`` (username, email)
    counts as known to the attacker. Only the first 72 characters are
    estimated: the estimator's cost grows fast with length, and a password
    that long is not a common one.
    """
    if not isinstance(password, str) or not password:
        raise ValidationError("Please choose a password.", "password")
    if len(password) < PASSWORD_MIN:
        raise ValidationError(f"A password needs at least {PASSWORD_MIN} characters.", "password")
    if len(password) > PASSWORD_MAX:
        raise ValidationError(f"A password can have at most {PASSWORD_MAX} characters.", "password")
    if _guessable(password[:72], context):
        raise ValidationError(
            "This password is one of the most common or easily guessed ones; "
            "please choose another (a few unrelated words work well).",
            "password",
        )
    return password


def _guessable(password: str, context: tuple[str, ...]) -> bool:
    from zxcvbn import zxcvbn

    inputs = [part for part in context if part]
    return int(zxcvbn(password, user_inputs=inputs)["score"]) < COMMON_PASSWORD_SCORE


class PasswordHasher:
    """argon2id hashes through passlib's CryptContext.

    64 MiB and 3 passes (argon2-cffi's defaults) in one lane. Hashing runs in
    worker threads, never on the event loop, and at most ``cpu_count - 1``
    hashes run at once (at least one): a sign-up or log-in flood then waits
    its turn and the server keeps a core to answer everyone else
    (``benchmarks/bench_signup_flood.py``; with 4 lanes and no cap, 30
    sign-ups on 2 cores took ``/healthz`` from 3 to 21 ms median, 2 s worst).
    ``PasswordHasher.fast()`` lowers the cost for test suites only.
    """

    def __init__(self, memory_cost: int = 65536, rounds: int = 3, parallelism: int = 1) -> None:
        self._slots = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=memory_cost,
            argon2__rounds=rounds,
            argon2__parallelism=parallelism,
        )
        # Verified against for unknown users, so that a missing account costs
        # the same time as a wrong password (no timing oracle).
        self._dummy = self._context.hash("not a password of anyone " + str(time.time()))

    @classmethod
    def fast(cls) -> PasswordHasher:
        """Cheap argon2id for tests and notebooks; never for a real server."""
        return cls(memory_cost=1024, rounds=1, parallelism=1)

    def hash(self, password: str) -> str:
        with self._slots:
            return self._context.hash(password)

    def verify(self, password: str, password_hash: str | None) -> bool:
        """Check a password; with no hash, burn the same time and say no."""
        with self._slots:
            if not password_hash:
                self._context.verify(password, self._dummy)
                return False
            try:
                return bool(self._context.verify(password, password_hash))
            except (ValueError, TypeError):
                return False

    def needs_update(self, password_hash: str) -> bool:
        return bool(self._context.needs_update(password_hash))

    @staticmethod
    def describe(password_hash: str) -> str:
        """How a hash is shown to its owner: "set, argon2id", never the hash."""
        if not password_hash:
            return "not set"
        scheme = password_hash.split("$")[1] if password_hash.startswith("$") else "unknown"
        return f"set, {scheme}"


@dataclass(frozen=True)
class SessionClaims:
    """What a session token names: the account's identity and its session counter."""

    account_id: str
    counter: int


class Tokens:
    """Signed tokens, one salt per purpose (signed, not encrypted).

    Every token names the account's id (random, never reused), never the
    username: a name can be freed by a rename or a deletion and taken by
    someone else, and a token must not follow the name to them.
    """

    def __init__(self, secret_key: str, session_days: float = 14.0) -> None:
        self._session = URLSafeTimedSerializer(secret_key, salt="aicreative.session")
        self._reset = URLSafeTimedSerializer(secret_key, salt="aicreative.password-reset")
        self._csrf = URLSafeTimedSerializer(secret_key, salt="aicreative.csrf")
        self._confirm = URLSafeTimedSerializer(secret_key, salt="aicreative.confirm-email")
        self.session_max_age = int(session_days * 86400)

    def session(self, account_id: str, counter: int) -> str:
        return self._session.dumps({"i": account_id, "c": counter})

    def read_session(self, token: str, max_age: int | None = None) -> SessionClaims:
        """The claims of a valid session token; AuthError otherwise."""
        data = _load(self._session, token, self.session_max_age if max_age is None else max_age)
        try:
            return SessionClaims(str(data["i"]), int(data["c"]))
        except (KeyError, TypeError, ValueError):
            raise AuthError("Your session is not valid. Please log in again.") from None

    def reset(self, account_id: str, password_hash: str) -> str:
        """A reset token bound to the current hash, so it dies when the password changes."""
        return self._reset.dumps({"i": account_id, "h": _hash_tag(password_hash)})

    def read_reset(self, token: str, max_age: int = 3600) -> tuple[str, str]:
        """(account id, hash tag) of a reset token younger than ``max_age`` seconds."""
        data = _load(self._reset, token, max_age, "This reset link")
        try:
            return str(data["i"]), str(data["h"])
        except (KeyError, TypeError):
            raise AuthError("This reset link is not valid.") from None

    def confirm(self, account_id: str, email: str) -> str:
        """An email-confirmation token for this account id and this address.

        One use: it works only while the account is unconfirmed (the store
        checks), and not once the email changed (the address's tag).
        """
        return self._confirm.dumps({"a": account_id, "e": _hash_tag(email.lower())})

    def read_confirm(self, token: str, max_age: int = CONFIRM_MAX_AGE) -> tuple[str, str]:
        """(account id, email tag) of a confirmation token younger than ``max_age``."""
        data = _load(self._confirm, token, max_age, "This confirmation link")
        try:
            return str(data["a"]), str(data["e"])
        except (KeyError, TypeError):
            raise AuthError("This confirmation link is not valid.") from None

    def csrf(self, binding: str) -> str:
        return self._csrf.dumps(binding)

    def check_csrf(self, token: str | None, binding: str, max_age: int = 86400) -> bool:
        if not token:
            return False
        try:
            return self._csrf.loads(token, max_age=max_age) == binding
        except BadSignature:
            return False


def email_matches(email: str, tag: str) -> bool:
    """Whether a confirmation token's email tag is this address's."""
    return _hash_tag(email.lower()) == tag


def reset_matches(password_hash: str, tag: str) -> bool:
    """Whether a reset token's hash tag still matches the password hash."""
    return _hash_tag(password_hash) == tag


def _hash_tag(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _load(
    serializer: URLSafeTimedSerializer, token: str, max_age: int, what: str = "Your session"
) -> dict:  # type: ignore[type-arg]
    try:
        data = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise AuthError(f"{what} has expired.") from None
    except BadSignature:
        raise AuthError(f"{what} is not valid.") from None
    if not isinstance(data, dict):
        raise AuthError(f"{what} is not valid.")
    return data
