"""Does a sign-up flood stall the server? /healthz latency idle and during 30 sign-ups.

Issue 11 item 4: argon2 inside an ``async`` handler blocked the event loop,
and a 30-account flood took ``/healthz`` from 34 ms to 7 s (median). Now
every hash runs in a worker thread. This script starts the real app
(``create_app``, the default argon2id hasher, a TinyDB file in a temp
folder, the demo backend) in its own process with uvicorn on a free
127.0.0.1 port, measures ``/healthz`` sequentially while idle, then again
while 30 sign-ups run at once through the real form (each from its own
address, through a trusted proxy header, so that every one pays its hash,
the worst case for the loop), and prints the medians and their ratio.
Target: the flood's median within 3x the idle median. A benchmark, not a
test: it prints figures and asserts nothing about time.

    python benchmarks/bench_signup_flood.py [--signups 30] [--probes 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = """
import sys, uvicorn
from pathlib import Path
from aicreative import Settings, Studio
from aicreative.web.app import create_app
settings = Settings(data_dir=Path(sys.argv[1]), backend="demo", trust_proxy=True,
                    confirm_email=False, signups_per_address=1000,
                    secret_key="bench-signup-flood-secret-key-0123456789")
studio = Studio.from_settings(settings)  # the real argon2id hasher
uvicorn.run(create_app(studio, settings), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning", access_log=False)
"""


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def probe(url: str, count: int, stop: threading.Event | None = None) -> list[float]:
    times = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(count):
            if stop is not None and stop.is_set():
                break
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            times.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=30)
    parser.add_argument("--probes", type=int, default=40)
    args = parser.parse_args(argv)
    from tests.fixtures_server import signup_response

    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen([sys.executable, "-c", SERVER, tmp, str(port)], env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.1)
            probe(url, 5)  # warm-up
            idle = probe(url, args.probes)

            answers: list[int] = []

            def sign_up(n: int) -> None:
                headers = {"x-forwarded-for": f"198.51.100.{n % 250 + 1}"}
                with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
                    response = signup_response(
                        client, f"flood{n:03d}", password="a long flood password 42!"
                    )
                    answers.append(response.status_code)

            stop = threading.Event()
            threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(args.signups)]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            during: list[float] = []
            prober = threading.Thread(
                target=lambda: during.extend(probe(url, 10_000, stop)), daemon=True
            )
            prober.start()
            for thread in threads:
                thread.join()
            flood_s = time.perf_counter() - began
            stop.set()
            prober.join()
        finally:
            server.terminate()
            server.wait(timeout=20)
    idle_p50, flood_p50 = statistics.median(idle), statistics.median(during)
    print(f"sign-ups: {args.signups} at once, answers {sorted(set(answers))}, took {flood_s:.1f} s")
    print(f"/healthz idle:        p50 {idle_p50:7.1f} ms  max {max(idle):7.1f} ms  (n={len(idle)})")
    print(
        f"/healthz during flood: p50 {flood_p50:7.1f} ms  max {max(during):7.1f} ms  (n={len(during)})"
    )
    ratio = flood_p50 / idle_p50
    verdict = "PASS" if ratio <= 3 else "MISS"
    print(f"ratio flood/idle p50: {ratio:.2f}x (target <= 3x: {verdict})")
    print(f"load average at the end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
