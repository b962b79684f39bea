"""The Studio: the one service that the web app, the CLI and notebooks use.

Owns the rules that tie the parts together: sign-up grants credits; login
checks, throttles and issues a session; generation charges, runs the
backend, refunds on any failure and hands back PNG bytes in memory; the
user's rights over their data; admin actions, each checked here and not
only hidden in a UI; and the privacy policy's notices and acceptance.

Nothing in this module writes a prompt or an image anywhere, logs included.

>>> studio = Studio.local()
>>> _ = studio.signup("ada", "ada@example.org", "correct horse battery")
>>> token = studio.login("ada", "correct horse battery")
>>> studio.user_from_session(token).username
'ada'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import images as imaging
from .accounts import (
    PasswordHasher,
    Tokens,
    email_matches,
    reset_matches,
    validate_email,
    validate_password,
    validate_username,
)
from .apitokens import ApiTokens, NewToken
from .backends import BackendChoice, create_backend
from .backends.base import Backend, GenerationRequest, ProgressCallback
from .config import Settings
from .deliveries import Deliveries
from .errors import (
    AICreativeError,
    AuthError,
    BackendError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from .gallery_keys import GalleryKey, GalleryKeys
from .limits import Counters, LoginThrottle, MemoryCounters, RateLimit
from .scheduler import Scheduler, WaitCallback
from .store import Account, AccountStore, open_store

if TYPE_CHECKING:
    from PIL import Image

    from .mail import Mailer
    from .policy import Notice, PolicyBook, PolicyDocument

log = logging.getLogger(__name__)


@dataclasses.dataclass
class GenerationResult:
    """What one generation gives back: images, PNG bytes and the bill."""

    images: list[Image.Image]
    png: list[bytes]
    seeds: list[int]
    cost: int
    balance: int
    backend: str
    request: GenerationRequest
    seconds: float

    def data_urls(self) -> list[str]:
        """Each PNG as a ``data:`` URL (what the web app sends to the browser)."""
        return [imaging.data_url(png) for png in self.png]

    def _repr_html_(self) -> str:
        # Notebooks show the images inline; the prompt is escaped text.
        import html

        tiles = "".join(
            f'<figure style="display:inline-block;margin:4px"><img src="{url}" '
            f'style="max-width:256px" alt="image {i + 1}"><figcaption>seed {seed}</figcaption></figure>'
            for i, (url, seed) in enumerate(zip(self.data_urls(), self.seeds, strict=True))
        )
        return (
            f"<div><p>{html.escape(self.request.prompt)} &middot; {self.cost} credit(s), "
            f"balance {self.balance} &middot; {html.escape(self.backend)}</p>{tiles}</div>"
        )


@dataclasses.dataclass(frozen=True)
class PublicAccount:
    """An account as its owner sees it (no hash)."""

    username: str
    email: str
    credits: int
    role: str
    policy_version: int | None
    objected: bool
    #: The identity (technical, never shown): what the web layer keys sessions by.
    account_id: str = ""
    #: False while the email awaits its confirmation link (no sign-up credits yet).
    email_confirmed: bool = True

    @classmethod
    def of(cls, account: Account, role: str) -> PublicAccount:
        return cls(
            account.username,
            account.email,
            account.credits,
            role,
            account.policy_version,
            account.objected,
            account.account_id,
            account.email_confirmed,
        )

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Studio:
    """Accounts, credits and generation behind one object.

    Build one with :meth:`local` (in memory, demo backend: notebooks, tests)
    or :meth:`from_settings` (the account file and the configured backend).
    """

    def __init__(
        self,
        store: AccountStore,
        backend: Backend | BackendChoice,
        *,
        settings: Settings | None = None,
        hasher: PasswordHasher | None = None,
        mailer: Mailer | None = None,
        policy: PolicyBook | None = None,
        secret_key: str | None = None,
        gallery_secret: str | None = None,
        throttle: LoginThrottle | None = None,
        counters: Counters | None = None,
    ) -> None:
        self.store = store
        if isinstance(backend, BackendChoice):
            self.backend, self.backend_reason = backend.backend, backend.reason
        else:
            self.backend, self.backend_reason = backend, f"{backend.name} given to the Studio"
        self.settings = settings or Settings()
        self.hasher = hasher or PasswordHasher()
        if mailer is None:
            from .mail import ConsoleMailer

            mailer = ConsoleMailer()
        self.mailer = mailer
        if policy is None:
            from .policy import PolicyBook

            policy = PolicyBook(None)
        self.policy = policy
        key = secret_key or self.settings.secret_key.get_secret_value() or secrets.token_urlsafe(48)
        self.tokens = Tokens(key, self.settings.session_days)
        # Apart from the session key: rotating that one leaves galleries readable.
        self.gallery_keys = GalleryKeys(
            gallery_secret
            or self.settings.gallery_secret.get_secret_value()
            or secrets.token_urlsafe(48)
        )
        #: Where every throttle counts (in memory by default; bounded).
        # "is None", not "or": an empty counter table has a length of 0.
        self.counters: Counters = (
            counters if counters is not None else MemoryCounters(self.settings.throttle_max_keys)
        )
        self.throttle = throttle or LoginThrottle(self.counters)
        self.scheduler = Scheduler(
            self.backend,
            max_batch=self.settings.max_batch
            or int(getattr(self.backend, "suggested_max_batch", 1)),
            gather_ms=self.settings.batch_gather_ms,
            max_waiting=self.settings.max_waiting,
        )
        self._api_tokens = ApiTokens(
            store,
            per_minute=self.settings.api_requests_per_minute,
            max_per_account=self.settings.api_max_tokens,
            counters=self.counters,
        )
        hour = 3600.0
        self.reset_limit = RateLimit(self.counters, 3, hour, "reset:email")
        self.client_reset_limit = RateLimit(self.counters, 10, hour, "reset:client")
        self.signup_limit = RateLimit(
            self.counters, self.settings.signups_per_address, hour, "signup:client"
        )
        #: Confirmation mails per account, and "someone used your address" notices per email.
        self.confirm_mail_limit = RateLimit(self.counters, 3, hour, "confirm:account")
        self.taken_notice_limit = RateLimit(self.counters, 3, 24 * hour, "signup:notice")
        # Paid results on their way to a browser, in memory only (issue 12).
        limits = self.settings
        self.deliveries = Deliveries(
            self._refund_account,
            ttl=limits.delivery_minutes * 60,
            max_per_account=limits.delivery_max_per_account,
            max_bytes_per_account=limits.delivery_max_mb_per_account << 20,
            max_total=limits.delivery_max_results,
            max_bytes_total=limits.delivery_max_mb << 20,
        )

    # -- construction ----------------------------------------------------

    @classmethod
    def local(
        cls,
        backend: Backend | None = None,
        *,
        signup_credits: int = 10,
        hasher: PasswordHasher | None = None,
    ) -> Studio:
        """An in-memory Studio on the demo backend: nothing touches the disk.

        >>> Studio.local().backend.name
        'demo'
        """
        from .backends.demo import DemoBackend
        from .mail import MemoryMailer

        # No mail leaves a local Studio, so no confirmation link: credits at once.
        settings = Settings(signup_credits=signup_credits, backend="demo", confirm_email=False)
        return cls(
            AccountStore.memory(),
            backend or DemoBackend(),
            settings=settings,
            hasher=hasher or PasswordHasher.fast(),
            mailer=MemoryMailer(),
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, backend: Backend | None = None) -> Studio:
        """The Studio that ``settings`` describe: account store, backend, mailer, policy."""
        from .mail import create_mailer
        from .policy import PolicyBook

        settings.ensure_data_dir()
        key = settings.resolve_secret_key()
        store = open_store(settings.database_url.get_secret_value(), settings.store_path)
        choice = backend if backend is not None else create_backend(settings)
        return cls(
            store,
            choice,
            settings=settings,
            mailer=create_mailer(settings),
            policy=PolicyBook(settings.policy_dir or None),
            secret_key=key,
            gallery_secret=settings.resolve_gallery_secret(),
            # Several processes on one database share their throttles (issue 18).
            counters=store.shared_counters(settings.throttle_max_keys),
        )

    # -- the backend -----------------------------------------------------

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def backend_label(self) -> str:
        return self.backend.label

    @property
    def is_demo(self) -> bool:
        return self.backend.name == "demo"

    # -- accounts ----------------------------------------------------------

    def role_of(self, account: Account) -> str:
        """The stored role. A name grants nothing: the operator grants roles."""
        return "admin" if account.role == "admin" else "user"

    def is_admin(self, username: str) -> bool:
        account = self.store.get(username)
        return account is not None and self.role_of(account) == "admin"

    def account(self, username: str) -> PublicAccount:
        """The account as its owner sees it."""
        account = self.store.require(username)
        return PublicAccount.of(account, self.role_of(account))

    def signup(
        self,
        username: str,
        email: str,
        password: str,
        client: str | None = None,
        *,
        confirmed: bool = False,
    ) -> PublicAccount:
        """Create an account; Conflict when the username or the email is taken.

        With ``confirm_email`` on, the account starts unconfirmed with no
        credits and a confirmation link is mailed; the credits come with the
        confirmation. For the CLI and notebooks; the sign-up form uses
        :meth:`register`, which does not say whether an email has an account.
        """
        account = self.register(username, email, password, client=client, confirmed=confirmed)
        if account is None:
            raise Conflict("An account with this email already exists.")
        return account

    def register(
        self,
        username: str,
        email: str,
        password: str,
        client: str | None = None,
        *,
        confirmed: bool = False,
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
        if self.store.get(name) is not None:
            raise Conflict(f"The username {name!r} is taken.")
        if client:
            self.signup_limit.hit(client, "sign-ups")
        password_hash = self.hasher.hash(password)
        existing = self.store.get_by_email(address)
        if existing is not None:
            self._tell_owner_of_signup_attempt(existing)
            return None
        # An operator's account (``confirmed``, from the CLI) needs no link.
        # A confirmation link needs our public address (never the request's
        # Host): without one, no link can be mailed, so the credits come at
        # once, and the self-audit says to set the address.
        confirm = self.settings.confirm_email and not confirmed and self.link("/") is not None
        current = self.policy.current(self.policy.today())
        account = Account(
            username=name,
            email=address,
            password_hash=password_hash,
            credits=0 if confirm else self.settings.signup_credits,
            role="user",
            policy_version=current.version if current else None,
            email_confirmed=not confirm,
        )
        try:
            self.store.add(account)
        except Conflict:
            if self.store.get_by_email(address) is None:
                raise  # the username, taken a moment ago
            return None  # the email, taken a moment ago: same answer as above
        log.info("account created: %s", name)
        if confirm:
            self._mail_confirmation(account)
        return PublicAccount.of(account, self.role_of(account))

    def _mail_in_background(self, to: str, subject: str, body: str) -> None:
        """Send from a thread, so that the answer does not wait for (or time) the mail."""
        threading.Thread(target=self.mailer.send, args=(to, subject, body), daemon=True).start()

    def _mail_confirmation(self, account: Account) -> None:
        link = self.link("/confirm?token=" + self.tokens.confirm(account.account_id, account.email))
        self._mail_in_background(
            account.email,
            "Confirm your AI Creative email address",
            f"Hello {account.username},\n\nplease confirm that this address is yours; the "
            f"{self.settings.signup_credits} free credits of a new account come with the "
            f"confirmation. This link works once, for 48 hours:\n\n{link}\n\n"
            "If you did not sign up, ignore this email: no account will hold credits "
            f"with your address.\n\nQuestions: {self.settings.contact_email}\n",
        )

    def _tell_owner_of_signup_attempt(self, account: Account) -> None:
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
            self.taken_notice_limit.hit(account.email.lower(), "notices")
        except AICreativeError:
            return
        reset = ""
        forgot = self.link("/forgot")
        if forgot:
            reset = f" If you forgot your password, set a new one at {forgot} ."
        self._mail_in_background(
            account.email,
            "Someone tried to sign up with your email",
            f"Hello {account.username},\n\nsomeone (maybe you) tried to open a new AI Creative "
            "account with this email address, which already has your account. No new "
            f"account was made and nothing changed in yours.{reset}\n\nIf it was not you, "
            f"you need not do anything.\n\nQuestions: {self.settings.contact_email}\n",
        )

    def resend_confirmation(self, username: str) -> None:
        """Mail the confirmation link again (a few times an hour); Throttled beyond."""
        account = self.store.require(username)
        if account.email_confirmed:
            raise ValidationError("Your email address is confirmed already.")
        self.confirm_mail_limit.hit(account.account_id, "confirmation emails")
        self._mail_confirmation(account)

    def confirm_email(self, token: str) -> PublicAccount:
        """Confirm an email from its link, once, and grant the sign-up credits then.

        AuthError when the link is forged, expired, already used, or for an
        address the account no longer has.
        """
        account_id, tag = self.tokens.read_confirm(token)
        account = self.store.get_by_id(account_id)
        if account is None or not email_matches(account.email, tag):
            raise AuthError("This confirmation link is no longer valid.")
        updated = self.store.confirm_email(
            account_id, account.email, credits=self.settings.signup_credits
        )
        if updated is None:
            raise AuthError("This confirmation link was already used.")
        log.info("email confirmed: %s", updated.username)
        return PublicAccount.of(updated, self.role_of(updated))

    def login(self, username: str, password: str, client: str | None = None) -> str:
        """Check the password and return a session token.

        Unknown users cost the same time as a wrong password, and repeated
        failures wait (Throttled says for how long).
        """
        typed = username.strip() if isinstance(username, str) else ""
        # A username never holds "@" (sign-up refuses it), so "@" means an email.
        # The throttle counts per account whichever of the two was typed (an
        # unknown email counts under itself), so switching doubles nothing.
        by_email = self.store.get_by_email(typed) if "@" in typed else None
        name = by_email.username if by_email is not None else typed
        self.throttle.check(name, client)
        account = by_email or (self.store.get(name) if name and "@" not in name else None)
        if account is None or not self.hasher.verify(password or "", account.password_hash):
            if account is None:
                self.hasher.verify(password or "", None)  # same cost as a wrong password
            self.throttle.failure(name, client)
            raise AuthError("Wrong username or password.")
        self.throttle.success(name, client)
        if self.hasher.needs_update(account.password_hash):
            self.store.update(account.username, password_hash=self.hasher.hash(password))
        return self.tokens.session(account.account_id, account.session_counter)

    def user_from_session(self, token: str | None) -> PublicAccount:
        """The account a session token belongs to; AuthError if it ended.

        The token names the account's id, never its name: after a rename or
        a deletion, whoever takes the freed name is not reached by it.
        """
        if not token:
            raise AuthError("Please log in.")
        claims = self.tokens.read_session(token)
        account = self.store.get_by_id(claims.account_id)
        if account is None or account.session_counter != claims.counter:
            raise AuthError("Your session has ended. Please log in again.")
        return PublicAccount.of(account, self.role_of(account))

    def session_for(self, username: str) -> str:
        """A new session token for the user as stored now (after a change)."""
        account = self.store.require(username)
        return self.tokens.session(account.account_id, account.session_counter)

    def end_sessions(self, username: str) -> None:
        """Log the user out everywhere (every token they hold stops working)."""
        self.store.bump_session(username)

    def logout(self, token: str) -> None:
        """End the session of this token (and every other of the same user)."""
        try:
            user = self.user_from_session(token)
        except AuthError:
            return
        self.end_sessions(user.username)

    # -- API tokens (issue 15) ------------------------------------------------

    def create_api_token(self, username: str, name: str, days: int | None = None) -> NewToken:
        """A personal API token for scripts: generate and read the balance, nothing else.

        The returned ``token`` string is shown this once; only its hash is
        stored. ``days`` sets an expiry (None: until revoked, a password
        change or the account's deletion).

        >>> studio = Studio.local()
        >>> _ = studio.signup("eve", "eve@example.org", "a long password")
        >>> new = studio.create_api_token("eve", "my laptop", days=30)
        >>> studio.user_from_api_token(new.token).username
        'eve'
        >>> [t["name"] for t in studio.api_token_list("eve")]
        ['my laptop']
        """
        return self._api_tokens.create(self.account_id(username), name, days)

    def api_token_list(self, username: str) -> list[dict[str, Any]]:
        """The user's tokens: id, name, created, last used, expiry; never a hash or secret."""
        return self._api_tokens.listing(self.store.require(username))

    def revoke_api_token(self, username: str, token_id: str) -> None:
        """Revoke one of the user's tokens at once; NotFound if they have no such token."""
        self._api_tokens.revoke(self.account_id(username), str(token_id or ""))

    def user_from_api_token(self, token: str | None) -> PublicAccount:
        """The account an API token belongs to (throttled per token); AuthError otherwise."""
        if not token:
            raise AuthError("This needs an API token: send 'Authorization: Bearer aic_...'.")
        account = self._api_tokens.authenticate(token)
        return PublicAccount.of(account, self.role_of(account))

    # -- credits -----------------------------------------------------------

    def balance(self, username: str) -> int:
        return self.store.require(username).credits

    def grant(self, username: str, amount: int) -> int:
        """Give credits; returns the new balance."""
        return self.store.grant(username, amount)

    def take(self, username: str, amount: int) -> int:
        """Remove credits (never below zero); returns the new balance."""
        return self.store.take(username, amount)

    def _refund_account(self, account_id: str, credits: int) -> None:
        """Give credits back to the account with this id (by id: a name may change hands)."""
        account = self.store.get_by_id(account_id)
        if account is not None:
            self.store.refund(account.username, credits)

    def refund(self, account_id: str, credits: int) -> None:
        """Give back credits for images that could not be handed over (the caller left)."""
        self._refund_account(account_id, credits)

    def account_id(self, username: str) -> str:
        """The account's permanent id (what held results and refunds are bound to)."""
        return self.store.require(username).account_id

    def gallery_key(self, username: str) -> GalleryKey:
        """The key of this account's gallery (give it only to this account's own session)."""
        account = self.store.require(username)
        return self.gallery_keys.key_for(account.account_id, account.gallery_salt)

    def shutdown(self, wait: float = 10.0) -> int:
        """The server stops: stop running generations and refund every undelivered result."""
        refunded = self.deliveries.shutdown(wait)
        self.scheduler.close(wait=min(wait, 5.0))
        return refunded

    # -- generation ----------------------------------------------------------

    def generate(
        self,
        username: str,
        request: GenerationRequest,
        on_progress: ProgressCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> GenerationResult:
        """Charge, generate, and return the images; refund on any failure.

        The request waits its turn in :attr:`scheduler` (fair between users,
        batched with theirs); ``on_wait(place, seconds)`` tells the caller
        where it stands until it starts, then ``on_progress(step, total)``.
        A request over the user's cap of waiting requests is refused before
        anything is charged.

        >>> studio = Studio.local()
        >>> _ = studio.signup("bob", "bob@example.org", "a long password")
        >>> result = studio.generate("bob", GenerationRequest("a kite", seed=3, num_images=2))
        >>> (len(result.png), result.cost, result.balance, result.seeds)
        (2, 2, 8, [3, 4])
        """
        if not isinstance(request, GenerationRequest):
            raise ValidationError("A generation needs a GenerationRequest.")
        request = request.with_seed()
        cost = request.cost
        # In line by identity, not by name: a rename does not jump the queue.
        ticket = self.scheduler.reserve(self.store.require(username).account_id, request)
        try:
            self.store.charge(username, cost)
        except BaseException:
            self.scheduler.withdraw(ticket)
            raise
        started = time.perf_counter()
        try:
            pictures = self.scheduler.run(ticket, on_progress, on_wait)
            if len(pictures) != request.num_images:
                raise BackendError(
                    f"The image backend returned {len(pictures)} images instead of "
                    f"{request.num_images}."
                )
            text = _png_text(request) if request.embed_metadata else None
            pngs = [imaging.encode_png(picture, text) for picture in pictures]
        except BaseException as exc:
            balance = self.store.refund(username, cost)
            if isinstance(exc, BackendError):
                raise BackendError(
                    f"{exc} Your {cost} credit(s) were refunded; balance {balance}."
                ) from exc
            if isinstance(exc, AICreativeError) or not isinstance(exc, Exception):
                raise  # Cancelled, a validation error, KeyboardInterrupt...
            # The message names the kind of failure, never the prompt.
            log.error("backend %s failed: %s", self.backend.name, type(exc).__name__)
            raise BackendError(
                f"The image backend failed ({type(exc).__name__}). Your {cost} credit(s) "
                f"were refunded; balance {balance}."
            ) from exc
        seconds = time.perf_counter() - started
        balance = self.balance(username)
        log.info(
            "generated %d image(s) %dx%d for %s in %.2fs",
            request.num_images,
            request.width,
            request.height,
            username,
            seconds,
        )
        return GenerationResult(
            images=pictures,
            png=pngs,
            seeds=request.image_seeds(),
            cost=cost,
            balance=balance,
            backend=self.backend.name,
            request=request,
            seconds=seconds,
        )

    # -- the user's rights ------------------------------------------------------

    def my_data(self, username: str) -> dict[str, Any]:
        """Every field stored about the user, as stored; the hash is described, not shown.

        >>> studio = Studio.local()
        >>> _ = studio.signup("cyd", "cyd@example.org", "a long password")
        >>> data = studio.my_data("cyd")
        >>> data["stored"]["password_hash"], data["stored"]["credits"]
        ('set, argon2id', 10)
        """
        account = self.store.require(username)
        stored = account.record()
        stored["password_hash"] = PasswordHasher.describe(account.password_hash)
        # The salt is half of the gallery key's material: say it exists, never show it.
        stored["gallery_salt"] = "set (random; your gallery's key is derived from it)"
        # Tokens as their owner sees them: the stored hash is never shown.
        stored["api_tokens"] = self._api_tokens.listing(account)
        return {
            "stored": stored,
            "effective_role": self.role_of(account),
            "not_stored": (
                "Images, prompts and generation settings are never stored on the server; "
                "they are only in your browser's gallery."
            ),
            "contact": self.settings.contact_email,
        }

    def export_data(self, username: str) -> bytes:
        """The "Download my data" file: JSON built from the store, nothing else."""
        data = self.my_data(username)
        data["exported_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return json.dumps(data, indent=2, ensure_ascii=False).encode()

    def _check_password(self, username: str, password: str) -> Account:
        account = self.store.require(username)
        if not self.hasher.verify(password or "", account.password_hash):
            raise AuthError("Your password is not right.")
        return account

    def change_email(self, username: str, password: str, new_email: str) -> PublicAccount:
        """Correct the email (password required)."""
        account = self._check_password(username, password)
        address = validate_email(new_email)
        updated = self.store.update(account.username, email=address)
        return PublicAccount.of(updated, self.role_of(updated))

    def change_username(self, username: str, password: str, new_username: str) -> PublicAccount:
        """Correct the username (unique; the password required, as for the email).

        Sessions name the account's id, so they stay valid; the old name is
        free for others and nothing issued for this account follows it.
        """
        account = self._check_password(username, password)
        name = validate_username(new_username)
        updated = self.store.update(account.username, username=name)
        log.info("account %s renamed from %s to %s", account.account_id, account.username, name)
        return PublicAccount.of(updated, self.role_of(updated))

    def change_password(self, username: str, current: str, new: str) -> str:
        """Set a new password (the current one required); every session ends.

        Returns a fresh session token for the device that made the change.
        """
        account = self._check_password(username, current)
        validate_password(new, context=(account.username, account.email))
        if new == current:
            raise ValidationError("The new password is the same as the current one.", "password")
        updated = self.store.update(
            account.username,
            password_hash=self.hasher.hash(new),
            session_counter=account.session_counter + 1,
            api_tokens=[],  # every API token dies with the old password
        )
        return self.tokens.session(updated.account_id, updated.session_counter)

    def delete_account(self, username: str, password: str, typed_username: str) -> PublicAccount:
        """The user deletes their account: password and the username typed again."""
        account = self._check_password(username, password)
        if (typed_username or "").strip().lower() != account.username.lower():
            raise ValidationError(
                "Type your username exactly to confirm the deletion.", "confirm_username"
            )
        return self.delete_account_now(account.username)

    def set_objection(self, username: str, objected: bool) -> PublicAccount:
        """Object (or stop objecting) to processing beyond what the account needs.

        With the objection on, no email goes to the user except those they ask
        for (a reset link, a deletion confirmation), and policy notices reach
        them on the site only.
        """
        updated = self.store.update(username, objected=bool(objected))
        return PublicAccount.of(updated, self.role_of(updated))

    # -- admin ---------------------------------------------------------------

    def require_admin(self, actor: str) -> None:
        """PermissionDenied unless ``actor`` is an admin (checked on every admin call)."""
        if not self.is_admin(actor):
            raise PermissionDenied("Only admins can do this.")

    def admin_accounts(
        self, actor: str, query: str = "", page: int = 1, per_page: int = 20
    ) -> tuple[list[dict[str, Any]], int]:
        """(rows, total) of username, email, credits and objection flag only."""
        self.require_admin(actor)
        needle = query.strip().lower()
        rows = [
            {
                "username": a.username,
                "email": a.email,
                "credits": a.credits,
                "objected": a.objected,
            }
            for a in self.store.all()
            if not needle or needle in a.username.lower() or needle in a.email.lower()
        ]
        page = max(1, int(page))
        start = (page - 1) * per_page
        return rows[start : start + per_page], len(rows)

    def admin_grant(self, actor: str, username: str, amount: int) -> int:
        """An admin gives (amount > 0) or removes (amount < 0) credits."""
        self.require_admin(actor)
        if amount >= 0:
            return self.store.grant(username, amount)
        return self.store.take(username, -amount)

    def admin_delete(self, actor: str, username: str) -> None:
        """An admin deletes an account."""
        self.require_admin(actor)
        account = self.store.get(username)
        if account is None or not self.store.delete(username):
            raise NotFound(f"No account named {username!r}.")
        self.deliveries.forget(account.account_id)

    def set_role(self, username: str, role: str, *, by: str = "operator") -> PublicAccount:
        """Promote or demote (operators' CLI and the start-up setting; never the web).

        Every change is logged with the account's id and who made it.
        """
        before = self.store.require(username)
        account = self.store.update(before.username, role=role)
        if before.role != account.role:
            log.warning(
                "role of %s (account %s) changed from %s to %s by %s",
                account.username,
                account.account_id,
                before.role,
                account.role,
                by,
            )
        return PublicAccount.of(account, self.role_of(account))

    def apply_admin_setting(self) -> list[str]:
        """Grant admin to the accounts ``admin_usernames`` lists that exist now.

        Run once at server start: the role is stored in the account, so a
        name that is signed up for or renamed to later gets nothing from the
        list. Returns the usernames promoted now (already-admins are skipped).
        """
        promoted = []
        for name in self.settings.admin_usernames:
            account = self.store.get(name)
            if account is None:
                log.warning(
                    "AICREATIVE_ADMIN_USERNAMES lists %r, which has no account now: nothing "
                    "granted (sign it up, then restart or run `aicreative users promote`)",
                    name,
                )
            elif account.role != "admin":
                self.set_role(account.username, "admin", by="AICREATIVE_ADMIN_USERNAMES at start")
                promoted.append(account.username)
        return promoted

    # -- the privacy policy ----------------------------------------------------

    def policy_notices(self, username: str) -> list[Notice]:
        """What the site must tell this user about the policy now (maybe nothing)."""
        account = self.store.require(username)
        return self.policy.notices(self.policy.today(), account.policy_version)

    def record_use(self, username: str) -> int | None:
        """Use of the service after a policy's effective date accepts it.

        Returns the version recorded when it changed, else None.
        """
        current = self.policy.current(self.policy.today())
        if current is None:
            return None
        account = self.store.get(username)
        if account is None or account.policy_version == current.version:
            return None
        self.store.update(account.username, policy_version=current.version)
        return current.version

    def publish_policy(
        self,
        source: Path,
        effective: dt.date,
        *,
        summary: str | None = None,
        dry_run: bool = False,
    ) -> tuple[PolicyDocument, int]:
        """Add the next policy version and email everyone who has not objected.

        Returns the document and how many emails went out (0 on a dry run).
        """
        from .policy import announcement_email

        doc = self.policy.publish(source, effective, summary=summary, dry_run=dry_run)
        if dry_run:
            return doc, 0
        subject, body = announcement_email(
            doc, self.settings.contact_email, self.link("/privacy") or "/privacy"
        )
        sent = 0
        for account in self.store.all():
            if not account.objected and self.mailer.send(account.email, subject, body):
                sent += 1
        return doc, sent

    def link(self, path: str) -> str | None:
        """An absolute link for an email, from the configured public address only.

        Never from a request's Host or forwarded headers, which the client
        writes. None when no public address is configured (the caller sends
        no link then).
        """
        base = self.settings.public_base_url
        return base + path if base else None

    # -- deletion -----------------------------------------------------------------

    def delete_account_now(self, username: str) -> PublicAccount:
        """Remove the record at once (every session dies with it) and confirm by email."""
        account = self.store.require(username)
        self.store.delete(account.username)
        self.deliveries.forget(account.account_id)  # its held images go with it
        log.info("account deleted: %s", account.username)
        # A confirmation is part of the request the user made, so it goes out
        # even to those who objected to other emails.
        self.mailer.send(
            account.email,
            "Your AI Creative account was deleted",
            f"Hello {account.username},\n\nyour AI Creative account and everything we stored "
            "about it (username, email, password hash, credits) were deleted just now. "
            "Images and prompts were never stored on our servers; those in your browser "
            "stay there until you clear them.\n\n"
            f"Questions: {self.settings.contact_email}\n",
        )
        return PublicAccount.of(account, self.role_of(account))

    # -- password reset ----------------------------------------------------------

    def request_password_reset(self, email: str, client: str | None = None) -> None:
        """Mail a one-hour, one-use reset link if an account has ``email``.

        The caller answers the same either way; the mail goes out from a
        thread so that the answer takes the same time too. Throttled per
        email and per client address. The link is built from the configured
        public address only; with none configured no link is mailed and the
        operator is warned in the log.
        """
        address = (email or "").strip()
        if not address:
            raise ValidationError("Please enter your email address.", "email")
        self.reset_limit.hit("email:" + address.lower(), "reset requests")
        if client:
            self.client_reset_limit.hit("client:" + client, "reset requests")
        account = self.store.get_by_email(address)
        if account is None:
            return
        link = self.link("/reset?token=")
        if link is None:
            log.warning(
                "a password reset was asked for but no link was mailed: set "
                "AICREATIVE_PUBLIC_URL to the site's public address (on Spaces SPACE_HOST "
                "gives it); links are never built from a request's Host header"
            )
            return
        link += self.reset_token(account.username)
        body = (
            f"Hello {account.username},\n\nsomeone (we hope you) asked to reset the password "
            f"of your AI Creative account. This link sets a new one; it works once, for one "
            f"hour:\n\n{link}\n\nIf you did not ask for this, ignore this email: your "
            f"password stays as it is.\n\nQuestions: {self.settings.contact_email}\n"
        )
        # Sent even to users who objected to emails: they asked for this one.
        threading.Thread(
            target=self.mailer.send,
            args=(account.email, "Reset your AI Creative password", body),
            daemon=True,
        ).start()

    def check_reset_token(self, token: str) -> str:
        """The username a reset link is for; AuthError if it is used, old or forged.

        The link names the account's id: a deleted account's link opens
        nothing, even after someone signs up with its name.
        """
        return self._reset_account(token).username

    def _reset_account(self, token: str) -> Account:
        account_id, tag = self.tokens.read_reset(token)
        account = self.store.get_by_id(account_id)
        if account is None or not reset_matches(account.password_hash, tag):
            raise AuthError("This reset link was already used or is no longer valid.")
        return account

    def reset_token(self, username: str) -> str:
        account = self.store.require(username)
        return self.tokens.reset(account.account_id, account.password_hash)

    def reset_password(self, token: str, new_password: str) -> str:
        """Set a new password from a reset link; it works once. Returns the username."""
        account = self._reset_account(token)
        validate_password(new_password)
        username = self.check_reset_token(token)
        account = self.store.require(username)
        validate_password(new_password, context=(account.username, account.email))
        self.store.update(
            account.username,
            password_hash=self.hasher.hash(new_password),
            session_counter=account.session_counter + 1,
            api_tokens=[],  # every API token dies with the old password
        )
        return account.username


def _png_text(request: GenerationRequest) -> dict[str, str]:
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "settings": (
            f"{request.width}x{request.height}, steps {request.steps}, "
            f"guidance {request.guidance:g}, seed {request.seed}"
        ),
        "Software": "AI Creative",
    }
