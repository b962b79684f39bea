"""The OpenVINO UNet benchmark runs as a smoke test: ``--quick`` (a tiny UNet).

It is a benchmark (figures, not timing assertions); what is checked here is
that one conversion, the NNCF weight-only and full INT8 variants, a batch
variant and a two-stream variant all compile, run and land in the printed
table with a positive time, an error against fp32 and a decoded image's
PSNR, in both timing modes (held, and reloaded per visit).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ["f32-b1", "f32-b2", "default-b1", "int8-wo", "int8-ptq", "f32-tput-1s"]


def _missing() -> list[str]:
    return [
        name for name in ("openvino", "nncf", "diffusers") if not importlib.util.find_spec(name)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--hold", "--reload"])
def test_bench_openvino_unet_quick(tmp_path: Path, mode: str) -> None:
    missing = _missing()
    if missing:
        pytest.skip(f"the OpenVINO UNet benchmark needs {', '.join(missing)} (not importable)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_openvino_unet.py"),
            "--quick",
            mode,
            "--runs",
            "2",
            "--calib",
            "4",
            "--variants",
            ",".join(VARIANTS),
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {
        m[1]: (float(m[2]), m[3], m[4].strip())
        for m in re.finditer(
            r"^\| ([\w-]+): [^|]+\| ([\d.]+) \|(?:[^|]*\|){5} ([^|]+) \| ([^|]+) \|",
            done.stdout,
            re.M,
        )
    }
    assert list(rows) == VARIANTS, done.stdout
    assert all(row[0] > 0 for row in rows.values()), done.stdout
    # The baseline against itself, and an INT8 variant close to fp32 (random weights).
    assert float(rows["f32-b1"][1]) == 0.0 and float(rows["f32-b2"][1]) < 1e-4, done.stdout
    assert 0 < float(rows["int8-wo"][1]) < 0.5, done.stdout
    # The decoded one-step image's PSNR against fp32: identical for the
    # baseline, finite and positive where the output differs.
    assert rows["f32-b1"][2] == "inf", done.stdout
    assert 0 < float(rows["int8-ptq"][2]) < 200, done.stdout
    assert "cores usable by this process" in done.stdout
    assert "load average" in done.stdout
