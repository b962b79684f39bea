"""Many users, one model: images/s and latency with batching on and off.

Simulates N users (default 1, 8, 32), each sending one-image requests one
after another (a closed loop, as people pressing Generate do), through
``Studio.generate`` with the same scheduler the server uses (not over HTTP:
this measures the queue and the model, not the web layers, which
bench_load.py covers). For each user count it runs with batching off
(max_batch 1: today's one-at-a-time path) and on (max_batch from
``--max-batch`` or the backend's own suggestion), interleaved, and prints
images/s, p50/p95 latency and the ratio on/off, with the machine named.

    python benchmarks/bench_serving.py --smoke             # tiny pipeline, CPU, seconds
    python benchmarks/bench_serving.py --model sd-turbo-random --device cuda \\
        --users 1,8,32 --requests 8 --max-batch 8

On a lent GPU machine, ``benchmarks/gpu_checks.sh`` runs the whole set.

A second measure answers the latency target: a single-image request's p95
when 8 users share the model, over its latency alone (``alone`` lines).
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def machine(device: str) -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    if device.startswith("cuda"):
        import torch

        text += f"; GPU {torch.cuda.get_device_name(0)}"
    return text


def build_backend(args: argparse.Namespace, workdir: Path) -> Any:
    from aicreative.backends import load_backend
    from aicreative.backends.demo import DemoBackend
    from aicreative.config import Settings

    if args.model == "demo":
        backend = DemoBackend()
        backend.parallel = 1  # type: ignore[misc] # one model, one worker, like a GPU
        return backend
    model = args.model
    if model == "tiny":
        from tests.tiny_pipeline import build_tiny_pipeline

        model = str(build_tiny_pipeline(workdir / "tiny-pipeline"))
        os.environ["HF_HUB_OFFLINE"] = "1"
    elif model == "sd-turbo-random":
        # The full sd-turbo architecture with random weights (nothing can be
        # downloaded on the test machines): the same cost as the real model.
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_cpu_backends import build_full

        model = str(build_full(workdir)[0])
        os.environ["HF_HUB_OFFLINE"] = "1"
    settings = Settings(
        data_dir=workdir / "data",
        backend="diffusers",
        model_id=model,
        device=args.device,
        tiny_autoencoder=args.tiny_autoencoder,
    )
    backend = load_backend("diffusers", settings)
    # GPU-path options to measure one by one (issue 17): fp16 is the backend's
    # default on CUDA and SDPA attention is torch 2's default in diffusers.
    if args.channels_last:
        import torch

        backend.pipe.unet.to(memory_format=torch.channels_last)
    if args.compile:
        import torch

        backend.pipe.unet = torch.compile(backend.pipe.unet, mode="max-autotune-no-cudagraphs")
    return backend


def run_users(
    backend: Any, users: int, requests: int, max_batch: int, args: argparse.Namespace
) -> dict[str, float]:
    from aicreative.backends.base import GenerationRequest
    from aicreative.scheduler import Scheduler
    from aicreative.studio import Studio

    studio = Studio.local(backend, signup_credits=10**6)
    studio.scheduler = Scheduler(
        backend, max_batch=max_batch, gather_ms=args.gather_ms, max_waiting=2
    )
    names = [f"user{i:03d}" for i in range(users)]
    for name in names:
        studio.signup(name, f"{name}@example.org", "a long enough password")
    latencies: list[float] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(users + 1)

    def client(name: str, index: int) -> None:
        start_gate.wait()
        for n in range(requests):
            request = GenerationRequest(
                f"benchmark prompt {index} {n}",
                width=args.size,
                height=args.size,
                steps=args.steps,
                seed=index * 1000 + n,
            )
            began = time.perf_counter()
            studio.generate(name, request)
            with lock:
                latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(n, i)) for i, n in enumerate(names)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    studio.scheduler.close()
    spent = sum(10**6 - studio.balance(n) for n in names)
    assert spent == users * requests, (spent, users * requests)  # credits == images
    latencies.sort()
    return {
        "images_per_s": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
        "batches": studio.scheduler.batches_run,
        "images": studio.scheduler.images_run,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default="tiny",
        help="tiny, sd-turbo-random, demo, or a diffusers model id/folder",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tiny-autoencoder", default="off")
    parser.add_argument("--users", default="1,8,32")
    parser.add_argument("--requests", type=int, default=4, help="requests per user")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--max-batch", type=int, default=0, help="0: the backend's suggestion")
    parser.add_argument("--gather-ms", type=float, default=10.0)
    parser.add_argument("--channels-last", action="store_true", help="UNet in channels-last")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the UNet (paid in the warm-up)"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny pipeline, small, quick")
    args = parser.parse_args(argv)
    if args.smoke:
        args.model, args.device, args.users, args.requests = "tiny", "cpu", "1,4", 1
        args.size, args.max_batch = 256, 4
    with tempfile.TemporaryDirectory() as tmp:
        backend = build_backend(args, Path(tmp))
        batch = args.max_batch or int(getattr(backend, "suggested_max_batch", 1))
        batch = max(batch, 1)
        print(f"machine: {machine(args.device)}")
        print(
            f"model: {args.model} on {args.device}, {args.size}x{args.size}, {args.steps} step(s), "
            f"{args.requests} request(s) per user, max batch {batch}, "
            f"gather {args.gather_ms:g} ms, channels-last {args.channels_last}, "
            f"compile {args.compile}; through Studio.generate and its scheduler"
        )
        # Warm-up: the first calls pay lazy set-up (and compilation, per batch size).
        run_users(backend, 1, 1, 1, args)
        if batch > 1:
            run_users(backend, batch, 1, batch, args)
        print("users | batching | images/s | p50 s | p95 s | batches | vs off")
        alone_p50 = None
        for users in [int(u) for u in args.users.split(",")]:
            off = run_users(backend, users, args.requests, 1, args)
            on = run_users(backend, users, args.requests, batch, args)
            if users == 1:
                alone_p50 = off["p50"]
            for label, figures in (("off", off), ("on", on)):
                ratio = figures["images_per_s"] / off["images_per_s"]
                print(
                    f"{users:5d} | {label:8s} | {figures['images_per_s']:8.2f} | "
                    f"{figures['p50']:5.2f} | {figures['p95']:5.2f} | "
                    f"{int(figures['batches']):7d} | {ratio:.2f}x"
                )
            if alone_p50:
                print(
                    f"alone: p95 at {users} users with batching / p50 alone = "
                    f"{on['p95'] / alone_p50:.2f}x"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
