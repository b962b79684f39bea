"""The sd-turbo UNet under OpenVINO on this CPU: batch, precision, INT8 (NNCF), threads/streams.

Prints figures; it is not a test. The UNet is the dominant cost of a 512x512
one-step sd-turbo image (latents 1x4x64x64, text states 1x77x1024, one
timestep), so this script times it alone, under the settings issues 16 and 17
ask about:

* batch (issue 17): fp32 at batch 1, 2 and 4 (static shapes), in s/image,
  and OpenVINO's default precision at batch 1 and 4;
* precision (issue 16): OpenVINO's default (bf16 where the CPU has it) against
  forced fp32 (``INFERENCE_PRECISION_HINT=f32``, the app's ``f32`` setting);
* INT8 with NNCF (issue 16): weight-only (``nncf.compress_weights``,
  ``INT8_ASYM``) and full post-training quantization (``nncf.quantize`` with
  ``ModelType.TRANSFORMER``, i.e. with SmoothQuant on the MatMuls, and bias
  correction off, as OpenVINO's own Stable Diffusion examples do), both
  compiled with fp32 inference precision so that only the INT8 part differs
  from the baseline. Each reports the UNet output's relative error
  ``||a - b|| / ||b||`` against fp32 on the same inputs;
* threads and streams (issue 16): ``INFERENCE_NUM_THREADS`` = all the cores
  this process may use and half of them (read from ``os.sched_getaffinity``),
  and ``PERFORMANCE_HINT`` LATENCY (the app's) against THROUGHPUT with one
  stream and with two streams (two batch-1 requests in flight at once);
* the same questions at the default precision, for CPUs where that is the
  faster one, by name only (``--variants``): ``default-b2``,
  ``int8-ptq-default``, ``default-threads-half``, ``default-tput-2s``.

Nothing is downloaded: the UNet is built with random weights from the configs
in ``bench_cpu_backends.py`` (the full sd-turbo architecture, 866M parameters;
random weights cost the same time as trained ones), converted ONCE with
``openvino.convert_model`` (batch, height and width left free, weights saved
in fp16 as the app saves them) in a child process, so that the torch model's
memory never counts against the timing process. The NNCF variants are made
from that IR, each in its own child process, and cached beside it.

Calibration for the full INT8 quantization: ``--calib`` (default 12) UNet
inputs generated in code: seeded normal latents, timestep 999 (sd-turbo's
one step) and text states that are seeded normal noise for half of them and
zeros (an empty prompt's shape) for the rest. With random weights the prompts
cannot matter, so no text encoder is run. For the same reason the INT8 error
figures here are indicative only: trained weights have other ranges and
outliers. Besides the UNet output's relative error, each variant's first
output is carried through sd-turbo's one Euler step (x0 = x_t - sigma * eps at
t=999) and decoded by a default-sized TAESD (random weights, torch fp32, 8-bit
RGB as the app makes it), and the PSNR of that image against fp32's is given.

Timing: every variant is compiled from the same IR, warmed up once, and timed
in interleaved rounds whose order rotates each round, so that load changes
on this shared machine hit every variant alike; ratios within one run are
what count. Holding every compiled full-size variant at once does not fit in
the memory budget (an fp32 UNet compiled for the CPU holds ~3.5 GB of
weights), so at full size the rounds are rotating passes with reload: each
visit compiles the variant from the IR, runs one untimed warm-up inference,
times one inference, and frees it before the next variant. OpenVINO's model
cache (``CACHE_DIR``) is not used for the reloads: with it, OpenVINO 2026.4.1
gave NaN outputs for the bf16 variant and slower timings for others in a
``--quick`` trial here. ``--hold`` keeps every
variant compiled instead (the default with ``--quick``).

    python benchmarks/bench_openvino_unet.py --quick            # tiny UNet, a smoke run (~30 s)
    python benchmarks/bench_openvino_unet.py --workdir /tmp/ovu # full size (~30 min on 2 cores)
    python benchmarks/bench_openvino_unet.py --variants f32-b1,f32-b4,default-b1 --runs 5
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cpu_backends import SD_TURBO_UNET, log, machine, psnr, versions  # noqa: E402

# The app's import of openvino, with openvino's (and so NNCF's) telemetry off.
from aicreative.backends.openvino_export import ov  # noqa: E402

MARK = "BENCH "
TIMESTEP = 999.0  # sd-turbo's single step

# The tiny UNet of --quick: the sd-turbo config with small widths.
TINY_UNET: dict[str, Any] = {
    **SD_TURBO_UNET,
    "sample_size": 16,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [32, 64],
    "layers_per_block": 1,
    "cross_attention_dim": 64,
    "attention_head_dim": [2, 4],
}


@dataclass
class Variant:
    label: str
    source: str = "fp"  # which IR: fp (the conversion), int8-wo, int8-ptq
    precision: str | None = "f32"  # INFERENCE_PRECISION_HINT; None: OpenVINO's default
    batch: int = 1
    config: dict[str, Any] = field(default_factory=dict)
    in_flight: int = 1  # batch-1 requests run at once (streams)


def variants_for(cores: int) -> dict[str, Variant]:
    half = max(1, cores // 2)
    found: dict[str, Variant] = {
        "f32-b1": Variant("fp32, batch 1, LATENCY (the app's forced-f32 setting)"),
        "f32-b2": Variant("fp32, batch 2", batch=2),
        "f32-b4": Variant("fp32, batch 4", batch=4),
        "default-b1": Variant("OpenVINO default precision, batch 1", precision=None),
        "default-b4": Variant("OpenVINO default precision, batch 4", precision=None, batch=4),
        "int8-wo": Variant("INT8 weight-only (compress_weights INT8_ASYM), fp32 act.", "int8-wo"),
        "int8-ptq": Variant("INT8 full PTQ (quantize, TRANSFORMER/SmoothQuant), fp32", "int8-ptq"),
        "f32-threads-all": Variant(
            f"fp32, INFERENCE_NUM_THREADS={cores} (all)", config={"INFERENCE_NUM_THREADS": cores}
        ),
        "f32-threads-half": Variant(
            f"fp32, INFERENCE_NUM_THREADS={half} (half)", config={"INFERENCE_NUM_THREADS": half}
        ),
        "f32-tput-1s": Variant(
            "fp32, THROUGHPUT, 1 stream",
            config={"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 1},
        ),
        "f32-tput-2s": Variant(
            "fp32, THROUGHPUT, 2 streams, 2 requests in flight",
            config={"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2},
            in_flight=2,
        ),
        # The same questions at OpenVINO's default precision (bf16 where the CPU
        # has it), for CPUs where that is the faster one.
        "default-b2": Variant("OpenVINO default precision, batch 2", precision=None, batch=2),
        "int8-ptq-default": Variant(
            "INT8 full PTQ, OpenVINO default precision elsewhere", "int8-ptq", precision=None
        ),
        "default-threads-half": Variant(
            f"OpenVINO default precision, INFERENCE_NUM_THREADS={half} (half)",
            precision=None,
            config={"INFERENCE_NUM_THREADS": half},
        ),
        "default-tput-2s": Variant(
            "OpenVINO default precision, THROUGHPUT, 2 streams, 2 requests in flight",
            precision=None,
            config={"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2},
            in_flight=2,
        ),
    }
    if cores < 2:  # half of one core is one core; two streams need two
        for name in ("f32-threads-half", "f32-tput-2s", "default-threads-half", "default-tput-2s"):
            del found[name]
    return found


#: What runs without --variants (the others are the same questions at the
#: default precision; name them with --variants).
DEFAULT = (
    "f32-b1,f32-b2,f32-b4,default-b1,default-b4,int8-wo,int8-ptq,"
    "f32-threads-all,f32-threads-half,f32-tput-1s,f32-tput-2s"
).split(",")


def cores() -> int:
    return len(os.sched_getaffinity(0))


def rss_gb(key: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1e6
    return float("nan")


def shapes(quick: bool) -> tuple[int, int, int]:
    """(latent channels, latent side, text dim)."""
    config = TINY_UNET if quick else SD_TURBO_UNET
    return (
        int(config["in_channels"]),
        int(config["sample_size"]),
        int(config["cross_attention_dim"]),
    )


def unet_inputs(quick: bool, batch: int, seed: int, zero_text: bool = False) -> dict[int, Any]:
    import numpy as np

    channels, side, text_dim = shapes(quick)
    rng = np.random.default_rng(seed)
    latents = rng.standard_normal((batch, channels, side, side), dtype=np.float32)
    if zero_text:
        text = np.zeros((batch, 77, text_dim), np.float32)
    else:
        text = rng.standard_normal((batch, 77, text_dim), dtype=np.float32)
    return {0: latents, 1: np.full((batch,), TIMESTEP, np.float32), 2: text}


def batched(quick: bool, seed: int, batch: int) -> dict[int, Any]:
    """``batch`` single-image inputs (seeds ``seed``, ``seed + 1``, ...) stacked."""
    import numpy as np

    parts = [unet_inputs(quick, 1, seed + k) for k in range(batch)]
    return {i: np.concatenate([p[i] for p in parts]) for i in range(3)}


# --------------------------------------------------------------------------
# Child processes: the conversion and the NNCF variants (memory stays there).
# --------------------------------------------------------------------------


def convert_child(args: argparse.Namespace) -> None:
    import torch
    from diffusers import UNet2DConditionModel

    class UNet(torch.nn.Module):  # the app's wrapper's shape (openvino_export._wrappers)
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, sample: Any, timestep: Any, encoder_hidden_states: Any) -> Any:
            return self.inner(sample, timestep, encoder_hidden_states, return_dict=False)[0]

    channels, side, text_dim = shapes(args.quick)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**(TINY_UNET if args.quick else SD_TURBO_UNET)).eval()
    params = sum(p.numel() for p in unet.parameters())
    example = (
        torch.randn(1, channels, side, side),
        torch.tensor([TIMESTEP]),
        torch.randn(1, 77, text_dim),
    )
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ov.convert_model(
            UNet(unet),
            example_input=example,
            input=[
                (ov.PartialShape([-1, channels, -1, -1]), ov.Type.f32),
                (ov.PartialShape([-1]), ov.Type.f32),
                (ov.PartialShape([-1, 77, text_dim]), ov.Type.f32),
            ],
        )
    del unet, example
    gc.collect()
    target = Path(args.child_target)
    ov.save_model(model, str(target), compress_to_fp16=True)
    print(MARK + json.dumps({"params": params, "peak_gb": rss_gb("VmHWM")}), flush=True)


def nncf_child(args: argparse.Namespace) -> None:
    import nncf

    core = ov.Core()
    model = core.read_model(args.child_source)
    if args.child == "int8-wo":
        model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
    else:
        samples = [
            unet_inputs(args.quick, 1, seed=1000 + i, zero_text=i % 2 == 1)
            for i in range(args.calib)
        ]
        model = nncf.quantize(
            model,
            nncf.Dataset(samples),
            subset_size=len(samples),
            model_type=nncf.ModelType.TRANSFORMER,
            advanced_parameters=nncf.AdvancedQuantizationParameters(disable_bias_correction=True),
        )
    ov.save_model(model, args.child_target, compress_to_fp16=True)
    print(MARK + json.dumps({"peak_gb": rss_gb("VmHWM")}), flush=True)


def run_child(args: argparse.Namespace, kind: str, source: Path | None, target: Path) -> dict:
    """Make ``target`` in a child process (unless cached); its time and peak RSS."""
    if target.exists():
        return {"cached": True}
    log(f"{kind}: making {target}")
    partial = target.with_name(target.stem + ".partial.xml")
    cmd = [sys.executable, __file__, "--child", kind, "--child-target", str(partial)]
    cmd += ["--calib", str(args.calib)] + (["--quick"] if args.quick else [])
    if source is not None:
        cmd += ["--child-source", str(source)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, check=True)  # noqa: S603
    seconds = time.perf_counter() - started
    info = next(json.loads(x[len(MARK) :]) for x in proc.stdout.splitlines() if x.startswith(MARK))
    partial.with_suffix(".bin").rename(target.with_suffix(".bin"))
    partial.rename(target)
    info["seconds"] = seconds
    log(f"{kind}: {info}")
    return info


# --------------------------------------------------------------------------
# Compiling and timing.
# --------------------------------------------------------------------------


class Loaded:
    """One variant compiled: its requests, and how to time one visit."""

    def __init__(self, core: Any, name: str, variant: Variant, path: Path, quick: bool) -> None:
        channels, side, text_dim = shapes(quick)
        before = rss_gb()
        started = time.perf_counter()
        model = core.read_model(path)
        b = variant.batch
        model.reshape({0: [b, channels, side, side], 1: [b], 2: [b, 77, text_dim]})
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", **variant.config}
        if variant.precision:
            config["INFERENCE_PRECISION_HINT"] = variant.precision
        self.compiled = core.compile_model(model, "CPU", config)
        del model
        gc.collect()
        self.compile_s = time.perf_counter() - started
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.streams = int(self.compiled.get_property("NUM_STREAMS"))
        self.threads = int(self.compiled.get_property("INFERENCE_NUM_THREADS"))
        self.variant = variant
        self.requests = [self.compiled.create_infer_request() for _ in range(variant.in_flight)]
        # Image k of every variant has the same input (seed 7 + k), so the
        # first image's output is compared across variants.
        self.inputs = [batched(quick, 7 + i * b, b) for i in range(variant.in_flight)]
        self.rss_before = before
        self.rss_gb = 0.0

    def warm_up(self) -> Any:
        """One untimed run; returns the first image's output (seed 7, for every variant)."""
        for request, data in zip(self.requests, self.inputs, strict=True):
            request.infer(data)
        out = self.requests[0].get_output_tensor(0).data[0].copy()
        self.rss_gb = rss_gb() - self.rss_before
        return out

    def time_one(self) -> float:
        """Seconds per image of one timed visit."""
        started = time.perf_counter()
        if len(self.requests) == 1:
            self.requests[0].infer(self.inputs[0])
        else:
            for request, data in zip(self.requests, self.inputs, strict=True):
                request.start_async(data)
            for request in self.requests:
                request.wait()
        images = self.variant.batch * self.variant.in_flight
        return (time.perf_counter() - started) / images

    def free(self) -> None:
        self.requests.clear()
        del self.compiled
        gc.collect()


def rel_error(a: Any, b: Any) -> float:
    import numpy as np

    return float(np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b.astype(np.float64)))


def decoded_psnr(outputs: dict[str, Any], reference: Any, quick: bool) -> dict[str, float]:
    """PSNR (dB) of each output's decoded one-step image against the reference's.

    sd-turbo's one Euler step from t=999 (epsilon prediction): the UNet's input
    is x_t / sqrt(sigma^2 + 1), so x0 = x_t - sigma * eps; x0 is decoded by a
    default-sized TAESD (``AutoencoderTiny()``, seeded random weights, torch
    fp32) into 8-bit RGB, as the app makes its PNG.
    """
    import numpy as np
    import torch
    from diffusers import AutoencoderTiny

    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    alpha_bar = float(np.cumprod(1 - betas)[int(TIMESTEP)])
    sigma = (1 - alpha_bar) ** 0.5 / alpha_bar**0.5
    x_t = unet_inputs(quick, 1, 7)[0][0].astype(np.float64) * (sigma**2 + 1) ** 0.5
    torch.manual_seed(1)
    taesd = AutoencoderTiny().eval()

    def decode(eps: Any) -> Any:
        x0 = torch.from_numpy((x_t - sigma * eps.astype(np.float64)).astype(np.float32))
        with torch.no_grad():
            image = taesd.decode(x0[None]).sample[0]
        return ((image / 2 + 0.5).clamp(0, 1) * 255).round().double().numpy()

    ref = decode(reference)
    return {name: psnr(decode(out), ref) for name, out in outputs.items()}


def benchmark(args: argparse.Namespace, workdir: Path, names: list[str], table: dict) -> None:
    n_cores = cores()
    all_variants = variants_for(n_cores)
    kind = "tiny" if args.quick else "sd-turbo"
    load_before = os.getloadavg()
    ir = workdir / f"unet-{kind}.xml"
    made: dict[str, dict] = {"conversion": run_child(args, "convert", None, ir)}
    paths = {"fp": ir}
    for source in ("int8-wo", "int8-ptq"):
        if any(all_variants[n].source == source for n in names):
            paths[source] = workdir / f"unet-{kind}-{source}.xml"
            made[source] = run_child(args, source, ir, paths[source])

    core = ov.Core()  # no CACHE_DIR: see the module's docstring
    variants = {n: all_variants[n] for n in names}

    def load(name: str) -> Loaded:
        v = variants[name]
        return Loaded(core, name, v, paths[v.source], args.quick)

    reference: Any = None
    outputs: dict[str, Any] = {}
    info: dict[str, dict[str, Any]] = {n: {} for n in names}
    times: dict[str, list[float]] = {n: [] for n in names}

    def first_visit(name: str, loaded: Loaded) -> None:
        info[name].update(
            compile_s=loaded.compile_s,
            precision=loaded.precision,
            streams=loaded.streams,
            threads=loaded.threads,
        )

    held: dict[str, Loaded] = {}
    # First pass: compile each, warm up, keep the first image's output.
    for name in names:
        log(f"compiling {name}")
        loaded = load(name)
        first_visit(name, loaded)
        outputs[name] = loaded.warm_up()
        info[name]["rss_gb"] = loaded.rss_gb
        log(f"{name}: {info[name]}")
        if args.hold:
            held[name] = loaded
        else:
            loaded.free()
    if "f32-b1" in outputs:
        reference = outputs["f32-b1"]

    for round_index in range(args.runs):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            if args.hold:
                seconds = held[name].time_one()
            else:
                loaded = load(name)
                info[name].setdefault("reload_s", []).append(loaded.compile_s)
                loaded.warm_up()
                info[name]["rss_gb"] = max(info[name]["rss_gb"], loaded.rss_gb)
                seconds = loaded.time_one()
                loaded.free()
            times[name].append(seconds)
            log(f"round {round_index + 1}: {name} {seconds:.3f} s/image")
    for loaded in held.values():
        loaded.free()
    load_after = os.getloadavg()

    # ---------------------------------------------------------------- report
    decoded_db = {} if reference is None else decoded_psnr(outputs, reference, args.quick)
    base = names[0]
    base_median = statistics.median(times[base])
    cpu = machine()
    what = (
        "tiny UNet (--quick)" if args.quick else "sd-turbo UNet (full architecture, random weights)"
    )
    channels, side, text_dim = shapes(args.quick)
    print()
    print(
        f"OpenVINO UNet benchmark: {what}, latents Bx{channels}x{side}x{side}, text Bx77x{text_dim}"
    )
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"machine: {cpu}; cores usable by this process (sched_getaffinity): {n_cores}")
    print(f"versions: {versions(('openvino', 'nncf', 'torch', 'diffusers'))}")
    print(
        f"load average (1/5/15 min) at start: {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"at end: {' '.join(f'{x:.2f}' for x in load_after)}"
    )
    mode = (
        "all variants held compiled"
        if args.hold
        else "rotating passes with reload (each visit: compile from the IR, "
        "one untimed warm-up, one timed run, freed)"
    )
    print(f"median of {args.runs} interleaved rounds (order rotating), {mode}")
    print(
        "s/image = one inference's time / images in it (batch x requests in flight); "
        "per round = median of each round's baseline/variant ratio; rel. err = "
        "||out - out_f32|| / ||out_f32|| for the first image, same inputs as f32-b1; "
        "PSNR = the decoded one-step image (TAESD) against f32-b1's, dB (inf: identical); "
        "RSS +GB = resident memory the compiled variant added"
    )
    print()
    print(
        f"| variant | s/image (median) | min-max | vs {base} | per round | precision "
        "| threads/streams | rel. err vs f32 | PSNR dB | RSS +GB | compile s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        median = statistics.median(times[name])
        per_round = statistics.median(b / t for b, t in zip(times[base], times[name], strict=True))
        error = "-" if reference is None else f"{rel_error(outputs[name], reference):.2e}"
        decoded = f"{decoded_db[name]:.1f}" if name in decoded_db else "-"
        i = info[name]
        print(
            f"| {name}: {variants[name].label} | {median:.3f} | {min(times[name]):.3f}-"
            f"{max(times[name]):.3f} | {base_median / median:.2f}x | {per_round:.2f}x "
            f"| {i['precision']} | {i['threads']}/{i['streams']} | {error} | {decoded} "
            f"| {i['rss_gb']:.2f} "
            f"| {i['compile_s']:.1f} |"
        )
        table[name] = median
    print()
    for key, value in made.items():
        if value.get("cached"):
            print(f"{key}: reused from {workdir}")
        else:
            peak = f"{value['peak_gb']:.2f} GB" if value.get("peak_gb") else "n/a"
            print(f"{key}: {value['seconds']:.0f} s in a child process, peak RSS {peak}")
    if not args.hold:
        reloads = [s for n in names for s in info[n].get("reload_s", [])]
        if reloads:
            print(f"reload (compile from the IR): median {statistics.median(reloads):.1f} s")
    print(f"peak RSS of this (timing) process: {rss_gb('VmHWM'):.2f} GB")
    print(
        f"sigma at t={TIMESTEP:.0f}: x0 = x_t - sigma * eps, so the UNet's error reaches the "
        "decoder scaled by sigma; random weights make the INT8 and bf16 errors indicative only."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="a tiny UNet: a smoke run")
    parser.add_argument("--workdir", help="keep the converted IR and the INT8 IRs here")
    parser.add_argument(
        "--variants", help=f"comma-separated, first is the baseline (default: {','.join(DEFAULT)})"
    )
    parser.add_argument("--calib", type=int, default=12, help="calibration samples (default 12)")
    parser.add_argument("--hold", action="store_true", help="keep all variants compiled at once")
    parser.add_argument("--reload", action="store_true", help="reload per visit (full default)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-source", help=argparse.SUPPRESS)
    parser.add_argument("--child-target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "convert":
        convert_child(args)
        return
    if args.child:
        nncf_child(args)
        return
    if not args.reload and not args.hold:
        args.hold = args.quick
    if args.reload:
        args.hold = False
    every = variants_for(cores())
    names = args.variants.split(",") if args.variants else [n for n in every if n in DEFAULT]
    unknown = [n for n in names if n not in every]
    if unknown:
        parser.error(f"unknown variants {unknown}; here: {','.join(every)}")
    if any(every[n].source != "fp" for n in names):
        try:
            import nncf  # noqa: F401
        except ImportError:
            parser.error("the int8 variants need nncf (pip install nncf)")
    temp = None
    if args.workdir:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        temp = tempfile.mkdtemp(prefix="bench-ov-unet-")
        workdir = Path(temp)
    try:
        benchmark(args, workdir, names, {})
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
