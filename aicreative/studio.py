"""The Studio: the one service that the web app, the CLI and notebooks use.

Owns the rules that tie the parts together: sign-up grants credits; login
checks, throttles and issues a session; generation charges, runs the
backend, refunds on any failure and hands back PNG bytes in memory; the
user's rights over their data; admin actions, each checked here and not
only hidden in a UI; and the privacy policy's notices and acceptance.

:class:`Studio` is the one façade: callers use its methods only. The
bodies of the larger groups live in modules named for their concern, each
function taking the Studio as its first argument: :mod:`aicreative.signup`
(sign-up and email confirmation), :mod:`aicreative.sessions` (login),
:mod:`aicreative.password_reset`, :mod:`aicreative.rights` (the user's data
and account changes), :mod:`aicreative.admin`, :mod:`aicreative.acceptance`
(the privacy policy's notices and acceptance) and
:mod:`aicreative.generation` (charging and running a generation, and its
result). Those modules use the Studio's public attributes and methods only.

Nothing in this module writes a prompt or an image anywhere, logs included.

>>> studio = Studio.local()
>>> _ = studio.signup("ada", "ada@example.org", "correct horse battery")
>>> token = studio.login("ada", "correct horse battery")
>>> studio.user_from_session(token).username
'ada'
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import acceptance, admin, generation, password_reset, rights, sessions
from . import signup as signup_rules
from .accounts import PasswordHasher, Tokens
from .apitokens import ApiTokens, NewToken
from .backends import BackendChoice, create_backend
from .backends.base import Backend, GenerationRequest, ProgressCallback
from .config import Settings
from .deliveries import Deliveries
from .errors import AuthError, Conflict
from .gallery_keys import GalleryKey, GalleryKeys
from .generation import GenerationResult
from .limits import Counters, LoginThrottle, MemoryCounters, RateLimit
from .public_account import PublicAccount
from .scheduler import Scheduler, WaitCallback
from .store import Account, AccountStore, open_store

if TYPE_CHECKING:
    from .mail import Mailer
    from .policy import Notice, PolicyBook, PolicyDocument

__all__ = ["GenerationResult", "PublicAccount", "Studio"]


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

    def public_account(self, account: Account) -> PublicAccount:
        """A stored account as its owner sees it (no hash), with its effective role."""
        return PublicAccount.of(account, self.role_of(account))

    def account(self, username: str) -> PublicAccount:
        """The account as its owner sees it."""
        account = self.store.require(username)
        return self.public_account(account)

    def register(
        self,
        username: str,
        email: str,
        password: str,
        client: str | None = None,
        *,
        confirmed: bool = False,
    ) -> PublicAccount | None:
        """Sign up without telling whether the email has an account."""
        return signup_rules.register(self, username, email, password, client, confirmed)

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
        account = self.register(username, email, password, client, confirmed=confirmed)
        if account is None:
            raise Conflict("An account with this email already exists.")
        return account

    def resend_confirmation(self, username: str) -> None:
        """Mail the confirmation link again (a few times an hour); Throttled beyond."""
        signup_rules.resend_confirmation(self, username)

    def confirm_email(self, token: str) -> PublicAccount:
        """Confirm an email from its link, once, and grant the sign-up credits then."""
        return signup_rules.confirm_email(self, token)

    def login(self, username: str, password: str, client: str | None = None) -> str:
        """Check the password and return a session token."""
        return sessions.login(self, username, password, client)

    def user_from_session(self, token: str | None) -> PublicAccount:
        """The account a session token belongs to; AuthError if it ended."""
        return sessions.user_from_session(self, token)

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
        return self.public_account(account)

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
        return generation.generate(self, username, request, on_progress, on_wait)

    # -- the user's rights ------------------------------------------------------

    def my_data(self, username: str) -> dict[str, Any]:
        """Every field stored about the user, as stored; the hash is described, not shown.

        >>> studio = Studio.local()
        >>> _ = studio.signup("cyd", "cyd@example.org", "a long password")
        >>> data = studio.my_data("cyd")
        >>> data["stored"]["password_hash"], data["stored"]["credits"]
        ('set, argon2id', 10)
        """
        return rights.my_data(self, username)

    def export_data(self, username: str) -> bytes:
        """The "Download my data" file: JSON built from the store, nothing else."""
        return rights.export_data(self, username)

    def change_email(self, username: str, password: str, new_email: str) -> PublicAccount:
        """Correct the email (password required)."""
        return rights.change_email(self, username, password, new_email)

    def change_username(self, username: str, password: str, new_username: str) -> PublicAccount:
        """Correct the username (unique; the password required, as for the email)."""
        return rights.change_username(self, username, password, new_username)

    def change_password(self, username: str, current: str, new: str) -> str:
        """Set a new password (the current one required); every session ends."""
        return rights.change_password(self, username, current, new)

    def delete_account(self, username: str, password: str, typed_username: str) -> PublicAccount:
        """The user deletes their account: password and the username typed again."""
        return rights.delete_account(self, username, password, typed_username)

    def delete_account_now(self, username: str) -> PublicAccount:
        """Remove the record at once (every session dies with it) and confirm by email."""
        return rights.delete_account_now(self, username)

    def set_objection(self, username: str, objected: bool) -> PublicAccount:
        """Object (or stop objecting) to processing beyond what the account needs.

        With the objection on, no email goes to the user except those they ask
        for (a reset link, a deletion confirmation), and policy notices reach
        them on the site only.
        """
        return self.public_account(self.store.update(username, objected=bool(objected)))

    # -- admin ---------------------------------------------------------------

    def require_admin(self, actor: str) -> None:
        """PermissionDenied unless ``actor`` is an admin (checked on every admin call)."""
        admin.require_admin(self, actor)

    def admin_accounts(
        self, actor: str, query: str = "", page: int = 1, per_page: int = 20
    ) -> tuple[list[dict[str, Any]], int]:
        """(rows, total) of username, email, credits and objection flag only."""
        return admin.admin_accounts(self, actor, query, page, per_page)

    def admin_grant(self, actor: str, username: str, amount: int) -> int:
        """An admin gives (amount > 0) or removes (amount < 0) credits."""
        return admin.admin_grant(self, actor, username, amount)

    def admin_delete(self, actor: str, username: str) -> None:
        """An admin deletes an account."""
        admin.admin_delete(self, actor, username)

    def set_role(self, username: str, role: str, *, by: str = "operator") -> PublicAccount:
        """Promote or demote (operators' CLI and the start-up setting; never the web)."""
        return admin.set_role(self, username, role, by)

    def apply_admin_setting(self) -> list[str]:
        """Grant admin to the accounts ``admin_usernames`` lists that exist now."""
        return admin.apply_admin_setting(self)

    # -- the privacy policy ----------------------------------------------------

    def policy_notices(self, username: str) -> list[Notice]:
        """What the site must tell this user about the policy now (maybe nothing)."""
        return acceptance.policy_notices(self, username)

    def record_use(self, username: str) -> int | None:
        """Record that use accepts the policy in force; the version if it changed, else None."""
        return acceptance.record_use(self, username)

    def publish_policy(
        self,
        source: Path,
        effective: dt.date,
        *,
        summary: str | None = None,
        dry_run: bool = False,
    ) -> tuple[PolicyDocument, int]:
        """Add the next policy version and email everyone who has not objected."""
        return acceptance.publish_policy(self, source, effective, summary, dry_run)

    def link(self, path: str) -> str | None:
        """An absolute link for an email, from the configured public address only.

        Never from a request's Host or forwarded headers, which the client
        writes. None when no public address is configured (the caller sends
        no link then).
        """
        base = self.settings.public_base_url
        return base + path if base else None

    # -- password reset ----------------------------------------------------------

    def request_password_reset(self, email: str, client: str | None = None) -> None:
        """Mail a one-hour, one-use reset link if an account has ``email``."""
        password_reset.request_password_reset(self, email, client)

    def check_reset_token(self, token: str) -> str:
        """The username a reset link is for; AuthError if it is used, old or forged."""
        return password_reset.reset_account(self, token).username

    def reset_token(self, username: str) -> str:
        """A reset token for the account as stored now (what the mailed link carries)."""
        return password_reset.reset_token(self, username)

    def reset_password(self, token: str, new_password: str) -> str:
        """Set a new password from a reset link; it works once. Returns the username."""
        return password_reset.reset_password(self, token, new_password)
