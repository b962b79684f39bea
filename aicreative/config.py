"""Settings: every option of AI Creative in one typed object.

Each option has a default and one line of help, and is read from an
``AICREATIVE_<NAME>`` environment variable. ``Settings.from_env()`` builds
one; tests build their own with ``Settings(...)``. Nothing is read or
written at import time.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit

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


def _opt(default: Any, help: str, *, secret: bool = False, **kw: Any) -> Any:
    """A setting's field: its default and one line of help.

    ``secret=True`` keeps the value out of ``repr()`` and ``str()`` of the
    settings (so no log line or traceback prints it); it is used as usual.
    """
    if secret:
        kw["repr"] = False
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(
            default_factory=lambda: type(default)(default), metadata={"help": help}, **kw
        )
    return dataclasses.field(default=default, metadata={"help": help}, **kw)


@dataclasses.dataclass
class Settings:
    """All options. Build from the environment with :meth:`from_env`.

    >>> Settings(backend="demo").backend
    'demo'
    """

    data_dir: Path = _opt(
        None,
        "Folder for the account store, secret key and model cache (default /data if writable, else ./data).",
    )
    database_url: str = _opt(
        "",
        "PostgreSQL account store (postgresql://user@host/db) shared by several app processes; "
        "unset: the TinyDB file in the data dir.",
    )
    secret_key: str = _opt(
        "",
        "Key that signs sessions and links; generated once into the data dir when unset.",
        secret=True,
    )
    gallery_secret: str = _opt(
        "",
        "Key the gallery keys are derived from (apart from secret_key; rotating it makes every "
        "gallery unreadable); generated once into the data dir when unset.",
    )
    backend: str = _opt("auto", "Image backend: auto, demo, diffusers, openvino or remote.")
    model_id: str = _opt(
        "stabilityai/sd-turbo",
        "Model for the diffusers/openvino/remote backends: a hub id or a local folder.",
    )
    tiny_autoencoder: str = _opt(
        "auto", "Decode with the tiny autoencoder (TAESD): auto (on CPU), on or off."
    )
    taesd_id: str = _opt("madebyollin/taesd", "The tiny autoencoder: a hub id or a local folder.")
    device: str = _opt(
        "auto", "Torch device for diffusers: auto (CUDA, then MPS, then CPU), cuda, mps or cpu."
    )
    cpu_precision: str = _opt(
        "auto", "OpenVINO precision on a CPU: auto (measured once on this machine), bf16 or f32."
    )
    hf_token: str = _opt(
        "", "Hugging Face token for the remote backend (or HF_TOKEN).", secret=True
    )
    endpoint_url: str = _opt("", "URL of a dedicated inference endpoint for the remote backend.")
    remote_timeout: float = _opt(120.0, "Seconds to wait for the remote backend before giving up.")
    demo_step_delay: float = _opt(
        0.0, "Seconds the demo backend waits per step (to try slow generations; tests)."
    )
    signup_credits: int = _opt(10, "Credits granted to each new account.")
    confirm_email: bool = _opt(
        True,
        "Grant the sign-up credits only once the email is confirmed by a one-use link "
        "(off: at once, for demos and tests).",
    )
    signups_per_address: int = _opt(
        5, "Sign-ups allowed from one client address per hour (the rest wait)."
    )
    throttle_max_keys: int = _opt(
        100_000, "Most keys (names, addresses) the in-memory throttle counters remember."
    )
    delivery_minutes: float = _opt(
        30.0,
        "Minutes (at most 30, as the privacy policy says) a finished image may wait in server "
        "memory, never on disk, for its browser; refunded after if it never reached it.",
    )
    delivery_max_per_account: int = _opt(
        20, "Finished results waiting for their browser, at most, per account."
    )
    delivery_max_mb_per_account: int = _opt(
        64, "Memory (MB) for finished images waiting for their browser, per account."
    )
    delivery_max_results: int = _opt(
        1000, "Finished results waiting for their browser, at most, all accounts together."
    )
    delivery_max_mb: int = _opt(
        256, "Memory (MB) for finished images waiting for their browser, all accounts together."
    )
    admin_usernames: list[str] = _opt(
        [],
        "Comma-separated existing accounts made admin at server start (stored; later sign-ups get nothing).",
    )
    session_days: float = _opt(14.0, "Days a login session lasts.")
    host: str = _opt("", "Address to listen on (default 127.0.0.1; 0.0.0.0 on Spaces).")
    port: int = _opt(7860, "Port to listen on.")
    ssl_certfile: str = _opt("", "TLS certificate file; with ssl_keyfile the server speaks HTTPS.")
    ssl_keyfile: str = _opt("", "TLS private key file.")
    trust_proxy: bool = _opt(
        False, "Trust X-Forwarded-Proto/For from a TLS proxy (on Spaces: yes)."
    )
    public_url: str = _opt(
        "",
        "The site's public address for emailed links (on Spaces: https://SPACE_HOST); unset: no links mailed.",
    )
    allowed_hosts: list[str] = _opt(
        [],
        "Comma-separated host names the server answers (*.example.org allowed); "
        "default: the public address's host, localhost, 127.0.0.1.",
    )
    smtp_host: str = _opt("", "SMTP server; unset means emails are printed to the console.")
    smtp_port: int = _opt(587, "SMTP port.")
    smtp_security: str = _opt("starttls", "SMTP security: starttls, tls (implicit) or none.")
    smtp_user: str = _opt("", "SMTP user name.")
    smtp_password: str = _opt("", "SMTP password.", secret=True)
    mail_from: str = _opt("AI Creative <no-reply@localhost>", "Sender address of emails.")
    contact_email: str = _opt(
        "privacy@aicreative.example",
        "Address for privacy questions and requests, shown on the site.",
    )
    policy_dir: str = _opt(
        "", "Folder of privacy policy versions (default: the ones shipped in the package)."
    )
    credits_help: str = _opt(
        "",
        "How users get more credits, shown when they run short and on the Account tab: text, or an https:// or mailto: link.",
    )
    log_level: str = _opt(
        "INFO", "Log level of the server (prompts are never logged at any level)."
    )
    max_batch: int = _opt(
        0, "Most images run together in one model call (0: from the GPU's memory; 1 on a CPU)."
    )
    batch_gather_ms: float = _opt(
        10.0, "Milliseconds a batch waits for compatible requests from other users."
    )
    max_waiting: int = _opt(3, "Most generation requests one user may have waiting at once.")
    api_requests_per_minute: int = _opt(
        60, "Requests one API token may make per minute (generate and balance together)."
    )
    api_max_tokens: int = _opt(20, "API tokens one account may hold at once.")
    api_concurrency: int = _opt(
        16, "API generations handed to worker threads at once (the rest wait, off the threads)."
    )

    def __post_init__(self) -> None:
        if self.data_dir is None:
            self.data_dir = default_data_dir()
        self.data_dir = Path(self.data_dir)
        if self.database_url and not self.database_url.strip().lower().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValidationError(
                "AICREATIVE_DATABASE_URL must be a postgresql:// URL (unset it for the account file)."
            )
        if self.backend not in BACKEND_CHOICES:
            raise ValidationError(
                f"Unknown backend {self.backend!r}; choose one of {', '.join(BACKEND_CHOICES)}."
            )
        if self.cpu_precision not in ("auto", "bf16", "f32"):
            raise ValidationError("cpu_precision must be auto, bf16 or f32.")
        if self.tiny_autoencoder not in ("auto", "on", "off"):
            raise ValidationError("tiny_autoencoder must be auto, on or off.")
        if self.smtp_security not in ("starttls", "tls", "none"):
            raise ValidationError("smtp_security must be starttls, tls or none.")
        if isinstance(self.admin_usernames, str):
            self.admin_usernames = _split(self.admin_usernames)
        self.admin_usernames = [name.lower() for name in self.admin_usernames]
        if isinstance(self.allowed_hosts, str):
            self.allowed_hosts = _split(self.allowed_hosts)
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``AICREATIVE_*`` variables; keyword arguments win over them."""
        env = os.environ if env is None else env
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + field.name.upper())
            if raw is None:
                continue
            values[field.name] = _parse(raw, hints[field.name], field.name)
        if "hf_token" not in values and env.get("HF_TOKEN"):
            values["hf_token"] = env["HF_TOKEN"]
        values.update(overrides)
        return cls(**values)

    @classmethod
    def help(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, help) for every option; the README lists these."""
        rows = []
        for field in dataclasses.fields(cls):
            factory: Any = field.default_factory
            default = field.default if field.default is not dataclasses.MISSING else factory()
            shown = "" if default in (None, "", []) else str(default)
            rows.append((ENV_PREFIX + field.name.upper(), shown, field.metadata["help"]))
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
        self.secret_key = self._resolve_secret("secret_key", SECRET_FILE)
        return self.secret_key

    def resolve_gallery_secret(self) -> str:
        """The gallery secret: the setting, else one generated once into the data dir.

        Kept apart from ``secret_key`` so that rotating the session key leaves
        every gallery readable (see ``aicreative/gallery_keys.py``).
        """
        self.gallery_secret = self._resolve_secret("gallery_secret", GALLERY_SECRET_FILE)
        return self.gallery_secret

    def _resolve_secret(self, name: str, file_name: str) -> str:
        value = str(getattr(self, name) or "")
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


def _parse(raw: str, hint: Any, name: str) -> Any:
    text = str(hint)
    try:
        if hint is bool or text == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if hint is int or text == "int":
            return int(raw)
        if hint is float or text == "float":
            return float(raw)
        if "list" in text:
            return _split(raw)
        if hint is Path or "Path" in text:
            return Path(raw)
    except ValueError:
        raise ValidationError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid value.") from None
    return raw
