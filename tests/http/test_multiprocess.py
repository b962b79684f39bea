"""Two app processes on one PostgreSQL database, as the reference deployment runs.

Two real ``aicreative serve`` processes (uvicorn, demo backend, each its own
data dir, one ``AICREATIVE_DATABASE_URL`` and one secret key) serve 30
clients spread across both; half the clients alternate between the two
processes on every request, so one account's charges interleave across
processes. Checked: credits spent == images delivered, per account and in
all; a session made on one process is valid on the other; a logout on one
ends it on both; a process killed with SIGKILL mid-load loses no committed
charge (every delivered image is paid for in the database, and nothing
beyond what was in flight on the killed process is missing).

No load balancer here: a client picks its process itself, which is what a
sticky proxy does per browser (see the README's reference deployment).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aicreative import Settings, Studio
from aicreative.accounts import PasswordHasher
from aicreative.backends.demo import DemoBackend
from aicreative.mail import MemoryMailer
from aicreative.store import AccountStore
from aicreative.web.security import COOKIE_NAME
from tests.conftest import free_port
from tests.fixtures_server import (
    PASSWORD,
    balance_in,
    form_error,
    generate,
    login_response,
    logout,
    status_text,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "multi-process-secret-key-0123456789abcdef"
CREDITS = 10
CLIENTS = 30
REQUESTS = 12  # 12 single-image requests for 10 credits: the last ones are refused


class AppProcess:
    """One ``aicreative serve`` subprocess on a free port."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "AICREATIVE_DATABASE_URL": database_url,
            "AICREATIVE_DATA_DIR": str(data_dir),
            "AICREATIVE_SECRET_KEY": SECRET,
            "AICREATIVE_BACKEND": "demo",
            "AICREATIVE_LOG_LEVEL": "WARNING",
            "GRADIO_ANALYTICS_ENABLED": "False",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aicreative.cli", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited: {self.proc.stderr.read()[-2000:]!r}")  # type: ignore[union-attr]
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the app did not answer /healthz in 90 s")

    def client(self, token: str | None = None) -> httpx.Client:
        cookies = {COOKIE_NAME: token} if token else None
        return httpx.Client(base_url=self.url, cookies=cookies, timeout=60, follow_redirects=False)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def apps(pg_url: str, tmp_path: Path) -> Iterator[list[AppProcess]]:
    started: list[AppProcess] = []
    try:
        for i in range(2):
            started.append(AppProcess(tmp_path / f"data{i}", pg_url))
        yield started
    finally:
        for app in started:
            app.stop()


@pytest.fixture
def studio(pg_url: str, tmp_path: Path) -> Iterator[Studio]:
    """The test's own view of the shared database (accounts made fast, read back)."""
    settings = Settings(data_dir=tmp_path / "mine", secret_key=SECRET, backend="demo")
    store = AccountStore.connect(pg_url)
    yield Studio(
        store,
        DemoBackend(),
        settings=settings,
        hasher=PasswordHasher.fast(),
        mailer=MemoryMailer(),
        secret_key=SECRET,
    )
    store.close()


def session_valid(client: httpx.Client) -> bool:
    return client.get("/account/data.json").status_code == 200


def test_a_session_is_shared_and_a_logout_ends_it_on_both(
    apps: list[AppProcess], studio: Studio
) -> None:
    a, b = apps
    studio.signup("ada", "ada@example.org", PASSWORD)
    with a.client() as on_a:
        response = login_response(on_a, "ada", PASSWORD)  # through the real form, on A
        assert response.status_code == 303, form_error(response.text)
        token = on_a.cookies[COOKIE_NAME]
        with b.client(token) as on_b:
            assert session_valid(on_a) and session_valid(on_b)
            event, data, _ = generate(on_b, "a lighthouse", size="256x256", count=1)
            assert event == "complete" and data[0]["images"], data  # charged on B
            assert studio.balance("ada") == CREDITS - 1
            assert logout(on_b).status_code == 303  # out on B ...
            assert not session_valid(on_a)  # ... ends it on A too
            assert not session_valid(b.client(token))


def _judge(event: str, data: object) -> tuple[int, bool, str]:
    """(images, refused, problem) of one generate answer."""
    if event != "complete" or not isinstance(data, list) or len(data) != 3:
        return 0, False, f"{event}: {str(data)[:200]}"
    payload, status, header = data
    if isinstance(payload, dict) and payload.get("images"):
        if balance_in(header) < 0:
            return 0, False, f"negative balance {header}"
        return len(payload["images"]), False, ""
    if status_text(status).startswith("Not enough credits"):
        return 0, True, ""
    return 0, False, f"neither images nor a refusal: {status_text(status)!r}"


def run_clients(
    apps: list[AppProcess],
    tokens: dict[str, str],
    kill_after: float | None = None,
) -> tuple[dict[str, int], dict[str, list[str]], dict[str, int]]:
    """Every client at once; (images per account, problems, requests sent to B per account)."""
    images = dict.fromkeys(tokens, 0)
    problems: dict[str, list[str]] = {name: [] for name in tokens}
    on_b = dict.fromkeys(tokens, 0)
    lock = threading.Lock()
    barrier = threading.Barrier(len(tokens) + (1 if kill_after is not None else 0))

    def client(index: int, name: str) -> None:
        http = [app.client(tokens[name]) for app in apps]
        try:
            barrier.wait(timeout=60)
            for r in range(REQUESTS):
                # Even clients alternate A, B, A, ...; odd ones stay on one process.
                which = (r if index % 2 == 0 else index // 2) % 2
                try:
                    if which == 1:
                        with lock:
                            on_b[name] += 1
                    event, data, _ = generate(http[which], f"p {name} {r}", size="256x256")
                except (httpx.HTTPError, AssertionError) as exc:
                    if kill_after is not None and which == 1:
                        continue  # B was killed under this request
                    raise AssertionError(f"request {r} on {'AB'[which]}: {exc}") from exc
                got, _refused, problem = _judge(event, data)
                with lock:
                    images[name] += got
                    if problem and not (kill_after is not None and which == 1):
                        problems[name].append(problem)
        finally:
            for h in http:
                h.close()

    threads = [threading.Thread(target=client, args=(i, name)) for i, name in enumerate(tokens)]
    for t in threads:
        t.start()
    if kill_after is not None:
        barrier.wait(timeout=60)
        time.sleep(kill_after)
        apps[1].kill()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a client hung"
    return images, problems, on_b


def make_accounts(studio: Studio, prefix: str) -> dict[str, str]:
    tokens = {}
    for i in range(CLIENTS):
        name = f"{prefix}{i:02d}"
        studio.signup(name, f"{name}@example.org", PASSWORD)
        tokens[name] = studio.login(name, PASSWORD)
    return tokens


def test_thirty_clients_on_two_processes_pay_for_exactly_what_they_get(
    apps: list[AppProcess], studio: Studio
) -> None:
    tokens = make_accounts(studio, "load")
    images, problems, _ = run_clients(apps, tokens)
    assert {n: p for n, p in problems.items() if p} == {}
    for name in tokens:
        spent = CREDITS - studio.balance(name)
        assert spent == images[name] == CREDITS, (name, spent, images[name])
    assert sum(images.values()) == CLIENTS * CREDITS


def test_a_killed_process_loses_no_committed_charge(apps: list[AppProcess], studio: Studio) -> None:
    tokens = make_accounts(studio, "kill")
    images, problems, on_b = run_clients(apps, tokens, kill_after=1.5)
    assert {n: p for n, p in problems.items() if p} == {}
    lost_in_flight = 0
    for name in tokens:
        spent = CREDITS - studio.balance(name)
        # Every image a client received was paid for, in the database.
        assert spent >= images[name], (name, spent, images[name])
        # Beyond that, at most the one request this client had in flight on B
        # when it died (charged, never delivered, not refunded: the process is gone).
        assert spent - images[name] <= (1 if on_b[name] else 0), (name, spent, images[name])
        lost_in_flight += spent - images[name]
    # The load really ran on both processes, B died mid-load, and A went on.
    assert CLIENTS < sum(images.values()) < CLIENTS * CREDITS
    print(f"charged but undelivered when B was killed: {lost_in_flight}")
