"""A real SMTP server for tests: aiosmtpd's ``Controller`` on a free loopback port.

Import the fixtures into a test module (or conftest.py)::

    from tests.fixtures_mail import smtp_server, smtp_server_factory  # noqa: F401

``smtp_server`` is a plain server (no TLS, no auth); ``smtp_server_factory``
starts servers with other aiosmtpd options (``tls_context=``,
``require_starttls=``, ``authenticator=``, ``ssl_context=`` for implicit TLS).
Each yields a :class:`SMTPTestServer` with ``.host``, ``.port``,
``.messages`` (parsed :class:`email.message.EmailMessage`), ``.envelopes``
and ``.connections``. :func:`self_signed_cert` writes a certificate for
127.0.0.1/localhost (with ``cryptography`` when installed, else the
``openssl`` command) and skips the test when neither is available.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago (Controller 1.4.6 refuses port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class _StoringHandler:
    def __init__(self, store: list[Received]) -> None:
        self.store = store
        self.lock = threading.Lock()
        #: Replies to give instead of accepting, one per DATA, in order.
        self.rejections: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.rejections:
                return self.rejections.pop(0)
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        # SMTP carries CRLF line ends; the parser keeps the CR in the content.
        msg = message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.store.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"


class _CountingController(Controller):
    """Counts SMTP sessions (one SMTP instance is made per connection)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions = 0

    def factory(self) -> SMTP:
        self.sessions += 1
        return super().factory()


@dataclass
class SMTPTestServer:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    controller: _CountingController | None = None
    handler: _StoringHandler | None = None
    _baseline: int = 0

    def reject_next(self, *replies: str) -> None:
        """Answer the next DATA commands with these replies ("451 try later")."""
        assert self.handler is not None
        with self.handler.lock:
            self.handler.rejections.extend(replies)

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]

    @property
    def envelopes(self) -> list[Received]:
        return list(self.received)

    @property
    def connections(self) -> int:
        """Client connections since start (start-up's own probe excluded)."""
        assert self.controller is not None
        return self.controller.sessions - self._baseline

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()


def start_smtp_server(**options: Any) -> SMTPTestServer:
    """Start a server; ``options`` go to aiosmtpd's Controller/SMTP."""
    port = free_port()
    server = SMTPTestServer(HOST, port)
    server.handler = _StoringHandler(server.received)
    controller = _CountingController(server.handler, hostname=HOST, port=port, **options)
    controller.start()
    server.controller = controller
    server._baseline = controller.sessions  # the start-up probe connected once
    return server


@pytest.fixture
def smtp_server() -> Iterator[SMTPTestServer]:
    """A plain SMTP server (no TLS, no auth) on a free loopback port."""
    server = start_smtp_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server_factory() -> Iterator[Callable[..., SMTPTestServer]]:
    """Start servers with custom options; all are stopped at the end of the test."""
    servers: list[SMTPTestServer] = []

    def make(**options: Any) -> SMTPTestServer:
        server = start_smtp_server(**options)
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


def password_authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    """An aiosmtpd authenticator that accepts exactly one user and password."""

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd sends the 535 reply itself (True means "sent").
        return AuthResult(success=ok, handled=False)

    return authenticate


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """Verifies the server against this certificate, host name included."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed_cert(folder: Path) -> Certificate:
    """A certificate for 127.0.0.1 and localhost, valid for a day."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        _cert_with_cryptography(cert, key)
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("needs the cryptography package or the openssl command")
        subprocess.run(  # noqa: S603 - fixed arguments
            [
                openssl, "req", "-x509", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(key), "-out", str(cert), "-days", "1",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return Certificate(cert, key)


def _cert_with_cryptography(cert_path: Path, key_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
