"""Web path benchmark: the overhead of a generate call, and time to interactive (issue 3).

Two servers run as subprocesses on free 127.0.0.1 ports, each with uvicorn:

* ``ours``: the real app (``create_app``) over a TinyDB file in a temp data
  dir, the demo backend, one account; the client sends its session cookie.
* ``bare``: a bare Gradio 6 Blocks mounted on FastAPI, no auth, no
  middleware, one ``generate`` event with the same eight inputs and three
  HTML outputs, returning a payload of the same shape and size (a 512x512
  demo image as a PNG data URL) computed once at start: the floor.

Both are called the same way, ``N`` times each, interleaved:

* ``gradio_client``: ``Client(url, headers={"Cookie": ...}).predict(...)``
  (the queue: join, then server-sent events), as the issue's reference.
  Its reader sleeps 50 ms whenever no message is waiting, so its times
  move in steps of up to 50 ms (most of its ~80 ms floor is the client);
* ``httpx``: ``POST /gradio_api/call/generate`` then ``GET`` its event
  stream, one session hash per client as a browser tab keeps one.

Our overhead = median of our call - median of the backend's own
``generate`` at 512x512, timed inside our server process during the same
calls (``backend@srv``; the same backend timed in this process between the
calls is printed too). The bare app's overhead = its median call (it does
no work). Target: ours / bare <= 1.25. To attribute the difference, the
server also times ``studio.generate`` (charge, backend, PNG encoding), and
the parts of our call (store charge, PNG encoding, header HTML) are timed
here one by one.

Then headless Chromium (Playwright, Debian's ``/usr/bin/chromium``) loads
``/`` with a valid session cookie, several times, each in a fresh context
(cold cache) and then reloading one page (warm cache): the time from
navigation start until the Generate button is enabled and the header shows
the balance (``performance.now()`` when that first holds). Target < 2 s.

    .venv/bin/python benchmarks/bench_web.py            # full run
    .venv/bin/python benchmarks/bench_web.py --quick    # smoke run
    .venv/bin/python benchmarks/bench_web.py --profile-server  # + server cProfile

The module also starts servers for ``bench_load.py`` (``start_server``).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PASSWORD = "correct horse battery"
SECRET = "bench-secret-key-0123456789abcdef0123"
PROMPT = "a lighthouse on a cliff at dawn, watercolour"
SEED = 1234
#: The ``generate`` inputs: prompt, negative, size, steps, guidance, seed, random, count.
INPUTS = [PROMPT, "", "512x512", 1, 0.0, SEED, False, 1]
OVERHEAD_TARGET = 1.25
INTERACTIVE_TARGET_MS = 2000.0


# -- servers (run in a subprocess) ------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demo_payload() -> dict[str, Any]:
    """The dict our ``generate`` returns for INPUTS, built the same way."""
    from aicreative import images
    from aicreative.backends.base import GenerationRequest
    from aicreative.backends.demo import DemoBackend

    request = GenerationRequest(PROMPT, width=512, height=512, steps=1, seed=SEED)
    png = images.encode_png(DemoBackend().generate(request)[0])
    return {
        "kind": "generation",
        "user": "bench000",
        "batch": "0" * 32,
        "created": "2026-01-01T00:00:00Z",
        "prompt": PROMPT,
        "negative_prompt": "",
        "settings": {
            "width": 512,
            "height": 512,
            "steps": 1,
            "guidance": 0.0,
            "num_images": 1,
            "backend": "demo",
        },
        "images": [{"seed": SEED, "data_url": images.data_url(png)}],
        "balance": 999,
    }


def build_bare_app() -> Any:
    """A bare Gradio app: same inputs and outputs as ours, no auth, no work."""
    import gradio as gr
    from fastapi import FastAPI

    payload = _demo_payload()
    status = '<div class="ac-status ac-status-ok">Made 1 image for 1 credit in 0.0 s.</div>'
    header = '<div class="ac-header"><span data-testid="balance"><b>999</b> credits</span></div>'

    def generate(*_args: Any) -> tuple[Any, ...]:
        return payload, status, header

    with gr.Blocks(analytics_enabled=False) as demo:
        prompt = gr.Textbox()
        negative = gr.Textbox()
        size = gr.Dropdown(["512x512"], value="512x512")
        steps = gr.Slider(1, 50, value=1, step=1)
        guidance = gr.Slider(0, 20, value=0, step=0.5)
        seed = gr.Number(value=0, precision=0)
        random_seed = gr.Checkbox(value=True)
        count = gr.Slider(1, 4, value=1, step=1)
        go = gr.Button("Generate", elem_id="generate")
        latest = gr.HTML(value=None, html_template="<div></div>")
        out_status = gr.HTML()
        # Shown from the start (ours fills it from the session load event).
        out_header = gr.HTML(header, elem_id="ac-header")
        go.click(
            generate,
            [prompt, negative, size, steps, guidance, seed, random_seed, count],
            [latest, out_status, out_header],
            api_name="generate",
            concurrency_limit=4,
        )
    return gr.mount_gradio_app(FastAPI(), demo, path="/", ssr_mode=False)


def build_our_app(
    data_dir: Path,
    accounts: int,
    credits: int,
    store_size: int = 0,
    timings: dict[str, list[float]] | None = None,
) -> tuple[Any, dict[str, str]]:
    """The real app over a file store; ``accounts`` users, session tokens minted.

    With ``store_size`` the store file first gets that many other accounts
    (written directly as TinyDB JSON, as ``bench_store`` does). With
    ``timings`` the server records how long (ms) each ``backend.generate``
    and each ``studio.generate`` took, in call order.
    """
    from aicreative import Settings, Studio
    from aicreative.accounts import PasswordHasher
    from aicreative.backends.demo import DemoBackend
    from aicreative.mail import MemoryMailer
    from aicreative.store import AccountStore
    from aicreative.web.app import create_app

    settings = Settings(
        data_dir=data_dir, secret_key=SECRET, backend="demo", signup_credits=credits
    )
    settings.ensure_data_dir()
    if store_size:
        from bench_store import write_file

        write_file(settings.store_path, store_size)
    studio = Studio(
        AccountStore.open(settings.store_path),
        DemoBackend(),
        settings=settings,
        hasher=PasswordHasher.fast(),  # sign-up cost is not what is measured
        mailer=MemoryMailer(),
        secret_key=SECRET,
    )
    tokens = {}
    for i in range(accounts):
        name = f"bench{i:03d}"
        studio.signup(name, f"{name}@example.org", PASSWORD)
        tokens[name] = studio.login(name, PASSWORD)
    if timings is not None:
        # Instance attributes shadow the methods; the app calls them as usual.
        studio.backend.generate = _timed(studio.backend.generate, timings["backend"])  # type: ignore[method-assign]
        studio.generate = _timed(studio.generate, timings["studio"])  # type: ignore[method-assign]
    return create_app(studio, settings), tokens


def _timed(fn: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append((time.perf_counter() - start) * 1000)

    return timed


def serve_main(
    kind: str,
    accounts: int,
    credits: int,
    profile: str | None,
    store_size: int = 0,
    timings_out: str | None = None,
) -> None:
    """Subprocess entry: build, print one JSON line (url, tokens), serve until SIGTERM."""
    import logging

    import uvicorn

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        if kind == "ours":
            timings: dict[str, list[float]] | None = (
                {"backend": [], "studio": []} if timings_out else None
            )
            app, tokens = build_our_app(Path(tmp) / "data", accounts, credits, store_size, timings)
        else:
            app, tokens = build_bare_app(), {}
        port = _free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
        server = uvicorn.Server(config)
        signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
        threading.Thread(
            target=_announce, args=(server, f"http://127.0.0.1:{port}", tokens), daemon=True
        ).start()
        profiler = _ThreadsProfiler() if profile else None
        if profiler:
            profiler.start()
        server.run()
        if profiler and profile:
            profiler.stop(profile)
        if kind == "ours" and timings_out:
            Path(timings_out).write_text(json.dumps(timings))


def _announce(server: Any, url: str, tokens: dict[str, str]) -> None:
    while not server.started:
        time.sleep(0.01)
    print(json.dumps({"url": url, "tokens": tokens}), flush=True)


class _ThreadsProfiler:
    """cProfile in every thread (uvicorn's loop and Gradio's worker threads)."""

    def __init__(self) -> None:
        self._profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.setprofile(self._hook_for_new_threads)
        main = cProfile.Profile()
        self._profiles.append(main)
        main.enable()

    def _hook_for_new_threads(self, frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)
        profiler = cProfile.Profile()
        with self._lock:
            self._profiles.append(profiler)
        profiler.enable()

    def stop(self, path: str) -> None:
        for profiler in self._profiles:
            with contextlib.suppress(Exception):
                profiler.disable()
        stats = None
        for profiler in self._profiles:
            with contextlib.suppress(TypeError, ValueError):
                if stats is None:
                    stats = pstats.Stats(profiler)
                else:
                    stats.add(profiler)
        if stats is not None:
            stats.dump_stats(path)


@contextlib.contextmanager
def start_server(
    kind: str,
    *,
    accounts: int = 1,
    credits: int = 1_000_000,
    profile: str | None = None,
    store_size: int = 0,
    timings_out: str | None = None,
) -> Iterator[tuple[str, dict[str, str]]]:
    """Run ``ours`` or ``bare`` in a subprocess; yields (url, {username: session token}).

    With ``timings_out`` our server writes its backend and studio timings
    there (JSON) when it stops.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", kind]
    command += ["--accounts", str(accounts), "--credits", str(credits)]
    if profile:
        command += ["--profile-out", profile]
    if store_size:
        command += ["--store-accounts", str(store_size)]
    if timings_out:
        command += ["--timings-out", timings_out]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {kind} server did not start (exit {proc.wait()})")
        info = json.loads(line)
        yield info["url"], info["tokens"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- measuring ------------------------------------------------------------------


def median_ms(fn: Callable[[], Any], n: int, warmup: int = 3) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), times


@contextlib.contextmanager
def local_studio(store_size: int = 0) -> Iterator[Any]:
    """A Studio in this process like the server's: file store, demo backend, user bench000."""
    from aicreative import Settings, Studio
    from aicreative.accounts import PasswordHasher
    from aicreative.backends.demo import DemoBackend
    from aicreative.mail import MemoryMailer
    from aicreative.store import AccountStore

    with tempfile.TemporaryDirectory(prefix="bench-web-local-") as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key=SECRET, backend="demo")
        if store_size:
            from bench_store import write_file

            write_file(Path(tmp) / "accounts.json", store_size)
        studio = Studio(
            AccountStore.open(Path(tmp) / "accounts.json"),
            DemoBackend(),
            settings=settings,
            hasher=PasswordHasher.fast(),
            mailer=MemoryMailer(),
            secret_key=SECRET,
        )
        studio.signup("bench000", "bench000@example.org", PASSWORD)
        studio.grant("bench000", 1_000_000)
        try:
            yield studio
        finally:
            studio.store.close()


def in_process_parts(studio: Any, n: int) -> dict[str, float]:
    """Medians (ms) of the work our generate event does, outside any server."""
    from aicreative import images
    from aicreative.backends.base import GenerationRequest
    from aicreative.web.ui import header_html

    request = GenerationRequest(PROMPT, width=512, height=512, steps=1, seed=SEED)
    backend = studio.backend
    token = studio.login("bench000", PASSWORD)
    parts: dict[str, float] = {}
    parts["backend"], _ = median_ms(lambda: backend.generate(request), n)
    picture = backend.generate(request)[0]
    parts["png+data url"], _ = median_ms(lambda: images.data_url(images.encode_png(picture)), n)
    parts["store charge"], _ = median_ms(lambda: studio.store.charge("bench000", 1), n)
    parts["studio.generate"], _ = median_ms(lambda: studio.generate("bench000", request), n)
    parts["user_from_session"], _ = median_ms(lambda: studio.user_from_session(token), n)
    parts["header_html"], _ = median_ms(lambda: header_html(studio, "bench000", "csrf"), n)
    parts["record_use"], _ = median_ms(lambda: studio.record_use("bench000"), n)
    return parts


class Caller:
    """One way of calling ``generate`` on one server.

    ``gradio_client``: ``Client.predict`` (queue/join, then the session's
    event stream). Its reader polls for messages with ``time.sleep(0.05)``
    (``gradio_client/utils.py``, ``stream_sse_v1plus``), so its times move
    in steps of up to 50 ms: a floor of the client, not of the server.

    ``httpx``: ``POST /gradio_api/call/generate`` then ``GET`` its event
    stream, with one session hash per caller, as a browser tab keeps one
    (without it Gradio builds a new session state, one config per block,
    on every call).
    """

    def __init__(self, method: str, url: str, token: str | None) -> None:
        from aicreative.web.security import COOKIE_NAME

        self.method = method
        cookie = {"Cookie": f"{COOKIE_NAME}={token}"} if token else {}
        self.session_hash = secrets.token_hex(6)
        if method == "gradio_client":
            from gradio_client import Client

            self._client: Any = Client(
                url,
                headers=cookie,
                verbose=False,
                download_files=False,
                analytics_enabled=False,
            )
        else:
            import httpx

            self._client = httpx.Client(base_url=url, headers=cookie, timeout=60)

    def __call__(self) -> dict[str, Any]:
        if self.method == "gradio_client":
            payload, _status, _header = self._client.predict(*INPUTS, api_name="/generate")
        else:
            from tests.fixtures_server import parse_sse

            body = {"data": INPUTS, "session_hash": self.session_hash}
            submitted = self._client.post("/gradio_api/call/generate", json=body)
            submitted.raise_for_status()
            event_id = submitted.json()["event_id"]
            streamed = self._client.get(f"/gradio_api/call/generate/{event_id}")
            final = [e for e in parse_sse(streamed.text) if e.event in ("complete", "error")]
            assert final and final[-1].event == "complete", streamed.text[:300]
            payload = final[-1].data[0]
        assert payload and payload["images"][0]["data_url"].startswith("data:image/png"), payload
        return payload

    def close(self) -> None:
        self._client.close()


def bench_calls(
    methods: list[str],
    n: int,
    urls: dict[str, tuple[str, str | None]],
    local: dict[str, Callable[[], Any]],
) -> dict[tuple[str, str], list[float]]:
    """Per-call ms of each (method, server), interleaved between servers.

    Each round also times the ``local`` functions (the backend's own
    ``generate``, ``studio.generate``) here, in this process, so that they
    see the same conditions as the calls they are compared with.
    """
    results: dict[tuple[str, str], list[float]] = {}
    for method in methods:
        callers = {kind: Caller(method, url, token) for kind, (url, token) in urls.items()}
        timed: dict[str, Callable[[], Any]] = {**callers, **local}
        try:
            for fn in timed.values():
                for _ in range(5):
                    fn()
            for kind in timed:
                results[(method, kind)] = []
            for _ in range(n):
                for kind, fn in timed.items():
                    start = time.perf_counter()
                    fn()
                    results[(method, kind)].append((time.perf_counter() - start) * 1000)
        finally:
            for caller in callers.values():
                caller.close()
    return results


#: Installed before any page script: records when each condition first holds.
MILESTONES_JS = """
window.__ac = {};
(function tick() {
  const now = performance.now();
  const button = document.querySelector('#generate');
  const balance = document.querySelector('#ac-header [data-testid="balance"] b');
  if (!window.__ac.button && button && !button.disabled && button.offsetParent !== null)
    window.__ac.button = now;
  if (!window.__ac.balance && balance && /^\\d+$/.test(balance.textContent.trim()))
    window.__ac.balance = now;
  if (!(window.__ac.button && window.__ac.balance)) requestAnimationFrame(tick);
})();
"""
READY_JS = "() => window.__ac && window.__ac.button && window.__ac.balance"
FACTS_JS = r"""() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  // The session load event: queue/join (or run/predict without the queue).
  const join = res.find(e => /\/gradio_api\/(queue\/join|run\/)/.test(e.name));
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  return {
    ready: Math.max(window.__ac.button, window.__ac.balance),
    button: window.__ac.button, balance: window.__ac.balance,
    html: nav.responseEnd, dcl: nav.domContentLoadedEventEnd,
    fcp: paint ? paint.startTime : null,
    session_start: join ? join.startTime : null,
    requests: res.length,
    kb: Math.round((nav.transferSize + res.reduce((a, e) => a + e.transferSize, 0)) / 1024),
  };
}"""


def bench_browser(url: str, token: str | None, loads: int) -> dict[str, list[dict[str, float]]]:
    """Milestones (ms from navigation start) of ``loads`` cold and warm page loads.

    Cold: a fresh browser context (empty cache) each time. Warm: reloads of
    one page. A first, uncounted load warms the server.
    """
    from playwright.sync_api import sync_playwright

    from aicreative.web.security import COOKIE_NAME

    # Launched exactly as the browser tests launch it (DESIGN.md's flags).
    from tests.fixtures_browser import CHROMIUM, CHROMIUM_ARGS

    out: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}

    def measure(page: Any, reload: bool) -> dict[str, float]:
        if reload:
            page.reload(wait_until="commit")
        else:
            page.goto(url + "/", wait_until="commit")
        page.wait_for_function(READY_JS, timeout=60_000)
        return page.evaluate(FACTS_JS)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for i in range(loads + 1):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                if token:
                    context.add_cookies(
                        [{"name": COOKIE_NAME, "value": token, "url": url, "httpOnly": True}]
                    )
                context.add_init_script(MILESTONES_JS)
                page = context.new_page()
                facts = measure(page, reload=False)
                if i:
                    out["cold"].append(facts)
                if i == loads:
                    out["warm"] = [measure(page, reload=True) for _ in range(loads)]
                context.close()
        finally:
            browser.close()
    return out


def print_browser(name: str, runs: dict[str, list[dict[str, float]]], target: bool) -> None:
    for kind, facts in runs.items():
        ready = [f["ready"] for f in facts]
        med = statistics.median(ready)
        verdict = ("PASS" if med < INTERACTIVE_TARGET_MS else "MISS") if target else "(floor)"

        def m(key: str, facts: list[dict[str, float]] = facts) -> str:
            values = [f[key] for f in facts if f.get(key) is not None]
            return f"{statistics.median(values):6.0f}" if values else "     -"

        print(
            f"  {name:<4} {kind:<5} {med:7.0f} {min(ready):6.0f} {max(ready):6.0f} | "
            f"{m('html')} {m('dcl')} {m('fcp')} {m('button')} {m('balance')} "
            f"{m('session_start')} | {m('requests')} {m('kb')}  {verdict}"
        )


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", "--calls", type=int, default=60, help="timed calls per server")
    parser.add_argument("--loads", type=int, default=7, help="browser loads (cold and warm)")
    parser.add_argument(
        "--methods",
        default="gradio_client,httpx",
        help="client methods, comma separated: gradio_client, httpx",
    )
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium part")
    parser.add_argument(
        "--profile-server",
        action="store_true",
        help="also run our server under cProfile for the calls and print its top functions",
    )
    parser.add_argument(
        "--store-accounts",
        type=int,
        default=0,
        help="fill our store with this many other accounts first (default: only ours)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: few calls and loads")
    # Internal: the server subprocess.
    parser.add_argument("--serve", choices=["ours", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--accounts", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--credits", type=int, default=1_000_000, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--timings-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_main(
            args.serve,
            args.accounts,
            args.credits,
            args.profile_out,
            args.store_accounts,
            args.timings_out,
        )
        return 0
    calls = 8 if args.quick else args.calls
    loads = 2 if args.quick else args.loads
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    load = os.getloadavg()
    print(
        f"# web benchmark · {time.strftime('%Y-%m-%d %H:%M:%S %Z')} · {os.cpu_count()} cores · "
        f"load average {load[0]:.2f} at start"
    )
    from aicreative.backends.base import GenerationRequest

    request = GenerationRequest(PROMPT, width=512, height=512, steps=1, seed=SEED)
    pages: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        timings_file = Path(tmp) / "timings.json"
        with (
            local_studio(args.store_accounts) as studio,
            start_server("ours", store_size=args.store_accounts, timings_out=str(timings_file)) as (
                ours_url,
                tokens,
            ),
            start_server("bare") as (bare_url, _),
        ):
            parts = in_process_parts(studio, max(10, calls // 2))
            token = next(iter(tokens.values()))
            local = {"backend": lambda: studio.backend.generate(request)}
            urls = {"ours": (ours_url, token), "bare": (bare_url, None)}
            results = bench_calls(methods, calls, urls, local)
            if not args.no_browser:
                pages["ours"] = bench_browser(ours_url, token, loads)
                pages["bare"] = bench_browser(bare_url, None, loads)
        # Our server's own timings, call by call: per method 5 warm-ups, then the calls.
        inside = json.loads(timings_file.read_text())
    for i, method in enumerate(methods):
        first = i * (5 + calls) + 5
        for key in ("backend", "studio"):
            results[(method, f"{key}@srv")] = inside[key][first : first + calls]

    print(
        "\nin-process parts of our generate (median ms, 512x512 demo, file store of "
        f"{args.store_accounts + 1} account(s)):"
    )
    for name, value in parts.items():
        print(f"  {name:<18} {value:8.2f}")
    if args.store_accounts:
        print(f"# our server's store holds {args.store_accounts} other accounts")

    print(f"\ngenerate through the server ({calls} calls each, interleaved; ms):")
    print(
        f"  {'method':<14} {'timed':<11} {'median':>8} {'p95':>8} {'overhead':>9}   "
        "(ours: median - backend@srv median; bare: median)"
    )
    kinds = ("ours", "bare", "backend", "backend@srv", "studio@srv")
    for method in methods:
        med = {k: statistics.median(results[(method, k)]) for k in kinds}
        overheads = {"ours": med["ours"] - med["backend@srv"], "bare": med["bare"]}
        for kind in kinds:
            times = results[(method, kind)]
            shown = f"{overheads[kind]:9.1f}" if kind in overheads else ""
            print(f"  {method:<14} {kind:<11} {med[kind]:8.1f} {_p(times, 0.95):8.1f} {shown}")
        ratio = overheads["ours"] / overheads["bare"]
        verdict = "PASS" if ratio <= OVERHEAD_TARGET else "MISS"
        extra = overheads["ours"] - overheads["bare"]
        studio_extra = med["studio@srv"] - med["backend@srv"]
        web_ratio = (med["ours"] - med["studio@srv"]) / med["bare"]
        print(
            f"  {method:<14} ours/bare overhead ratio {ratio:.2f}x "
            f"(target <= {OVERHEAD_TARGET}x)  {verdict}\n"
            f"  {'':<14} ours - bare = {extra:.1f} ms: studio work beyond the backend in the "
            f"server (charge, PNG) {studio_extra:.1f}, web layers {extra - studio_extra:.1f}\n"
            f"  {'':<14} web layers only, (ours - studio@srv) / bare: {web_ratio:.2f}x"
        )
    print(
        "  (backend@srv, studio@srv: backend.generate and studio.generate timed inside our "
        "server during these calls; backend: DemoBackend.generate timed in this process "
        "between the calls, for comparison)"
    )

    if pages:
        print(f"\nheadless Chromium, time to an interactive Create tab ({loads} loads; ms):")
        print(
            f"  {'app':<4} {'cache':<5} {'median':>7} {'min':>6} {'max':>6} | "
            f"{'html':>6} {'dcl':>6} {'fcp':>6} {'button':>6} {'balnce':>6} "
            f"{'sess>':>6} | {'reqs':>6} {'KB':>6}"
        )
        print_browser("ours", pages["ours"], target=True)
        print_browser("bare", pages["bare"], target=False)
        print(
            "  (ms from navigation start, medians: html = page received, dcl = "
            "DOMContentLoaded, fcp = first paint, button = Generate enabled, balnce = "
            "balance in the header, sess> = the session load event sent (queue/join); "
            f"reqs, KB = requests and bytes loaded; target < {INTERACTIVE_TARGET_MS:.0f} ms)"
        )

    if args.profile_server:
        with tempfile.TemporaryDirectory(prefix="bench-web-prof-") as tmp:
            out = str(Path(tmp) / "server.prof")
            with start_server("ours", profile=out, store_size=args.store_accounts) as (
                url,
                tokens,
            ):
                caller = Caller("httpx", url, next(iter(tokens.values())))
                for _ in range(calls):
                    caller()
                caller.close()
            text = io.StringIO()
            stats = pstats.Stats(out, stream=text)
            stats.sort_stats("cumulative").print_stats(
                r"aicreative|starlette|gradio/(route|queue|block|helpers|processing)", 40
            )
            print(f"\nour server under cProfile, {calls} httpx calls (cumulative, filtered):")
            print(text.getvalue())
    load = os.getloadavg()
    print(f"# load average {load[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
