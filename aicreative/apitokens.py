"""Personal API tokens: their format, what is stored of them, and checking one.

A token is ``aic_<id>_<secret>``: ``id`` is 16 random hex digits, public,
and names the token (the store finds its account by it with one index
lookup, :meth:`AccountStore.find_token`); ``secret`` is 32 random bytes,
shown to its owner once and never stored. The account record keeps, per
token, only :data:`aicreative.store.TOKEN_FIELDS`: the id, the SHA-256 of
the secret, the name and three dates.

Why SHA-256 and not argon2 (which the passwords use): a slow hash protects
secrets that people choose and that can be guessed. This secret is 256
random bits, so there is nothing to guess and a fast hash is as safe; and
it is checked on *every* API request, where argon2's ~200 ms would be
spent per call. The hash is compared in constant time.

A token binds to the account's id (an entry in that account's record), so
it dies with the account and never follows a freed username. What a token
may do is fixed by the routes that accept one (``web/api.py``): generate
and read the balance, nothing else. Each token is throttled, and its "last
used" date is written at most once a minute, not once per request.

>>> from aicreative.store import Account, AccountStore
>>> store = AccountStore.memory()
>>> ada = store.add(Account("ada", "ada@example.org", "hash"))
>>> tokens = ApiTokens(store)
>>> new = tokens.create(ada.account_id, "laptop")
>>> new.token.startswith("aic_"), new.info["name"]
(True, 'laptop')
>>> tokens.authenticate(new.token).username
'ada'
>>> "hash" in tokens.listing(store.get("ada"))[0]
False
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from typing import Any

from .errors import AuthError, NotFound, ValidationError
from .limits import Counters, MemoryCounters, RateLimit
from .store import Account, AccountStore

PREFIX = "aic_"
#: ``aic_`` + 16 hex digits + ``_`` + the URL-safe secret (43 characters).
TOKEN_PATTERN = re.compile(r"aic_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
MAX_NAME = 64
MAX_DAYS = 3650
#: Seconds between two writes of a token's "last used" date.
LAST_USED_EVERY = 60.0
#: Tokens whose recent requests the throttle remembers at most (each up to
#: ``per_minute`` timestamps); past it the longest-known token is forgotten.
MAX_THROTTLED_TOKENS = 10_000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_stamp(text: Any) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def hash_secret(secret: str) -> str:
    """The stored form of a token's secret (see the module's docstring for why SHA-256)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class NewToken:
    """A token just created: ``token`` is the secret string, shown this once."""

    token: str
    info: dict[str, Any]


class ApiTokens:
    """Create, list, revoke and check API tokens over an :class:`AccountStore`."""

    def __init__(
        self,
        store: AccountStore,
        *,
        per_minute: int = 60,
        max_per_account: int = 20,
        clock: Callable[[], dt.datetime] = _now,
        counters: Counters | None = None,
    ) -> None:
        self.store = store
        self.max_per_account = max_per_account
        self.clock = clock
        # Keyed by token id, and only after the token checked out: a stranger
        # sending made-up tokens adds nothing to it.
        # The counts live in the Studio's bounded counters, with every throttle.
        self.limit = RateLimit(
            counters if counters is not None else MemoryCounters(MAX_THROTTLED_TOKENS),
            max(1, per_minute),
            60.0,
            "api-token",
        )

    def create(self, account_id: str, name: str, days: int | None = None) -> NewToken:
        """A new token for the account, valid ``days`` days (None: until revoked)."""
        label = " ".join(str(name or "").split())
        if not label:
            raise ValidationError("Please give the token a name (where it will be used).", "name")
        if len(label) > MAX_NAME or not label.isprintable():
            raise ValidationError(
                f"A token name is at most {MAX_NAME} printable characters.", "name"
            )
        if days is not None:
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
                raise ValidationError(
                    f"A token's lifetime is from 1 to {MAX_DAYS} days, or no expiry.", "days"
                )
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        now = self.clock()
        entry = {
            "id": token_id,
            "hash": hash_secret(secret),
            "name": label,
            "created": _stamp(now),
            "last_used": None,
            "expires": _stamp(now + dt.timedelta(days=days)) if days else None,
        }

        def add(tokens: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
            if len(tokens) >= self.max_per_account:
                raise ValidationError(
                    f"You have {len(tokens)} API tokens, the most allowed; revoke one first."
                )
            return (*tokens, entry)

        self.store.change_tokens(account_id, add)
        return NewToken(f"{PREFIX}{token_id}_{secret}", self.public(entry))

    def public(self, entry: dict[str, Any]) -> dict[str, Any]:
        """What the owner sees of a token: never the hash (and the secret is not kept)."""
        expires = _parse_stamp(entry.get("expires"))
        return {
            "id": entry.get("id"),
            "name": entry.get("name"),
            "created": entry.get("created"),
            "last_used": entry.get("last_used"),
            "expires": entry.get("expires"),
            "expired": expires is not None and expires <= self.clock(),
        }

    def listing(self, account: Account) -> list[dict[str, Any]]:
        """The account's tokens, oldest first, as their owner sees them."""
        return [self.public(entry) for entry in account.api_tokens]

    def revoke(self, account_id: str, token_id: str) -> None:
        """Remove one token of the account; NotFound when it has no such token."""
        found = False

        def drop(tokens: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
            nonlocal found
            kept = tuple(t for t in tokens if t.get("id") != token_id)
            found = len(kept) != len(tokens)
            return kept

        self.store.change_tokens(account_id, drop)
        if not found:
            raise NotFound("You have no API token with this id.")

    def authenticate(self, token: str | None) -> Account:
        """The account a token belongs to, after the throttle; AuthError otherwise.

        Unknown, revoked and made-up tokens get the same answer; an expired
        one is told so (its owner can make a new one).
        """
        match = TOKEN_PATTERN.fullmatch(token or "")
        if match is None:
            raise AuthError("This API token is not valid (revoked, or never issued).")
        token_id, secret = match.groups()
        account = self.store.find_token(token_id)
        entry = (
            next((t for t in account.api_tokens if t.get("id") == token_id), None)
            if account
            else None
        )
        if (
            account is None
            or entry is None
            or not hmac.compare_digest(str(entry.get("hash", "")), hash_secret(secret))
        ):
            raise AuthError("This API token is not valid (revoked, or never issued).")
        now = self.clock()
        expires = _parse_stamp(entry.get("expires"))
        if expires is not None and expires <= now:
            raise AuthError("This API token has expired. Create a new one on the Account tab.")
        self.limit.hit(token_id, "requests with this API token")
        last = _parse_stamp(entry.get("last_used"))
        if last is None or (now - last).total_seconds() >= LAST_USED_EVERY:
            self._stamp_use(account.account_id, token_id, now)
        return account

    def _stamp_use(self, account_id: str, token_id: str, now: dt.datetime) -> None:
        def touch(tokens: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
            # Only a token still there is stamped: a revoke in between wins.
            return tuple(
                {**t, "last_used": _stamp(now)} if t.get("id") == token_id else t for t in tokens
            )

        try:
            self.store.change_tokens(account_id, touch)
        except NotFound:
            pass  # deleted meanwhile; the request fails at its next store step
