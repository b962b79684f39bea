"""Running a benchmark script as the smoke tests do: its ``--quick`` mode in a
child process, skipped (and saying why) where a package it needs is missing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_quick(script: str, *args: str, needs: tuple[str, ...], timeout: float = 900) -> str:
    """Run ``benchmarks/<script> --quick <args>``; its stdout, after asserting success."""
    missing = [name for name in needs if not importlib.util.find_spec(name)]
    if missing:
        pytest.skip(f"{script} needs {', '.join(missing)} (not importable)")
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
