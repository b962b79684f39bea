"""The direction of imports, read from the source with ``ast``.

Each heavy or layer-bound library has one home, and the core never reaches
up into the web layer:

* only ``aicreative/store/`` imports TinyDB or psycopg;
* only ``aicreative/web/`` imports Gradio, FastAPI or Starlette;
* only ``aicreative/backends/`` imports torch, diffusers, transformers or
  OpenVINO;
* no module outside ``aicreative/web/`` imports ``aicreative.web``, except
  the command line (``cli.py``), which composes the layers.

Every import counts: at the top, inside a function (lazy) or under
``TYPE_CHECKING``. Doctests are text, not imports.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "aicreative"

#: library -> the one folder of the package allowed to import it.
HOMES = {
    "tinydb": "store",
    "psycopg": "store",
    "psycopg_pool": "store",
    "gradio": "web",
    "fastapi": "web",
    "starlette": "web",
    "torch": "backends",
    "diffusers": "backends",
    "transformers": "backends",
    "openvino": "backends",
}
#: Modules above every layer: they may import the web layer to compose it.
ENTRY_POINTS = {"cli.py", "__main__.py"}


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports made absolute."""
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    package = parts[:-1]  # the package a relative import starts from
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                if not node.module:  # `from . import x`: x may be a module
                    found.update(f"{module}.{alias.name}" for alias in node.names)
            else:
                module = node.module or ""
            found.add(module)
    return found


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_is_read() -> None:
    names = {path.relative_to(PACKAGE).as_posix() for path in sources()}
    assert {"audit.py", "backends/common.py", "store/postgres.py", "web/app.py"} <= names
    # Relative imports resolve: the audit reaches the store, the web app the studio.
    assert "aicreative.store" in imports(PACKAGE / "audit.py")
    assert "aicreative.studio" in imports(PACKAGE / "web" / "app.py")


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_libraries_are_imported_only_in_their_layer(path: Path) -> None:
    folder = path.relative_to(PACKAGE).parts[0]
    wrong = sorted(
        name for name in imports(path) if HOMES.get(name.split(".")[0], folder) != folder
    )
    assert not wrong, f"{path.relative_to(PACKAGE)} imports {wrong} outside their layer"


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_the_core_never_imports_the_web_layer(path: Path) -> None:
    relative = path.relative_to(PACKAGE)
    if relative.parts[0] == "web" or relative.as_posix() in ENTRY_POINTS:
        return
    up = sorted(
        name
        for name in imports(path)
        if name == "aicreative.web" or name.startswith("aicreative.web.")
    )
    assert not up, f"{relative} imports the web layer: {up}"


def test_looking_for_a_gpu_loads_no_backend_module(tmp_path: Path) -> None:
    """The registry asks torch for a GPU without importing a model backend
    (their import is the backend's own choice, when it is chosen)."""
    code = (
        "import sys\n"
        "from aicreative.backends import _gpu_device\n"
        "from aicreative.config import Settings\n"
        f"_gpu_device(Settings(data_dir={str(tmp_path)!r}))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aicreative.backends.', 'diffusers'))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = done.stdout.strip().splitlines()[-1]
    assert "diffusers" not in loaded and "openvino" not in loaded, loaded
