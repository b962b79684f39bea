"""The OpenVINO UNet benchmark runs as a smoke test: ``--quick`` (a tiny UNet).

It is a benchmark (figures, not timing assertions); what is checked here is
that one conversion, the NNCF weight-only and full INT8 variants, a batch
variant and a two-stream variant all compile, run and land in the printed
table with a positive time, an error against fp32 and a decoded image's
PSNR, in both timing modes (held, and reloaded per visit).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.benchmark_runs import run_quick

VARIANTS = ["f32-b1", "f32-b2", "default-b1", "int8-wo", "int8-ptq", "f32-tput-1s"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--hold", "--reload"])
def test_bench_openvino_unet_quick(tmp_path: Path, mode: str) -> None:
    stdout = run_quick(
        "bench_openvino_unet.py",
        mode,
        "--runs",
        "2",
        "--calib",
        "4",
        "--variants",
        ",".join(VARIANTS),
        "--workdir",
        str(tmp_path),
        needs=("openvino", "nncf", "diffusers"),
        timeout=600,
    )
    rows = {
        m[1]: (float(m[2]), m[3], m[4].strip())
        for m in re.finditer(
            r"^\| ([\w-]+): [^|]+\| ([\d.]+) \|(?:[^|]*\|){5} ([^|]+) \| ([^|]+) \|",
            stdout,
            re.M,
        )
    }
    assert list(rows) == VARIANTS, stdout
    assert all(row[0] > 0 for row in rows.values()), stdout
    # The baseline against itself, and an INT8 variant close to fp32 (random weights).
    assert float(rows["f32-b1"][1]) == 0.0 and float(rows["f32-b2"][1]) < 1e-4, stdout
    assert 0 < float(rows["int8-wo"][1]) < 0.5, stdout
    # The decoded one-step image's PSNR against fp32: identical for the
    # baseline, finite and positive where the output differs.
    assert rows["f32-b1"][2] == "inf", stdout
    assert 0 < float(rows["int8-ptq"][2]) < 200, stdout
    assert "cores usable by this process" in stdout
    assert "load average" in stdout
