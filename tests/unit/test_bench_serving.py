"""The serving benchmark runs as a smoke test: the tiny pipeline on the CPU.

It is a benchmark (figures, not timing assertions); what is checked here is
that it runs end to end through the real scheduler and diffusers backend,
that credits spent equal images made (the script asserts it), and that with
batching on the 4 users' requests really shared pipeline calls.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_serving_smoke() -> None:
    pytest.importorskip("diffusers")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_serving.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {
        (int(m[1]), m[2]): (float(m[3]), int(m[4]))
        for m in re.finditer(
            r"^\s*(\d+) \| (off|on)\s*\|\s*([\d.]+) \|.*\|\s*(\d+) \|", done.stdout, re.M
        )
    }
    assert set(rows) == {(1, "off"), (1, "on"), (4, "off"), (4, "on")}, done.stdout
    assert all(images_per_s > 0 for images_per_s, _ in rows.values())
    # Batching off runs one image per call; on, 4 users' 4 images take fewer calls.
    assert rows[(4, "off")][1] == 4 and rows[(4, "on")][1] < 4, done.stdout
    assert "machine:" in done.stdout
