"""Sending email: the one module that talks SMTP.

It owns the :class:`Mailer` contract and its three implementations:

* :class:`SMTPMailer` delivers through the configured SMTP server
  (STARTTLS, implicit TLS or plain), retrying a bounded number of times;
* :class:`ConsoleMailer` prints mail to the server console when no SMTP
  server is configured (development), and writes nothing to disk;
* :class:`MemoryMailer` keeps mail in a list, for tests and notebooks.

:func:`create_mailer` picks one from :class:`~aicreative.config.Settings`.

Mail bodies of this app can carry a password-reset link, which is as good as
the password for a while. So bodies are never logged: the log says who was
mailed and the subject, and failures say why, never what the body was.
Delivery failures never raise; ``send`` returns False and the caller decides
what to tell the user.
"""

from __future__ import annotations

import dataclasses
import logging
import smtplib
import ssl
import sys
import threading
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Protocol, TextIO, runtime_checkable

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger(__name__)

__all__ = [
    "ConsoleMailer",
    "Mailer",
    "MemoryMailer",
    "SMTPMailer",
    "SentMail",
    "build_message",
    "create_mailer",
]

#: Seconds to wait for the SMTP server on connect and on each command.
DEFAULT_TIMEOUT = 15.0
#: Domain for Message-ID when the sender address has none.
FALLBACK_DOMAIN = "aicreative.invalid"


@runtime_checkable
class Mailer(Protocol):
    """Something that delivers one plain-text email."""

    def send(self, to: str, subject: str, body: str) -> bool:
        """Deliver the mail; True when delivered. Never raises for delivery failures."""
        ...


@dataclasses.dataclass(frozen=True)
class SentMail:
    """One mail as :class:`MemoryMailer` keeps it."""

    to: str
    subject: str
    body: str


def build_message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """A complete text/plain UTF-8 message with Date and Message-ID.

    Raises ValueError for a header with a line break (header injection): that
    is a bug in the caller, not a delivery failure.

    >>> msg = build_message("AI Creative <no-reply@example.org>", "ada@example.org", "Hi", "Hello")
    >>> msg["To"], msg.get_content_type(), msg["Message-ID"].endswith("@example.org>")
    ('ada@example.org', 'text/plain', True)
    """
    for name, value in (("sender", sender), ("recipient", to), ("subject", subject)):
        if "\r" in value or "\n" in value:
            raise ValueError(f"The mail {name} must not contain a line break.")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    # make_msgid() without a domain asks DNS for this host's name (slow, and
    # leaks the host name); the sender's own domain is what mail servers expect.
    msg["Message-ID"] = make_msgid(domain=_domain_of(sender))
    msg.set_content(body, subtype="plain", charset="utf-8")
    return msg


def _domain_of(address: str) -> str:
    _, email = parseaddr(address)
    try:
        domain = Address(addr_spec=email).domain if email else ""
    except (ValueError, IndexError):
        domain = ""
    return domain or FALLBACK_DOMAIN


class SMTPMailer:
    """Delivery through an SMTP server, as the settings describe it.

    ``retries`` is the number of attempts in all (at least one); between
    attempts it waits ``backoff`` seconds, doubling each time. A permanent
    refusal (a 5xx reply, a rejected login) is not retried: the next attempt
    would be refused the same way.

    ``ssl_context`` defaults to :func:`ssl.create_default_context` (system
    CAs, host name checked); tests pass one that trusts their own CA.
    """

    def __init__(
        self,
        settings: Settings,
        retries: int = 3,
        backoff: float = 0.5,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not settings.smtp_host:
            raise ValueError("SMTPMailer needs settings.smtp_host.")
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.security = settings.smtp_security
        self.user = settings.smtp_user
        self._password = settings.smtp_password.get_secret_value()
        self.sender = settings.mail_from
        self.retries = max(1, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        #: Attempts made by the last :meth:`send` (for tests and diagnostics).
        self.last_attempts = 0
        if self.security == "none" and self.user:
            log.warning(
                "SMTP security is 'none' but a user is set: the SMTP password "
                "travels unencrypted to %s:%s.",
                self.host,
                self.port,
            )

    def __repr__(self) -> str:  # no password in reprs, logs or tracebacks
        return f"SMTPMailer(host={self.host!r}, port={self.port}, security={self.security!r})"

    def send(self, to: str, subject: str, body: str) -> bool:
        msg = build_message(self.sender, to, subject, body)
        self.last_attempts = 0
        for attempt in range(1, self.retries + 1):
            self.last_attempts = attempt
            try:
                self._deliver(msg)
            except (smtplib.SMTPException, OSError) as exc:
                permanent = _is_permanent(exc)
                log.warning(
                    "mail to %s subject %r failed (attempt %d of %d%s): %s",
                    to,
                    subject,
                    attempt,
                    self.retries,
                    ", permanent" if permanent else "",
                    _describe(exc),
                )
                if permanent or attempt == self.retries:
                    return False
                time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            log.info("sent mail to %s subject %r", to, subject)
            return True
        return False  # pragma: no cover - the loop always returns

    def _deliver(self, msg: EmailMessage) -> None:
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            if self.security == "starttls":
                # Raises SMTPNotSupportedError when the server does not offer
                # it: never fall back to plain text silently.
                smtp.starttls(context=self.ssl_context)
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self._password)
            smtp.send_message(msg)


def _is_permanent(exc: BaseException) -> bool:
    """A refusal that another attempt would meet again."""
    # A rejected login or an untrusted certificate will not fix itself in a second.
    if isinstance(exc, (smtplib.SMTPAuthenticationError, ssl.SSLCertVerificationError)):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def _describe(exc: BaseException) -> str:
    """The failure in one short line: the server's reply or the socket error."""
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        return f"{type(exc).__name__}: {exc.smtp_code} {text}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


class ConsoleMailer:
    """Prints each mail to the server console (stdout); stores nothing.

    The fallback when no SMTP server is configured, so that a developer can
    follow a reset link. Printed, not logged: log files are kept and shipped,
    and the body may hold a reset link.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        # None means "sys.stdout at the time of sending" (pytest's capsys swaps it).
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, to: str, subject: str, body: str) -> bool:
        stream = self._stream or sys.stdout
        rule = "-" * 72
        with self._lock:  # keep concurrent mails from interleaving
            print(
                f"{rule}\nEmail (no SMTP server configured; printed, not sent)\n"
                f"To: {to}\nSubject: {subject}\n\n{body}\n{rule}",
                file=stream,
                flush=True,
            )
        log.info("printed mail to %s subject %r on the console", to, subject)
        return True


class MemoryMailer:
    """Keeps mail in :attr:`messages`: the offline stand-in for tests and notebooks.

    ``deliver=False`` makes every send fail (returns False, keeps nothing), to
    test how callers handle a mail server that is down.

    >>> mailer = MemoryMailer()
    >>> mailer.send("ada@example.org", "Hi", "Hello")
    True
    >>> mailer.messages[0].subject
    'Hi'
    """

    def __init__(self, deliver: bool = True) -> None:
        self.deliver = deliver
        self.messages: list[SentMail] = []
        self._lock = threading.Lock()

    def send(self, to: str, subject: str, body: str) -> bool:
        if not self.deliver:
            return False
        with self._lock:
            self.messages.append(SentMail(to, subject, body))
        return True

    def to(self, address: str) -> list[SentMail]:
        """The mails sent to ``address`` (case-insensitive), oldest first."""
        wanted = address.strip().lower()
        return [m for m in self.messages if m.to.strip().lower() == wanted]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


def create_mailer(settings: Settings) -> Mailer:
    """SMTP when ``settings.smtp_host`` is set, else the console."""
    if settings.smtp_host:
        return SMTPMailer(settings)
    log.info("no SMTP server configured: emails are printed to the console")
    return ConsoleMailer()
