"""The CPU backends benchmark runs as a smoke test: ``--quick`` (the tiny pipeline).

It is a benchmark (figures, not timing assertions); what is checked here is
that plain diffusers, OpenVINO in fp32, OpenVINO with an INT8 UNet and the
app's own ``auto`` choice each load in a fresh process per visit
(``--reload``), make an image, and land in the printed table with a positive
time, a peak memory, and a PSNR against fp32 where one is comparable.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from tests.benchmark_runs import run_quick

VARIANTS = ["plain", "openvino-taesd-f32", "openvino-taesd-int8", "auto"]


@pytest.mark.slow
def test_bench_cpu_backends_quick(tmp_path: Path) -> None:
    stdout = run_quick(
        "bench_cpu_backends.py",
        "--reload",
        "--runs",
        "1",
        "--variants",
        ",".join(VARIANTS),
        "--workdir",
        str(tmp_path),
        needs=("openvino", "nncf", "diffusers"),
    )
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| variant")
    ]
    assert len(rows) == len(VARIANTS), stdout
    for row in rows:
        seconds, peak_gb = float(row[1]), float(row[6])
        assert seconds > 0 and peak_gb > 0, row
    psnr = [row[7] for row in rows]
    # plain decodes with the full VAE (not comparable), fp32 is the reference
    # itself, and the INT8 UNet's image differs from it but stays close.
    assert psnr[0] == "-" and psnr[1] == "inf", stdout
    assert 20 < float(psnr[2]) < math.inf, stdout
    assert "INT8 UNet" in rows[2][0] and "measured here" in rows[3][0], stdout
    assert re.search(r"^machine: .+, \d+ CPUs \(", stdout, re.M), stdout
