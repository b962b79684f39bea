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
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import sys
import tempfile
import threading
import time
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
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.requests, args.credits = 8, 4, 3

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

    width, height = (int(v) for v in size.split("x"))
    return GenerationRequest("cost", width=width, height=height).cost_per_image


if __name__ == "__main__":
    raise SystemExit(main())
