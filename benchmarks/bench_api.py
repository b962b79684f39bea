"""API token check and API request cost (issue 15).

Why the token's secret is hashed with SHA-256 and not argon2: it is checked
on every API request. This prints, on this machine:

* ``token check``: median of ``Studio.user_from_api_token`` (parse, the
  store's token index, SHA-256, constant-time compare, expiry, throttle),
  on a file store of N accounts each holding one token;
* ``argon2 verify``: median of one argon2id verify with the app's password
  hasher (what a password-style hash would add to each request), and the
  ratio of the two;
* ``GET /api/v1/balance``: median latency and requests/s of sequential
  calls through the real app on uvicorn (a thread of this process) with
  one token.

    .venv/bin/python benchmarks/bench_api.py            # 1k accounts, 300 requests
    .venv/bin/python benchmarks/bench_api.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def median_ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="100 accounts, 50 requests")
    args = parser.parse_args(argv)
    if args.quick:
        args.accounts, args.requests = 100, 50

    import httpx
    import uvicorn

    from aicreative import Settings, Studio
    from aicreative.accounts import PasswordHasher
    from aicreative.backends.demo import DemoBackend
    from aicreative.mail import MemoryMailer
    from aicreative.store import Account, AccountStore
    from aicreative.web.app import create_app

    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            secret_key="bench-secret-key-0123456789",
            backend="demo",
            api_requests_per_minute=1_000_000,
        )
        store = AccountStore.open(settings.store_path)
        fast = PasswordHasher.fast()
        for i in range(args.accounts):
            store.add(Account(f"user{i}", f"user{i}@example.org", "x", credits=10))
        studio = Studio(
            store,
            DemoBackend(),
            settings=settings,
            hasher=fast,
            mailer=MemoryMailer(),
            secret_key=settings.secret_key.get_secret_value(),
        )
        tokens = [
            studio.create_api_token(f"user{i}", "bench").token
            for i in range(0, args.accounts, max(1, args.accounts // 50))
        ]
        token = tokens[len(tokens) // 2]
        studio.user_from_api_token(token)  # warm: the index, the last-used stamp
        check = median_ms(
            lambda: studio.user_from_api_token(token), 2000 if not args.quick else 200
        )
        argon = PasswordHasher()
        stored = argon.hash("a password of ordinary length")
        verify = median_ms(
            lambda: argon.verify("a password of ordinary length", stored), 5 if args.quick else 15
        )
        print(f"accounts in the file store: {args.accounts}")
        print(f"token check (SHA-256 + index):  {check:8.3f} ms")
        print(
            f"argon2id verify (app hasher):   {verify:8.3f} ms   ({verify / check:,.0f}x the token check)"
        )

        app = create_app(studio, settings)
        sock_port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=sock_port, log_level="warning", access_log=False
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{sock_port}", headers={"authorization": f"Bearer {token}"}
        ) as client:
            for _ in range(10):
                client.get("/api/v1/balance")
            times = []
            started = time.perf_counter()
            for _ in range(args.requests):
                t0 = time.perf_counter()
                assert client.get("/api/v1/balance").status_code == 200
                times.append((time.perf_counter() - t0) * 1000)
            total = time.perf_counter() - started
        server.should_exit = True
        thread.join(timeout=10)
        studio.store.close()
    print(
        f"GET /api/v1/balance, {args.requests} sequential: median {statistics.median(times):.2f} ms, "
        f"p95 {sorted(times)[int(len(times) * 0.95) - 1]:.2f} ms, {args.requests / total:.0f} requests/s"
    )
    print(f"load average at the end {os.getloadavg()}")
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
