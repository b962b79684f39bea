"""The security self-check behind ``aicreative audit``.

Owns the list of checks a deployment must pass (the policy promises
regular security checks) and their verdicts. Each check returns a
:class:`Check`; :func:`run_audit` prints one PASS/FAIL line for each and
returns 1 when any failed. It reads the deployment; it changes nothing.

A core module: it imports no web code. The one check that needs the built
web app (:func:`check_analytics`) is handed an inspector by its caller
(``aicreative audit`` gives :func:`aicreative.web.audit_ui.ui_problems`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .config import PLACEHOLDER_SECRETS, SECRET_FILE, Settings
from .hosts import is_loopback

#: Signatures of the image formats a generation could leave behind.
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8")
MIN_SECRET = 32


@dataclass(frozen=True)
class Check:
    """One check's verdict: what was checked, PASS or FAIL, and why."""

    #: What is checked ("secret key"); a check that crashed is named by its function.
    name: str
    ok: bool
    #: What an operator reads: the fix on a FAIL, what was found on a PASS.
    detail: str

    def line(self) -> str:
        """The line ``aicreative audit`` prints."""
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


def is_image(head: bytes) -> bool:
    """Whether the first bytes of a file are a PNG, JPEG, GIF or WebP."""
    return head.startswith(IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_secret_key(settings: Settings) -> Check:
    name = "secret key"
    key = settings.secret_key.get_secret_value()
    source = "AICREATIVE_SECRET_KEY"
    path = Path(settings.data_dir) / SECRET_FILE
    if not key and path.exists():
        key, source = path.read_text().strip(), str(path)
        if _mode(path) & 0o077:
            return Check(
                name, False, f"{path} is readable by others (mode {_mode(path):o}); chmod 600 it"
            )
    if not key:
        return Check(name, False, "not set: set AICREATIVE_SECRET_KEY to a long random value")
    if key.strip().lower() in PLACEHOLDER_SECRETS or len(key) < MIN_SECRET or len(set(key)) < 10:
        return Check(
            name, False, f"from {source} is weak: use at least {MIN_SECRET} random characters"
        )
    return Check(name, True, f"set from {source}, {len(key)} characters")


def check_transport(settings: Settings) -> Check:
    name = "encryption in transit"
    if settings.https:
        missing = [
            f for f in (settings.ssl_certfile, settings.ssl_keyfile) if not Path(f).is_file()
        ]
        if missing:
            return Check(name, False, f"certificate or key file missing: {', '.join(missing)}")
        return Check(name, True, "the server speaks HTTPS itself (HSTS on)")
    if settings.trust_proxy:
        return Check(
            name,
            True,
            "behind a TLS proxy (AICREATIVE_TRUST_PROXY); make sure the proxy enforces HTTPS",
        )
    return Check(
        name,
        False,
        "plain HTTP: set AICREATIVE_SSL_CERTFILE/KEYFILE, or AICREATIVE_TRUST_PROXY behind a TLS proxy",
    )


def _reachable_from_outside(settings: Settings) -> bool:
    """Whether the server listens beyond this machine (or runs on Spaces)."""
    return settings.on_spaces or not is_loopback(settings.listen_host)


def check_public_address(settings: Settings) -> Check:
    name = "public address"
    base = settings.public_base_url
    if base:
        source = "AICREATIVE_PUBLIC_URL" if settings.public_url else "SPACE_HOST"
        if not base.startswith("https://") and _reachable_from_outside(settings):
            return Check(
                name, False, f"{base} (from {source}) is not https: emailed links would be"
            )
        return Check(name, True, f"emailed links use {base} (from {source})")
    if _reachable_from_outside(settings):
        return Check(
            name,
            False,
            f"the server listens on {settings.listen_host} but AICREATIVE_PUBLIC_URL is unset: "
            "password reset emails carry no link; set it to https://your.site",
        )
    return Check(name, True, "unset; the server listens on this machine only (no links mailed)")


def check_host_list(settings: Settings) -> Check:
    name = "trusted hosts"
    hosts = ", ".join(settings.trusted_hosts)
    if "*" in settings.trusted_hosts:
        return Check(
            name, False, "AICREATIVE_ALLOWED_HOSTS has *: requests for any Host are answered"
        )
    if _reachable_from_outside(settings) and not settings.host_list_configured:
        return Check(
            name,
            False,
            f"the server listens on {settings.listen_host} with no host list: set "
            "AICREATIVE_PUBLIC_URL or AICREATIVE_ALLOWED_HOSTS (only local names are answered now)",
        )
    return Check(name, True, f"answers only {hosts}")


def check_email_confirmation(settings: Settings) -> Check:
    name = "email confirmation"
    # The setting arrives with the sign-up limits; read it so that the
    # check runs (and counts as on, its default) before it exists.
    if getattr(settings, "confirm_email", True):
        return Check(name, True, "sign-up credits only after the address is confirmed")
    if _reachable_from_outside(settings):
        return Check(
            name,
            False,
            "AICREATIVE_CONFIRM_EMAIL is off on a reachable server: anyone can make accounts "
            "for free credits with made-up addresses; turn it on (off is for demos)",
        )
    return Check(name, True, "off, on a server reachable from this machine only (a demo)")


#: Reads the built web app for :func:`check_analytics`: the problems found
#: (an empty list: none), or None when the app could not be inspected. Given
#: by the caller (``aicreative audit`` passes
#: :func:`aicreative.web.audit_ui.ui_problems`), so this core module never
#: imports the web layer.
UiInspector = Callable[[Settings], "list[str] | None"]


def check_analytics(settings: Settings, inspect_ui: UiInspector | None = None) -> Check:
    name = "analytics and telemetry"
    if os.environ.get("GRADIO_ANALYTICS_ENABLED", "").strip().lower() in ("1", "true", "yes"):
        return Check(name, False, "GRADIO_ANALYTICS_ENABLED is on in this environment")
    if inspect_ui is None:
        return Check(name, False, "the web app was not inspected (run `aicreative audit`)")
    problems = inspect_ui(settings)
    if problems is None:
        return Check(name, False, "could not find the Gradio app to inspect")
    if problems:
        return Check(name, False, "; ".join(problems))
    return Check(name, True, "Gradio analytics, run history and file components off")


def check_permissions(settings: Settings) -> Check:
    name = "data permissions"
    folder = Path(settings.data_dir)
    if not folder.exists():
        return Check(name, False, f"data dir {folder} does not exist (start the app once)")
    problems = []
    if _mode(folder) & 0o077:
        problems.append(f"{folder} is mode {_mode(folder):o}, want 700")
    for path in (settings.store_path, folder / SECRET_FILE):
        if path.exists() and _mode(path) & 0o077:
            problems.append(f"{path.name} is mode {_mode(path):o}, want 600")
    if problems:
        return Check(name, False, "; ".join(problems))
    return Check(name, True, f"{folder} is 700 and its files 600")


def check_records(settings: Settings) -> Check:
    name = "stored fields"
    from .errors import StoreError
    from .store import FIELDS, TABLE, AtomicJSONStorage

    if not settings.store_path.exists():
        return Check(name, True, "no account file yet")
    try:
        # The storage alone, not the store: opening the store tidies temp
        # files, and the audit changes nothing.
        data = AtomicJSONStorage(settings.store_path).read() or {}
    except StoreError as exc:
        return Check(name, False, str(exc))
    records = list(data.get(TABLE, {}).values())
    extra = sorted({key for record in records for key in record} - set(FIELDS))
    if extra:
        return Check(name, False, f"fields outside the whitelist: {', '.join(extra)}")
    return Check(name, True, f"{len(records)} record(s), only {', '.join(FIELDS)}")


def check_database(settings: Settings) -> Check:
    """The account database of a deployment with several app processes."""
    name = "account database"
    if not settings.database_url.get_secret_value():
        return Check(
            name,
            True,
            f"the account file {settings.store_path} (one machine; for app processes on "
            "several machines set AICREATIVE_DATABASE_URL)",
        )
    from .store import FIELDS
    from .store.postgres_schema import inspect, redact

    report = inspect(settings.database_url.get_secret_value())
    where = redact(settings.database_url.get_secret_value())
    if not report.reachable:
        return Check(name, False, report.error)
    problems = []
    if report.version < report.latest:
        problems.append(
            f"schema version {report.version}, this app's is {report.latest} (start the app "
            "once, it migrates)"
        )
    elif report.version > report.latest:
        problems.append(f"schema version {report.version} is newer than this app's {report.latest}")
    elif report.columns != FIELDS:
        problems.append(f"the accounts table's columns are not the whitelist: {report.columns}")
    if not report.transport_ok:
        problems.append(
            f"{report.transport}: add sslmode=verify-full (or require) to the URL, or use a "
            "local socket"
        )
    if problems:
        return Check(name, False, f"{where}: " + "; ".join(problems))
    return Check(
        name,
        True,
        f"{where}: schema version {report.version} (current), columns = the whitelist, "
        f"over {report.transport}",
    )


def check_orphans(settings: Settings) -> Check:
    from .store import TEMP_PREFIX, TEMP_SUFFIX

    orphans = sorted(Path(settings.data_dir).glob(TEMP_PREFIX + "*" + TEMP_SUFFIX))
    if orphans:
        return Check(
            "temp files", False, f"{len(orphans)} left by a writer that died: {orphans[0]}"
        )
    return Check("temp files", True, "none left behind")


def _files(folders: Iterable[Path]) -> Iterable[Path]:
    for folder in folders:
        if folder.is_dir():
            for path in folder.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    yield path


def gradio_temp_dir() -> Path:
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


def check_no_images(settings: Settings) -> Check:
    name = "no images on the server"
    found = []
    for path in _files([Path(settings.data_dir), gradio_temp_dir()]):
        if "models" in path.relative_to(path.anchor).parts:
            continue  # model weights and configs, not generations
        try:
            with open(path, "rb") as fh:
                if is_image(fh.read(16)):
                    found.append(path)
        except OSError:
            continue
    if found:
        return Check(name, False, f"{len(found)} image file(s), e.g. {found[0]}")
    return Check(name, True, f"none in {settings.data_dir} or {gradio_temp_dir()}")


def check_password_library() -> Check:
    name = "password library"
    installed = {dist.metadata["Name"].lower() for dist in importlib.metadata.distributions()}
    if "passlib" in installed:
        return Check(
            name,
            False,
            "passlib is installed beside libpass: uninstall passlib (it breaks with bcrypt 5)",
        )
    if "libpass" not in installed:
        return Check(name, False, "libpass is not installed")
    return Check(name, True, "libpass only")


def checks(inspect_ui: UiInspector | None = None) -> tuple[Callable[[Settings], Check], ...]:
    """Every check, in the order they are printed; ``inspect_ui`` reads the web app."""
    return (
        check_secret_key,
        check_transport,
        check_public_address,
        check_host_list,
        check_email_confirmation,
        # Named like the check, so that a crash in it is reported under its name.
        functools.update_wrapper(
            functools.partial(check_analytics, inspect_ui=inspect_ui), check_analytics
        ),
        check_permissions,
        check_records,
        check_database,
        check_orphans,
        check_no_images,
        lambda settings: check_password_library(),
    )


def audit(settings: Settings, inspect_ui: UiInspector | None = None) -> list[Check]:
    """Every check's verdict; a check that crashes counts as failed."""
    results = []
    for check in checks(inspect_ui):
        try:
            results.append(check(settings))
        except Exception as exc:  # noqa: BLE001 - a broken check is a failed check
            results.append(
                Check(getattr(check, "__name__", "check"), False, f"could not run: {exc}")
            )
    return results


def run_audit(settings: Settings, out: TextIO, inspect_ui: UiInspector | None = None) -> int:
    """Print each verdict; 0 when all passed, else 1."""
    results = audit(settings, inspect_ui)
    for result in results:
        print(result.line(), file=out)
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed} passed, {failed} failed", file=out)
    return 1 if failed else 0
