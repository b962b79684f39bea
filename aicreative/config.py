"""Settings: every option of AI Creative in one typed object.

Each option has a default and one line of help (the string under it), and is
read from an ``AICREATIVE_<NAME>`` environment variable; list options from
one comma-separated variable. The parsing is pydantic-settings'; the rules
between options, and their error messages, are ours (``ValidationError``).
Secrets are ``SecretStr``: no ``repr()``, ``str()`` or log line shows them,
and code that uses one calls ``.get_secret_value()``.

``Settings.from_env()`` builds one; tests build their own with
``Settings(...)`` (keyword arguments only, no environment read) and copy one
with ``settings.replace(...)``. ``Settings.help()`` is the table the README
lists (a test checks). Nothing is read or written at import time.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .errors import ValidationError

log = logging.getLogger(__name__)

ENV_PREFIX = "AICREATIVE_"
SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
GALLERY_SECRET_FILE = "gallery_secret"  # noqa: S105 - a file name, not a secret
#: Secrets that ship in docs and examples; refused outright.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "test", "xxx"})
#: Hosts always answered unless AICREATIVE_ALLOWED_HOSTS says otherwise (local use).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
BACKEND_CHOICES = ("auto", "demo", "diffusers", "openvino", "remote")
#: The privacy policy (v2, section 3) promises that a finished image waits in
#: memory for its browser no longer than this; the setting may only shorten it.
MAX_DELIVERY_MINUTES = 30.0


def default_data_dir() -> Path:
    """``/data`` when it exists and is writable (Spaces persistent storage), else ``./data``."""
    spaces = Path("/data")
    if spaces.is_dir() and os.access(spaces, os.W_OK | os.X_OK):
        return spaces
    return Path("data")


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (tests pass their own).

    Names match without regard to case, as pydantic-settings does by default.
    """

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._env = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): value for key, value in self._env.items()}


#: A list setting read from one comma-separated variable (``a, b``), not JSON.
CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """All options. Build from the environment with :meth:`from_env`.

    ``Settings(...)`` takes keyword arguments only and reads no environment;
    assignments are validated like the constructor's. Secrets are
    :class:`~pydantic.SecretStr`, so ``repr()``, ``str()`` and logs never show
    them; ``.get_secret_value()`` where one is used.

    >>> Settings(backend="demo").backend
    'demo'
    >>> Settings(secret_key="a-long-random-signing-key")
    Settings(..., secret_key=SecretStr('**********'), ...)
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        validate_assignment=True,
        extra="forbid",
        protected_namespaces=(),
        # The string under each option is its one line of help (Settings.help, README).
        use_attribute_docstrings=True,
    )

    data_dir: Path = Field(None, validate_default=True)
    """Folder for the account store, secret key and model cache (default /data if writable, else ./data)."""
    database_url: SecretStr = SecretStr("")
    """PostgreSQL account store (postgresql://user@host/db) shared by several app processes; unset: the TinyDB file in the data dir."""
    secret_key: SecretStr = SecretStr("")
    """Key that signs sessions and links; generated once into the data dir when unset."""
    gallery_secret: SecretStr = SecretStr("")
    """Key the gallery keys are derived from (apart from secret_key; rotating it makes every gallery unreadable); generated once into the data dir when unset."""
    backend: str = "auto"
    """Image backend: auto, demo, diffusers, openvino or remote."""
    model_id: str = "stabilityai/sd-turbo"
    """Model for the diffusers/openvino/remote backends: a hub id or a local folder."""
    tiny_autoencoder: str = "auto"
    """Decode with the tiny autoencoder (TAESD): auto (on CPU), on or off."""
    taesd_id: str = "madebyollin/taesd"
    """The tiny autoencoder: a hub id or a local folder."""
    device: str = "auto"
    """Torch device for diffusers: auto (CUDA, then MPS, then CPU), cuda, mps or cpu."""
    cpu_precision: str = "auto"
    """OpenVINO precision on a CPU: auto (measured once here), bf16, f32 or int8 (INT8 UNet; ~15 GB once)."""
    hf_token: SecretStr = SecretStr("")
    """Hugging Face token for the remote backend (or HF_TOKEN)."""
    endpoint_url: str = ""
    """URL of a dedicated inference endpoint for the remote backend."""
    remote_timeout: float = 120.0
    """Seconds to wait for the remote backend before giving up."""
    demo_step_delay: float = 0.0
    """Seconds the demo backend waits per step (to try slow generations; tests)."""
    signup_credits: int = 10
    """Credits granted to each new account."""
    confirm_email: bool = True
    """Grant the sign-up credits only once the email is confirmed by a one-use link (off: at once, for demos and tests)."""
    signups_per_address: int = 5
    """Sign-ups allowed from one client address per hour (the rest wait)."""
    throttle_max_keys: int = 100000
    """Most keys (names, addresses) the in-memory throttle counters remember."""
    delivery_minutes: float = 30.0
    """Minutes (at most 30, as the privacy policy says) a finished image may wait in server memory, never on disk, for its browser; refunded after if it never reached it."""
    delivery_max_per_account: int = 20
    """Finished results waiting for their browser, at most, per account."""
    delivery_max_mb_per_account: int = 64
    """Memory (MB) for finished images waiting for their browser, per account."""
    delivery_max_results: int = 1000
    """Finished results waiting for their browser, at most, all accounts together."""
    delivery_max_mb: int = 256
    """Memory (MB) for finished images waiting for their browser, all accounts together."""
    admin_usernames: CommaList = []
    """Comma-separated existing accounts made admin at server start (stored; later sign-ups get nothing)."""
    session_days: float = 14.0
    """Days a login session lasts."""
    host: str = ""
    """Address to listen on (default 127.0.0.1; 0.0.0.0 on Spaces)."""
    port: int = 7860
    """Port to listen on."""
    ssl_certfile: str = ""
    """TLS certificate file; with ssl_keyfile the server speaks HTTPS."""
    ssl_keyfile: str = ""
    """TLS private key file."""
    trust_proxy: bool = False
    """Trust X-Forwarded-Proto/For from a TLS proxy (on Spaces: yes)."""
    public_url: str = ""
    """The site's public address for emailed links (on Spaces: https://SPACE_HOST); unset: no links mailed."""
    allowed_hosts: CommaList = []
    """Comma-separated host names the server answers (*.example.org allowed); default: the public address's host, localhost, 127.0.0.1."""
    smtp_host: str = ""
    """SMTP server; unset means emails are printed to the console."""
    smtp_port: int = 587
    """SMTP port."""
    smtp_security: str = "starttls"
    """SMTP security: starttls, tls (implicit) or none."""
    smtp_user: str = ""
    """SMTP user name."""
    smtp_password: SecretStr = SecretStr("")
    """SMTP password."""
    mail_from: str = "AI Creative <no-reply@localhost>"
    """Sender address of emails."""
    contact_email: str = "privacy@aicreative.example"
    """Address for privacy questions and requests, shown on the site."""
    policy_dir: str = ""
    """Folder of privacy policy versions (default: the ones shipped in the package)."""
    credits_help: str = ""
    """How users get more credits, shown when they run short and on the Account tab: text, or an https:// or mailto: link."""
    log_level: str = "INFO"
    """Log level of the server (prompts are never logged at any level)."""
    max_batch: int = 0
    """Most images run together in one model call (0: from the GPU's memory; 1 on a CPU)."""
    batch_gather_ms: float = 10.0
    """Milliseconds a batch waits for compatible requests from other users."""
    max_waiting: int = 3
    """Most generation requests one user may have waiting at once."""
    api_requests_per_minute: int = 60
    """Requests one API token may make per minute (generate and balance together)."""
    api_max_tokens: int = 20
    """API tokens one account may hold at once."""
    api_concurrency: int = 16
    """API generations handed to worker threads at once (the rest wait, off the threads)."""

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir(cls, value: Any) -> Any:
        # Unset: /data or ./data, decided when the settings are built.
        return default_data_dir() if value is None else value

    @field_validator("admin_usernames", "allowed_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split(value) if isinstance(value, str) else value

    @field_validator("admin_usernames")
    @classmethod
    def _lower_names(cls, value: list[str]) -> list[str]:
        return [name.lower() for name in value]

    @field_validator("confirm_email", "trust_proxy", mode="before")
    @classmethod
    def _empty_is_false(cls, value: Any) -> Any:
        # An empty variable (AICREATIVE_TRUST_PROXY=) has always meant off.
        return False if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip().lower()
        if url and not url.startswith(("postgresql://", "postgres://")):
            raise ValidationError(
                "AICREATIVE_DATABASE_URL must be a postgresql:// URL (unset it for the account file)."
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        """The rules between and within options (run on every build and assignment)."""
        if self.backend not in BACKEND_CHOICES:
            raise ValidationError(
                f"Unknown backend {self.backend!r}; choose one of {', '.join(BACKEND_CHOICES)}."
            )
        if self.cpu_precision not in ("auto", "bf16", "f32", "int8"):
            raise ValidationError("cpu_precision must be auto, bf16, f32 or int8.")
        if self.tiny_autoencoder not in ("auto", "on", "off"):
            raise ValidationError("tiny_autoencoder must be auto, on or off.")
        if self.smtp_security not in ("starttls", "tls", "none"):
            raise ValidationError("smtp_security must be starttls, tls or none.")
        if self.public_url and urlsplit(self.public_url.strip()).scheme not in ("http", "https"):
            raise ValidationError(
                "AICREATIVE_PUBLIC_URL must be a full address such as https://ai.example.org."
            )
        if self.signups_per_address < 1 or self.throttle_max_keys < 1:
            raise ValidationError("signups_per_address and throttle_max_keys must be at least 1.")
        if self.signup_credits < 0:
            raise ValidationError("signup_credits cannot be negative.")
        if self.max_batch < 0 or self.max_waiting < 1 or self.batch_gather_ms < 0:
            raise ValidationError(
                "max_batch must be 0 or more, max_waiting 1 or more, batch_gather_ms 0 or more."
            )
        if not 0 < self.delivery_minutes <= MAX_DELIVERY_MINUTES:
            raise ValidationError(
                f"delivery_minutes must be above 0 and at most {MAX_DELIVERY_MINUTES:g} "
                "(the privacy policy promises no longer)."
            )
        if self.api_requests_per_minute < 1 or self.api_max_tokens < 1 or self.api_concurrency < 1:
            raise ValidationError(
                "api_requests_per_minute, api_max_tokens and api_concurrency must be at least 1."
            )
        if self.demo_step_delay < 0:
            raise ValidationError("demo_step_delay cannot be negative.")
        for name in (
            "delivery_max_per_account",
            "delivery_max_mb_per_account",
            "delivery_max_results",
            "delivery_max_mb",
        ):
            if getattr(self, name) < 1:
                raise ValidationError(f"{name} must be at least 1.")
        return self

    def __init__(self, **values: Any) -> None:
        # pydantic's own errors (a wrong type, an unknown option) become ours,
        # naming the variable; our rules already raise ValidationError.
        try:
            super().__init__(**values)
        except PydanticValidationError as exc:
            raise _as_our_error(exc) from None

    def __setattr__(self, name: str, value: Any) -> None:
        # A refused assignment leaves the option as it was: pydantic has
        # already stored the value when the rules between options run.
        before = self.__dict__.get(name)
        try:
            super().__setattr__(name, value)
        except (PydanticValidationError, ValidationError) as exc:
            self.__dict__[name] = before
            if isinstance(exc, PydanticValidationError):
                raise _as_our_error(exc) from None
            raise

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments only: the environment is read by from_env alone,
        # so a test's Settings(...) never depends on the shell it runs in.
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``AICREATIVE_*`` variables; keyword arguments win over them."""
        env = dict(os.environ if env is None else env)
        if ENV_PREFIX + "HF_TOKEN" not in env and env.get("HF_TOKEN"):
            env[ENV_PREFIX + "HF_TOKEN"] = env["HF_TOKEN"]
        values = {**_EnvSource(cls, env)(), **overrides}
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``, validated like a new one (the settings stay as they are).

        >>> Settings(backend="demo").replace(backend="remote").backend
        'remote'
        """
        values = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self)(**{**values, **changes})

    @classmethod
    def help(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, help) for every option; the README lists these."""
        rows = []
        for name, field in cls.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            shown = "" if default in (None, "", []) else str(default)
            rows.append((ENV_PREFIX + name.upper(), shown, field.description or ""))
        return rows

    @property
    def on_spaces(self) -> bool:
        """Running on Hugging Face Spaces (``SPACE_ID`` is set)."""
        return bool(os.environ.get("SPACE_ID"))

    @property
    def public_base_url(self) -> str:
        """The address emailed links start with: the setting, else https://SPACE_HOST, else "".

        Never the request's Host: a client writes that header.
        """
        if self.public_url:
            return self.public_url.strip().rstrip("/")
        space_host = os.environ.get("SPACE_HOST", "").strip()
        return f"https://{space_host}" if space_host else ""

    @property
    def trusted_hosts(self) -> list[str]:
        """Host names a request may name: ``allowed_hosts``, else derived (lower case).

        Derived: the public address's host and SPACE_HOST, plus localhost,
        127.0.0.1 and ::1 for local use.
        """
        if self.allowed_hosts:
            return [host.lower() for host in self.allowed_hosts]
        hosts = []
        public = urlsplit(self.public_base_url).hostname if self.public_base_url else None
        if public:
            hosts.append(public.lower())
        # On Spaces the *.hf.space address keeps working beside a custom domain.
        space_host = os.environ.get("SPACE_HOST", "").strip().lower()
        if space_host and space_host not in hosts:
            hosts.append(space_host)
        return hosts + list(LOCAL_HOSTS)

    @property
    def host_list_configured(self) -> bool:
        """Whether the hosts we answer come from the operator (setting or public address)."""
        return bool(self.allowed_hosts or self.public_base_url)

    @property
    def listen_host(self) -> str:
        return self.host or ("0.0.0.0" if self.on_spaces else "127.0.0.1")  # noqa: S104 - Spaces needs it

    @property
    def https(self) -> bool:
        return bool(self.ssl_certfile and self.ssl_keyfile)

    @property
    def store_path(self) -> Path:
        return Path(self.data_dir) / "accounts.json"

    @property
    def model_cache_dir(self) -> Path:
        return Path(self.data_dir) / "models"

    def ensure_data_dir(self) -> Path:
        """Create the data dir (mode 0700) if needed and return it."""
        path = Path(self.data_dir)
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def resolve_secret_key(self) -> str:
        """The signing key: the setting, else one generated once into the data dir."""
        key = self._resolve_secret("secret_key", SECRET_FILE)
        self.secret_key = SecretStr(key)
        return key

    def resolve_gallery_secret(self) -> str:
        """The gallery secret: the setting, else one generated once into the data dir.

        Kept apart from ``secret_key`` so that rotating the session key leaves
        every gallery readable (see ``aicreative/gallery_keys.py``).
        """
        key = self._resolve_secret("gallery_secret", GALLERY_SECRET_FILE)
        self.gallery_secret = SecretStr(key)
        return key

    def _resolve_secret(self, name: str, file_name: str) -> str:
        value = getattr(self, name).get_secret_value()
        variable = ENV_PREFIX + name.upper()
        if value:
            if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 16:
                raise ValidationError(
                    f"{variable} is a placeholder or shorter than 16 characters; "
                    "set a long random value (python -c 'import secrets; print(secrets.token_urlsafe(32))')."
                )
            return value
        path = self.ensure_data_dir() / file_name
        if path.exists():
            key = path.read_text().strip()
            if key:
                return key
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        os.chmod(path, 0o600)
        log.warning(
            "%s is not set: generated one and kept it in %s (mode 0600). "
            "Set the variable in production so that it survives a new data dir.",
            variable,
            path,
        )
        return key


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _as_our_error(exc: PydanticValidationError) -> ValidationError:
    """The first of pydantic's errors, in the words the settings have always used."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        return ValidationError(f"Unknown setting {name!r}.", field=name)
    field = Settings.model_fields.get(name)
    secret = field is not None and field.annotation is SecretStr  # never shown, even refused
    shown = "'**********'" if secret else repr(error.get("input"))
    return ValidationError(f"{ENV_PREFIX}{name.upper()}={shown} is not a valid value.", field=name)
