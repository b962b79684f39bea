"""CPU backends, timed side by side: plain diffusers, diffusers + TAESD, OpenVINO + TAESD.

Prints figures; it is not a test. Nothing is downloaded: the script builds
the full sd-turbo architecture (866M-parameter UNet, OpenCLIP ViT-H text
encoder, SD 2.x VAE, TAESD) with random weights from the configs written
below, saves it to a work folder, and loads it through ``from_pretrained``
like a real model. Random weights cost the same time as trained ones.

Each variant runs in its own worker process, loaded once, warmed up once,
and then timed in interleaved rounds (the order rotates each round), so that
load changes on the machine hit every variant alike and memory figures do not
mix. Peak memory is each worker's ``VmHWM`` (peak resident set) read from
``/proc/<pid>/status`` just before it exits. The OpenVINO export (a one-time
conversion, cached in the data dir) runs first in its own process and is
reported apart.

    python benchmarks/bench_cpu_backends.py               # full size, ~10-20 min on 2 cores
    python benchmarks/bench_cpu_backends.py --quick       # tiny pipeline, a smoke run
    python benchmarks/bench_cpu_backends.py --workdir /tmp/bench --runs 5
    python benchmarks/bench_cpu_backends.py --reload   # one model in memory at a time
    python benchmarks/bench_cpu_backends.py --arch sdxs  # a one-step small model (SDXS-512)

``--workdir`` keeps the built model and the OpenVINO cache for the next run.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARK = "BENCH "
PROMPT = "a lighthouse on a cliff at dawn, oil painting"

VARIANTS = {
    "plain": "plain diffusers fp32, full VAE",
    "diffusers-taesd": "diffusers backend fp32 + TAESD",
    "openvino-taesd": "OpenVINO backend + TAESD (OpenVINO's CPU precision)",
    "openvino-taesd-f32": "OpenVINO backend + TAESD, forced fp32",
    "openvino-taesd-int8": "OpenVINO backend + TAESD, INT8 UNet (AICREATIVE_CPU_PRECISION=int8)",
    "auto": "what the app picks here (calibrated once, cached in the data dir)",
}
DEFAULT_VARIANTS = "plain,diffusers-taesd,openvino-taesd,openvino-taesd-f32,auto"

# stabilityai/sd-turbo's configs (unet/, vae/, text_encoder/ config.json),
# written out because nothing can be downloaded here.
SD_TURBO_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "center_input_sample": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "up_block_types": [
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ],
    "only_cross_attention": False,
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "cross_attention_dim": 1024,
    "attention_head_dim": [5, 10, 20, 20],
    "dual_cross_attention": False,
    "use_linear_projection": True,
    "upcast_attention": False,
    "num_class_embeds": None,
}
# The SDXS-512 family's UNet (IDKiro/sdxs-512-0.9): SD 2.1-base's, with blocks
# removed by distillation. Its config cannot be downloaded here; this is the
# topology its public descriptions give (three levels, one ResNet and one
# cross-attention transformer per level, no middle block, 8 heads), with SD
# 2.1's OpenCLIP ViT-H text width: 327M parameters against sd-turbo's 866M.
# It ships its own tiny decoder (an AutoencoderTiny) as the pipeline's VAE.
SDXS_512_UNET: dict[str, Any] = {
    **SD_TURBO_UNET,
    "down_block_types": ["CrossAttnDownBlock2D"] * 3,
    "up_block_types": ["CrossAttnUpBlock2D"] * 3,
    "mid_block_type": None,
    "block_out_channels": [320, 640, 1280],
    "layers_per_block": 1,
    "attention_head_dim": 8,
}
ARCHS = {
    "sd-turbo": "full sd-turbo architecture",
    "sdxs": "SDXS-512 architecture (327M UNet, its own tiny decoder)",
}
SD2_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 768,
    "scaling_factor": 0.18215,
}
# OpenCLIP ViT-H/14's text tower, as sd-turbo ships it (penultimate layer: 23).
OPENCLIP_VIT_H_TEXT: dict[str, Any] = {
    "vocab_size": 49408,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "max_position_embeddings": 77,
    "hidden_act": "gelu",
    "projection_dim": 512,
    "layer_norm_eps": 1e-5,
}
SD_TURBO_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "timestep_spacing": "trailing",
    "steps_offset": 1,
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Building the model (no download).
# --------------------------------------------------------------------------


def build_full(folder: Path, arch: str = "sd-turbo") -> tuple[Path, Path]:
    """Save an sd-turbo- or SDXS-shaped pipeline and a default TAESD, random weights."""
    import torch
    from diffusers import (
        AutoencoderKL,
        AutoencoderTiny,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    sys.path.insert(0, str(ROOT))
    from tests.tiny_pipeline import _write_tokenizer_files

    torch.manual_seed(0)
    if arch == "sdxs":
        unet = UNet2DConditionModel(**SDXS_512_UNET)
        vae: Any = AutoencoderTiny()  # its own decoder: TAESD's architecture
    else:
        unet = UNet2DConditionModel(**SD_TURBO_UNET)
        vae = AutoencoderKL(**SD2_VAE)
    # A byte-level vocabulary (514 tokens) as the tests write it; the model's
    # embedding keeps sd-turbo's 49408 rows, so its size and cost are real.
    _write_tokenizer_files(folder / "tokenizer-files")
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer-files", model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            **OPENCLIP_VIT_H_TEXT,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler(**SD_TURBO_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    # (mypy sees diffusers' lazy-import placeholders, not the real mixins.)
    name = f"{arch}-random"
    pipe.save_pretrained(folder / name, safe_serialization=True)  # type: ignore[attr-defined]
    torch.manual_seed(1)
    taesd = AutoencoderTiny()
    taesd.save_pretrained(folder / "taesd-random", safe_serialization=True)  # type: ignore[attr-defined]
    return folder / name, folder / "taesd-random"


def build_tiny(folder: Path) -> tuple[Path, Path]:
    sys.path.insert(0, str(ROOT))
    from tests.tiny_pipeline import build_tiny_pipeline, build_tiny_taesd

    return build_tiny_pipeline(folder / "tiny-pipeline"), build_tiny_taesd(folder / "tiny-taesd")


def ensure_model(workdir: Path, quick: bool, arch: str = "sd-turbo") -> tuple[Path, Path]:
    done = workdir / ("tiny.built" if quick else f"{arch}.built")
    if done.exists():
        paths = json.loads(done.read_text())
        return Path(paths[0]), Path(paths[1])
    log(f"building the {'tiny' if quick else arch} architecture in {workdir}")
    started = time.perf_counter()
    paths = build_tiny(workdir) if quick else build_full(workdir, arch)
    done.write_text(json.dumps([str(p) for p in paths]))
    log(f"built in {time.perf_counter() - started:.0f} s")
    return paths


# --------------------------------------------------------------------------
# Workers: one process per variant.
# --------------------------------------------------------------------------


def _settings(args: argparse.Namespace, tiny: str) -> Any:
    sys.path.insert(0, str(ROOT))
    from aicreative.config import Settings

    return Settings(
        data_dir=Path(args.data_dir),
        model_id=args.model,
        taesd_id=args.taesd,
        tiny_autoencoder=tiny,
        device="cpu",
        backend="auto",
    )


def load_variant(args: argparse.Namespace) -> Any:
    """A function ``run(seed)`` that makes one image with this variant."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.path.insert(0, str(ROOT))
    from aicreative.backends import GenerationRequest

    variant = args.worker

    def request(seed: int) -> GenerationRequest:
        return GenerationRequest(
            PROMPT, width=args.size, height=args.size, steps=args.steps, seed=seed
        )

    if variant == "plain":
        import torch
        from diffusers import AutoPipelineForText2Image

        pipe = AutoPipelineForText2Image.from_pretrained(args.model, dtype=torch.float32)
        pipe.set_progress_bar_config(disable=True)

        def run_plain(seed: int) -> Any:
            with torch.inference_mode():
                return pipe(
                    PROMPT,
                    width=args.size,
                    height=args.size,
                    num_inference_steps=args.steps,
                    guidance_scale=0.0,
                    generator=torch.Generator("cpu").manual_seed(seed),
                ).images[0]

        return run_plain
    if variant == "diffusers-taesd":
        from aicreative.backends.diffusers_backend import DiffusersBackend

        diffusers_backend = DiffusersBackend(_settings(args, "on"))
        assert diffusers_backend.uses_tiny_autoencoder
        return lambda seed: diffusers_backend.generate(request(seed))[0]
    if variant in ("openvino-taesd", "openvino-taesd-f32", "openvino-taesd-int8"):
        from aicreative.backends.openvino_backend import OpenVINOBackend

        precision = "f32" if variant.endswith("f32") else None
        # The INT8 export (quantized once, in its own process) is made on the
        # first visit: its load time is the first start's.
        ov_backend = OpenVINOBackend(
            _settings(args, "on"), inference_precision=precision, int8=variant.endswith("int8")
        )
        assert ov_backend.uses_tiny_autoencoder
        assert variant.endswith("int8") or not ov_backend.exported
        print(MARK + json.dumps({"label": ov_backend.label}), flush=True)
        return lambda seed: ov_backend.generate(request(seed))[0]
    if variant == "auto":
        # What the app itself picks on this machine: calibration (measured once,
        # cached in the data dir, so a second benchmark run reads the decision).
        from aicreative.backends import create_backend

        choice = create_backend(_settings(args, "on"))
        print(MARK + json.dumps({"label": choice.backend.label}), flush=True)
        log(f"auto: {choice.reason}")
        return lambda seed: choice.backend.generate(request(seed))[0]
    raise SystemExit(f"unknown variant {variant}")


def worker(args: argparse.Namespace) -> None:
    """Load, warm up, then answer ``run``/``quit`` lines on stdin."""
    started = time.perf_counter()
    run = load_variant(args)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    image = run(0)
    warm = time.perf_counter() - started
    # The warm-up image (seed 0) goes to the parent, in memory, for the PSNR
    # column: every variant draws the same latents for the same seed.
    png = io.BytesIO()
    image.save(png, format="PNG")
    image_b64 = base64.b64encode(png.getvalue()).decode("ascii")
    print(
        MARK + json.dumps({"ready": True, "load_s": loaded, "warmup_s": warm, "image": image_b64}),
        flush=True,
    )
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        seed = int(line)
        started = time.perf_counter()
        run(seed)
        print(MARK + json.dumps({"seconds": time.perf_counter() - started}), flush=True)


def export_worker(args: argparse.Namespace) -> None:
    """Write the OpenVINO cache (in the backend's own child process) and time it."""
    import resource

    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.path.insert(0, str(ROOT))
    from aicreative.backends.openvino_cache import ensure_export

    started = time.perf_counter()
    folder, exported = ensure_export(_settings(args, "on"), "taesd")
    seconds = time.perf_counter() - started
    # The conversion ran in a grandchild that this process waited for.
    child_peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(
        MARK
        + json.dumps(
            {
                "exported": exported,
                "seconds": seconds,
                "peak_gb": child_peak_kb / 1e6 if exported else None,
                "size_gb": size / 1e9,
                "folder": folder.name,
            }
        ),
        flush=True,
    )


class Worker:
    def __init__(self, variant: str, args: argparse.Namespace) -> None:
        self.variant = variant
        cmd = [sys.executable, __file__, "--worker", variant, *self._common(args)]
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        self.info: dict[str, Any] = {}

    @staticmethod
    def _common(args: argparse.Namespace) -> list[str]:
        return [
            "--model",
            args.model,
            "--taesd",
            args.taesd,
            "--data-dir",
            args.data_dir,
            "--size",
            str(args.size),
            "--steps",
            str(args.steps),
        ]

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                message: dict[str, Any] = json.loads(line[len(MARK) :])
                if "label" in message:
                    self.info["label"] = message["label"]
                    continue
                return message
        raise RuntimeError(f"worker {self.variant} ended (exit {self.proc.wait()})")

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def peak_gb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e6  # kB -> GB
        return float("nan")

    def close(self) -> float:
        peak = self.peak_gb()
        self.send("quit")
        self.proc.wait(timeout=120)
        return peak


def psnr(image: Any, reference: Any) -> float:
    """PSNR in dB of 8-bit pixel values (0-255) against a reference (inf when identical)."""
    import numpy as np

    mse = float(np.mean((np.asarray(image, np.float64) - np.asarray(reference, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def image_psnr(png: bytes, reference_png: bytes) -> float:
    """:func:`psnr` of two PNG images as RGB (nan when their sizes differ)."""
    from PIL import Image

    a, b = (Image.open(io.BytesIO(data)).convert("RGB") for data in (png, reference_png))
    return psnr(a, b) if a.size == b.size else float("nan")


def machine() -> str:
    model = "unknown CPU"
    flags: set[str] = set()
    # Family and model tell apart CPUs that share a model name ("AMD EPYC" is
    # a Zen 4 at family 25 and a Zen 5 at family 26 on these VMs).
    ids: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            key = line.split(":", 1)[0].strip()
            if key in ("cpu family", "model") and key not in ids:
                ids[key] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    if ids:
        model += f" (family {ids.get('cpu family', '?')}, model {ids.get('model', '?')})"
    simd = [
        f
        for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16")
        if f in flags
    ]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{model}, {os.cpu_count()} CPUs ({', '.join(simd) or 'no AVX2'}), {memory:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def versions(names: tuple[str, ...] = ("torch", "diffusers", "transformers", "openvino")) -> str:
    """``name version`` of each package, or ``name missing``."""
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in names:
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} missing")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per variant (default 3)")
    parser.add_argument(
        "--size", type=int, default=None, help="image side (default 512; 256 quick)"
    )
    parser.add_argument("--steps", type=int, default=1, help="denoising steps (default 1)")
    parser.add_argument("--quick", action="store_true", help="tiny random pipeline: a smoke run")
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHS),
        default="sd-turbo",
        help="the model built with random weights (default sd-turbo; sdxs: the SDXS-512 family, "
        "one step, its own tiny decoder)",
    )
    parser.add_argument("--workdir", help="keep the model and the OpenVINO cache here")
    parser.add_argument(
        "--variants",
        default=DEFAULT_VARIANTS,
        help=f"comma-separated, first is the baseline (default {DEFAULT_VARIANTS}; "
        f"all: {','.join(VARIANTS)})",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        help="start each variant afresh for every timed run (one model resident at a time; "
        "for machines that cannot hold every variant at once)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--export", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--taesd", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.size is None:
        args.size = 256 if args.quick else 512
    if args.worker:
        worker(args)
        return
    if args.export:
        export_worker(args)
        return

    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants: {', '.join(unknown)}")
    temp = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        temp = tempfile.mkdtemp(prefix="bench-cpu-")
        workdir = Path(temp)
    try:
        run_benchmark(args, workdir, variants)
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)


def run_benchmark(args: argparse.Namespace, workdir: Path, variants: list[str]) -> None:
    model, taesd = ensure_model(workdir, args.quick, args.arch)
    args.model, args.taesd = str(model), str(taesd)
    args.data_dir = str(workdir / "data")
    load_before = os.getloadavg()

    export: dict[str, Any] = {}
    if any(v.startswith("openvino") for v in variants):
        log("OpenVINO export (once; cached in the data dir)")
        proc = subprocess.run(  # noqa: S603
            [sys.executable, __file__, "--export", *Worker._common(args)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            check=True,
        )
        export = next(
            json.loads(line[len(MARK) :])
            for line in proc.stdout.splitlines()
            if line.startswith(MARK)
        )
        log(f"export: {export}")

    times: dict[str, list[float]] = {v: [] for v in variants}
    loads: dict[str, list[float]] = {v: [] for v in variants}
    labels: dict[str, str] = {}
    peaks: dict[str, float] = dict.fromkeys(variants, 0.0)
    images: dict[str, bytes] = {}  # each variant's first warm-up image (seed 0), PNG
    workers: dict[str, Worker] = {}

    def start(variant: str) -> None:
        workers[variant] = Worker(variant, args)
        ready = workers[variant].read()
        images.setdefault(variant, base64.b64decode(ready.pop("image")))
        workers[variant].info.update(ready)
        loads[variant].append(ready["load_s"])

    if not args.reload:
        for variant in variants:
            # Loaded one after another, so that loads do not compete for the CPU.
            log(f"loading {variant}")
            start(variant)
            log(f"{variant} ready: {workers[variant].info}")

    for round_index in range(args.runs):
        shift = round_index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            if args.reload:
                # A fresh process each visit: only one model is resident at a time.
                start(variant)
            workers[variant].send(str(round_index + 1))
            seconds = workers[variant].read()["seconds"]
            times[variant].append(seconds)
            log(f"round {round_index + 1}: {variant} {seconds:.2f} s")
            if args.reload:
                labels[variant] = workers[variant].info.get("label", "")
                peaks[variant] = max(peaks[variant], workers.pop(variant).close())
    for variant, held in workers.items():
        labels[variant] = held.info.get("label", "")
        peaks[variant] = held.close()
    load_after = os.getloadavg()

    base = statistics.median(times[variants[0]])
    kind = "tiny random pipeline" if args.quick else f"{ARCHS[args.arch]}, random weights"
    print()
    print(f"CPU backends: {kind}, {args.size}x{args.size}, {args.steps} step(s)")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"machine: {machine()}")
    print(f"versions: {versions()}")
    print(
        f"load average (1/5/15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after: {' '.join(f'{x:.2f}' for x in load_after)}"
    )
    if args.reload:
        print(
            f"median of {args.runs} interleaved rounds; each visit starts a fresh worker "
            "process (load, one warm-up run, one timed run), so one model is resident at a time"
        )
    else:
        print(f"median of {args.runs} interleaved runs after one warm-up run each")
    print(
        "speed-up: ratio of the medians; per round: the median of each round's ratio "
        "(runs of one round are back to back, so a load change on the machine hits "
        "both sides alike); load s: start-up until ready (with --reload: the first "
        "start, then the median of the later ones)"
    )
    reference = next((v for v in ("openvino-taesd-f32", "diffusers-taesd") if v in images), None)
    psnr_db = (
        {v: image_psnr(images[v], images[reference]) for v in images if v != "plain"}
        if reference
        else {}
    )
    if reference:
        print(
            f"PSNR: each variant's seed-0 image against {reference}'s (fp32, same latents and "
            "prompt; the full VAE decodes otherwise, so plain is not comparable), dB"
        )
    print()
    print(
        f"| variant | s/image (median) | min-max | speed-up vs {variants[0]} | per round "
        "| load s | peak RSS GB | PSNR dB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for variant in variants:
        median = statistics.median(times[variant])
        per_round = statistics.median(
            b / t for b, t in zip(times[variants[0]], times[variant], strict=True)
        )
        label = VARIANTS[variant]
        if args.arch == "sdxs" and not args.quick:
            # SDXS ships a tiny decoder as its VAE, and every variant keeps it.
            label = label.replace("full VAE", "its own tiny decoder").replace(
                "TAESD", "its decoder"
            )
        if labels.get(variant):
            label += f" [{labels[variant]}]"
        load = f"{loads[variant][0]:.1f}"
        if len(loads[variant]) > 1:
            load += f", then {statistics.median(loads[variant][1:]):.1f}"
        decoded = f"{psnr_db[variant]:.1f}" if variant in psnr_db else "-"
        print(
            f"| {label} | {median:.2f} | {min(times[variant]):.2f}-{max(times[variant]):.2f} "
            f"| {base / median:.2f}x | {per_round:.2f}x | {load} | {peaks[variant]:.2f} "
            f"| {decoded} |"
        )
    if export:
        print()
        if export["exported"]:
            print(
                f"OpenVINO export (one time, in its own process): {export['seconds']:.0f} s, "
                f"peak RSS {export['peak_gb']:.2f} GB, cache {export['size_gb']:.3f} GB "
                f"({export['folder']})"
            )
        else:
            print(
                f"OpenVINO export: reused the cache {export['folder']} ({export['size_gb']:.2f} GB)"
            )


if __name__ == "__main__":
    main()
