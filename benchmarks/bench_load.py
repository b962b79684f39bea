"""Load benchmark: throughput and latency of many clients generating at once (issue 5).

The real app (``create_app``, a TinyDB file store, the demo backend) runs in
a subprocess on a free 127.0.0.1 port (see ``bench_web.start_server``) with
``N`` accounts of ``--credits`` credits each. ``N`` client threads, each its
own httpx client and session cookie, start together and call Gradio's
``generate`` API (``POST /gradio_api/call/generate``, then its event
stream) ``--requests`` times each; with more requests than credits, the
last ones end in "not enough credits", as on a busy day. A separate thread
polls ``/healthz`` throughout.

Prints throughput (images/s, requests/s), latency p50/p95/max of the
requests that delivered images and of the refusals, the ``/healthz``
latency, and a consistency line (credits spent == images delivered, no
balance below zero). No timing is asserted.

    .venv/bin/python benchmarks/bench_load.py               # 30 clients
    .venv/bin/python benchmarks/bench_load.py --clients 60  # more
    .venv/bin/python benchmarks/bench_load.py --quick       # smoke run

With ``--processes 1,2`` (issue 18) the same load runs against N real
``aicreative serve`` processes sharing one PostgreSQL database (a database
of its own on ``--database-url``, dropped after), the clients spread over
them as a sticky proxy would (client i always on process i mod N), once per
N; it prints images/s for each and the ratio to 1 process, and how much CPU
the load generator (this process) and the app processes used: they share
the machine's cores, so on 2 cores the generator's share caps the ratio.

    .venv/bin/python benchmarks/bench_load.py --processes 1,2 --size 256x256
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from bench_web import start_server  # noqa: E402

from tests.fixtures_server import balance_in, gradio_call, status_text  # noqa: E402


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    if not values:
        return f"  {name:<22} {'-':>7}"
    return (
        f"  {name:<22} {len(values):>7} {pct(values, 0.5):>8.0f} {pct(values, 0.95):>8.0f} "
        f"{max(values):>8.0f}"
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def app_processes(
    n: int, database_url: str, clients: int, credits: int
) -> Iterator[tuple[list[str], dict[str, str], list[int]]]:
    """N ``aicreative serve`` processes on one fresh PostgreSQL database.

    Yields (urls, {username: session token}, pids). Accounts are made
    in this process on the same database (the fast test hasher), and their
    tokens signed with the processes' shared secret key.
    """
    import secrets
    import subprocess
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    from aicreative import Settings, Studio
    from aicreative.accounts import PasswordHasher
    from aicreative.backends.demo import DemoBackend
    from aicreative.mail import MemoryMailer
    from aicreative.store import AccountStore
    from tests.conftest import free_port

    name = f"aicreative_bench_{secrets.token_hex(4)}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(database_url)._replace(path="/" + name))
    key = secrets.token_urlsafe(32)
    procs: list[subprocess.Popen[bytes]] = []
    tmp = tempfile.TemporaryDirectory(prefix="bench-load-mp-")
    try:
        store = AccountStore.connect(url)
        studio = Studio(
            store,
            DemoBackend(),
            settings=Settings(data_dir=Path(tmp.name) / "mine", secret_key=key, backend="demo"),
            hasher=PasswordHasher.fast(),
            mailer=MemoryMailer(),
            secret_key=key,
        )
        tokens = {}
        for i in range(clients):
            username = f"load{i:03d}"
            studio.signup(username, f"{username}@example.org", "correct horse battery")
            if credits != studio.settings.signup_credits:
                store.update(username, credits=credits)
            tokens[username] = studio.login(username, "correct horse battery")
        store.close()
        urls = []
        for i in range(n):
            port = free_port()
            env = {
                **os.environ,
                "AICREATIVE_DATABASE_URL": url,
                "AICREATIVE_DATA_DIR": str(Path(tmp.name) / f"data{i}"),
                "AICREATIVE_SECRET_KEY": key,
                "AICREATIVE_BACKEND": "demo",
                "AICREATIVE_LOG_LEVEL": "WARNING",
                "GRADIO_ANALYTICS_ENABLED": "False",
            }
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "aicreative.cli", "serve", "--port", str(port)],
                    env=env,
                    cwd=Path(__file__).resolve().parents[1],
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for u in urls:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(u + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{u} did not start")
                time.sleep(0.3)
        yield urls, tokens, [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        tmp.cleanup()


def run_spread(urls: list[str], tokens: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Every client at once, client i on ``urls[i % len(urls)]``; images, wall, problems."""
    from aicreative.web.security import COOKIE_NAME

    images = 0
    problems: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(tokens) + 1)

    def client(token: str, index: int) -> None:
        nonlocal images
        url = urls[index % len(urls)]
        with httpx.Client(base_url=url, cookies={COOKIE_NAME: token}, timeout=120) as http:
            inputs: list[Any] = ["", "", args.size, 1, 0.0, 0, True, args.count]
            barrier.wait()
            for r in range(args.requests):
                inputs[0] = f"load benchmark client {index} request {r}"
                try:
                    event, data, _ = gradio_call(http, "generate", inputs)
                except Exception as exc:
                    event, data = "exception", f"{type(exc).__name__}: {exc}"
                with lock:
                    payload = data[0] if event == "complete" else None
                    if isinstance(payload, dict) and payload.get("images"):
                        images += len(payload["images"])
                    elif not (
                        event == "complete"
                        and status_text(data[1]).startswith("Not enough credits")
                    ):
                        problems.append(f"{event}: {str(data)[:160]}")

    threads = [
        threading.Thread(target=client, args=(token, i), daemon=True)
        for i, token in enumerate(tokens.values())
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    return {
        "wall": time.perf_counter() - started,
        "images": images,
        "problems": problems,
        "generator_cpu": time.process_time() - cpu,
    }


def main_processes(args: argparse.Namespace) -> int:
    """The load against 1, 2, … app processes on one PostgreSQL database."""
    counts = [int(v) for v in args.processes.split(",") if v.strip()]
    print(
        f"# load benchmark, app processes on PostgreSQL · {time.strftime('%Y-%m-%d %H:%M:%S %Z')} "
        f"· {os.cpu_count()} cores · load average {os.getloadavg()[0]:.2f} at start"
    )
    print(
        f"# {args.clients} clients x {args.requests} requests of {args.count} x {args.size}, "
        f"{args.credits} credits each, demo backend, clients spread over the processes"
    )
    results = {}
    for n in counts:
        with app_processes(n, args.database_url, args.clients, args.credits) as (
            urls,
            tokens,
            pids,
        ):
            before = sum(_cpu_seconds(pid) for pid in pids)
            result = run_spread(urls, tokens, args)
            result["app_cpu"] = sum(_cpu_seconds(pid) for pid in pids) - before
        results[n] = result
        wall = result["wall"]
        print(
            f"  {n} process(es): {result['images']} images in {wall:.2f} s = "
            f"{result['images'] / wall:.2f} images/s · app CPU {result['app_cpu']:.1f} s "
            f"({result['app_cpu'] / wall * 100:.0f}% of one core) · load generator CPU "
            f"{result['generator_cpu']:.1f} s ({result['generator_cpu'] / wall * 100:.0f}% of one "
            f"core) · {len(result['problems'])} failed requests · load average "
            f"{os.getloadavg()[0]:.2f}",
            flush=True,
        )
        for problem in result["problems"][:3]:
            print("    problem:", problem)
    base = results[counts[0]]
    for n in counts[1:]:
        ratio = (results[n]["images"] / results[n]["wall"]) / (base["images"] / base["wall"])
        print(
            f"  {n} processes / {counts[0]}: {ratio:.2f}x images/s (target >= 1.4x for 2: "
            f"{'PASS' if ratio >= 1.4 else 'MISS'})"
        )
    print(f"# load average {os.getloadavg()[0]:.2f} at the end")
    return 0 if all(not r["problems"] for r in results.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=30, help="concurrent clients (accounts)")
    parser.add_argument("--requests", type=int, default=14, help="generate calls per client")
    parser.add_argument("--credits", type=int, default=10, help="credits of each account")
    parser.add_argument("--count", type=int, default=1, help="images per request")
    parser.add_argument("--size", default="512x512", help="image size (a choice of the UI)")
    parser.add_argument(
        "--store-accounts",
        type=int,
        default=0,
        help="first fill the store with this many other accounts (written directly)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the server under cProfile; print its top functions",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 clients x 4 requests")
    parser.add_argument(
        "--processes",
        default="",
        help="e.g. 1,2: app processes on one PostgreSQL database, one run per count",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "AICREATIVE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server where the benchmark may create and drop a database",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.requests, args.credits = 8, 4, 3
    if args.processes:
        return main_processes(args)

    load = os.getloadavg()
    print(
        f"# load benchmark · {time.strftime('%Y-%m-%d %H:%M:%S %Z')} · {os.cpu_count()} cores · "
        f"load average {load[0]:.2f} at start"
    )
    print(
        f"# {args.clients} clients x {args.requests} requests of {args.count} x {args.size}, "
        f"{args.credits} credits each, demo backend, server in its own process, "
        f"{args.clients + args.store_accounts} accounts in its store"
    )
    latencies: dict[str, list[float]] = {"images": [], "refused": [], "other": []}
    images = 0
    problems: list[str] = []
    lock = threading.Lock()
    health: list[tuple[int, float]] = []
    stop = threading.Event()

    profile_dir = tempfile.TemporaryDirectory(prefix="bench-load-prof-")
    profile = str(Path(profile_dir.name) / "server.prof") if args.profile else None
    with start_server(
        "ours",
        accounts=args.clients,
        credits=args.credits,
        profile=profile,
        store_size=args.store_accounts,
    ) as (url, tokens):
        from aicreative.web.security import COOKIE_NAME

        barrier = threading.Barrier(args.clients + 1)

        def client(token: str, index: int) -> None:
            nonlocal images
            with httpx.Client(base_url=url, cookies={COOKIE_NAME: token}, timeout=120) as http:
                inputs: list[Any] = ["", "", args.size, 1, 0.0, 0, True, args.count]
                barrier.wait()
                for r in range(args.requests):
                    inputs[0] = f"load benchmark client {index} request {r}"
                    start = time.perf_counter()
                    try:
                        event, data, _ = gradio_call(http, "generate", inputs)
                    except Exception as exc:
                        event, data = "exception", f"{type(exc).__name__}: {exc}"
                    ms = (time.perf_counter() - start) * 1000
                    with lock:
                        payload = data[0] if event == "complete" else None
                        if isinstance(payload, dict) and payload.get("images"):
                            latencies["images"].append(ms)
                            images += len(payload["images"])
                        elif event == "complete" and status_text(data[1]).startswith(
                            "Not enough credits"
                        ):
                            latencies["refused"].append(ms)
                        else:
                            latencies["other"].append(ms)
                            problems.append(f"{event}: {str(data)[:160]}")

        def poll_health() -> None:
            with httpx.Client(base_url=url, timeout=60) as http:
                while not stop.is_set():
                    start = time.perf_counter()
                    try:
                        status = http.get("/healthz").status_code
                    except httpx.HTTPError:
                        status = 0
                    health.append((status, (time.perf_counter() - start) * 1000))
                    stop.wait(0.05)

        threads = [
            threading.Thread(target=client, args=(token, i), daemon=True)
            for i, token in enumerate(tokens.values())
        ]
        for thread in threads:
            thread.start()
        poller = threading.Thread(target=poll_health, daemon=True)
        poller.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        stop.set()
        poller.join()

        # Final balances, as each user's page would show them.
        balances = []
        for token in tokens.values():
            with httpx.Client(base_url=url, cookies={COOKIE_NAME: token}, timeout=60) as http:
                event, data, _ = gradio_call(http, "session", [])
                balances.append(balance_in(data[0]) if event == "complete" else -1)

    requests = sum(len(v) for v in latencies.values())
    print(f"\nwall {wall:.2f} s · {requests} requests · {images} images")
    print(f"  throughput: {images / wall:.1f} images/s, {requests / wall:.1f} requests/s")
    print(f"\n  {'latency (ms)':<22} {'n':>7} {'p50':>8} {'p95':>8} {'max':>8}")
    print(line("image requests", latencies["images"]))
    print(line("refusals (no credits)", latencies["refused"]))
    print(line("all requests", [v for values in latencies.values() for v in values]))
    print(line("/healthz during load", [ms for _, ms in health]))
    bad_health = sum(status != 200 for status, _ in health)
    spent = sum(args.credits - b for b in balances)
    consistent = spent == images * 1 * _cost(args.size) and min(balances, default=0) >= 0
    print(
        f"\nconsistency: credits spent {spent} for {images} images, lowest balance "
        f"{min(balances, default=0)}, {len(problems)} failed requests, {bad_health} /healthz "
        f"answers not 200 of {len(health)}: {'OK' if consistent and not problems and not bad_health else 'FAIL'}"
    )
    for problem in problems[:5]:
        print("  problem:", problem)
    if profile:
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(25)
        print("\nthe server under cProfile (all threads, by own time):")
        print(text.getvalue())
    profile_dir.cleanup()
    load = os.getloadavg()
    print(f"# load average {load[0]:.2f} at the end")
    return 0 if consistent and not problems and not bad_health else 1


def _cost(size: str) -> int:
    """Credits per image at ``size`` (one per started 512x512 area)."""
    from aicreative.backends.base import GenerationRequest
    from aicreative.pricing import cost_per_image

    width, height = (int(v) for v in size.split("x"))
    return cost_per_image(GenerationRequest("cost", width=width, height=height))


if __name__ == "__main__":
    raise SystemExit(main())
