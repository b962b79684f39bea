"""Deployment files: Spaces metadata, requirements, the app entry point."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import gradio

ROOT = Path(__file__).resolve().parents[2]


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "the README must start with Spaces metadata"
    return dict(line.split(": ", 1) for line in match.group(1).splitlines())


def test_readme_starts_with_valid_spaces_metadata() -> None:
    meta = front_matter()
    assert meta["sdk"] == "gradio"
    assert meta["sdk_version"] == gradio.__version__
    assert meta["app_file"] == "app.py" and (ROOT / "app.py").exists()
    assert 0 < len(meta["short_description"]) <= 60  # the Hub's limit
    assert meta["title"]


def _names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements
    }


def test_requirements_are_what_a_space_needs_and_no_more() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["diffusers"]
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(lines) == sorted(wanted)
    dev = _names(project["optional-dependencies"]["dev"])
    assert not _names(lines) & dev
    assert "passlib" not in _names(lines) and "spaces" not in _names(lines)
    assert "torch==2.13.0" in lines


def test_app_imports_without_starting() -> None:
    # `import app` must not serve: Spaces runs it as a script.
    code = "import app, sys; print('gradio' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
