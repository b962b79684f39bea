"""The example notebooks run, are committed stripped, and the inline UI works.

Each notebook is executed with nbclient in a fresh kernel on *this*
interpreter, from a temp copy of ``notebooks/`` (so nothing is written into
the repository), with a timeout per cell. The notebooks assert their own
claims (same seed, same bytes; only whitelisted fields stored; no image on
disk...), so a failing claim fails here.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import default

from aicreative import Studio

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 120  # seconds; the notebooks take a few seconds each
EXPECTED = {
    "01-quickstart.ipynb",
    "02-backends.ipynb",
    "03-privacy-audit.ipynb",
    "04-admin.ipynb",
    "05-remote-client.ipynb",
}


class ThisPythonKernel(AsyncKernelManager):
    """The ``python3`` kernel on this interpreter, whatever kernelspecs exist.

    A ``python3`` kernelspec in ``~/.local/share/jupyter`` (or anywhere on
    JUPYTER_PATH) would win over the venv's and could start another Python;
    an empty list of kernel dirs leaves only ipykernel's native spec, whose
    command is ``sys.executable -m ipykernel_launcher``.
    """

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return KernelSpecManager(kernel_dirs=[], parent=self)


@pytest.fixture
def kernel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel imports this checkout's package, whatever its cwd is.

    The kernel runs in the notebooks' folder (a temp copy), where the
    repository root is not on sys.path; an editable install does not always
    map the package (setuptools may register it as a namespace package).
    """
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(REPO), path) if p))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    # Matplotlib in the kernel draws inline whatever a developer's shell says.
    monkeypatch.delenv("MPLBACKEND", raising=False)


def execute(path: Path, workdir: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        kernel_manager_class=ThisPythonKernel,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return nb


def test_the_notebooks_exist() -> None:
    assert {p.name for p in NOTEBOOKS} == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stripped(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {cell.id} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {cell.id} was executed"


#: How to regenerate the .ipynb after editing a notebook's .py (``--update``
#: keeps the committed cell ids, so only edited cells change in git).
REGENERATE = "jupytext --to ipynb --update notebooks/*.py"


def test_every_notebook_has_its_py() -> None:
    # Each notebook is edited as a jupytext percent-format .py; the .ipynb is generated.
    assert {p.stem for p in NOTEBOOKS_DIR.glob("*.py")} == {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_matches_its_py(path: Path) -> None:
    import jupytext  # the dev extra has it; imported here so the other tests run without

    text = jupytext.read(path.with_suffix(".py"), fmt="py:percent")
    committed = nbformat.read(path, as_version=4)
    expected = [(cell.cell_type, cell.source) for cell in text.cells]
    actual = [(cell.cell_type, cell.source) for cell in committed.cells]
    assert actual == expected, (
        f"{path.name} differs from {path.with_suffix('.py').name}, which is the one to edit: "
        f"run `{REGENERATE}` and commit both"
    )


def test_kernel_runs_this_python(tmp_path: Path, kernel_env: None) -> None:
    # Not resolved: the venv's python is a link to the base interpreter, and
    # only the unresolved path (and sys.prefix) says which environment runs.
    nb = nbformat.v4.new_notebook()
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import sys, aicreative\nprint(sys.executable)\nprint(sys.prefix)"
        )
    )
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", kernel_manager_class=ThisPythonKernel
    )
    client.execute(cwd=str(tmp_path))
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs).split()
    assert printed == [sys.executable, sys.prefix]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path, kernel_env: None) -> None:
    workdir = tmp_path / "notebooks"
    workdir.mkdir()
    copy = workdir / path.name
    shutil.copyfile(path, copy)
    started = time.perf_counter()
    nb = execute(copy, workdir)
    seconds = time.perf_counter() - started
    errors = [
        output
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
    # Nothing but the copy is left in the notebook's folder.
    assert sorted(p.name for p in workdir.iterdir()) == [path.name]
    print(f"{path.name}: {seconds:.1f} s")


# -- the inline UI ------------------------------------------------------------------------


def _port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_inline_app_shows_and_stops() -> None:
    from aicreative.web.notebook import running, show

    inline = show(height=640)
    try:
        assert inline.url == f"http://127.0.0.1:{inline.port}/"
        assert inline in running()
        with httpx.Client(trust_env=False, timeout=10) as client:
            answer = client.get(inline.url, follow_redirects=False)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/welcome"
            page = client.get(inline.url + "login")
            assert page.status_code == 200
            # Framable by a notebook on this machine (another port), not by others.
            csp = page.headers["content-security-policy"]
            assert "frame-ancestors 'self' http://127.0.0.1:* http://localhost:*" in csp
            assert "x-frame-options" not in page.headers
            assert "https://" not in csp.split("frame-ancestors", 1)[1].split(";")[0]
        html = inline._repr_html_()
        assert f'<iframe src="http://127.0.0.1:{inline.port}/login"' in html
        assert 'height="640"' in html
    finally:
        inline.stop()
    assert not inline.running
    assert inline not in running()
    assert _port_is_closed(inline.port)
    # The port is free: a new server can bind it.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", inline.port))
    assert "stopped" in inline._repr_html_()
    inline.stop()  # a second stop is harmless


def test_inline_app_context_manager_and_stop_all(studio: Studio) -> None:
    from aicreative.web.notebook import running, show, stop_all

    with show(studio, url_host="localhost") as inline:
        assert inline.url.startswith("http://localhost:")
        assert inline.studio is studio
        # The server listens on 127.0.0.1 whatever the iframe calls it.
        health = httpx.get(
            f"http://127.0.0.1:{inline.port}/healthz", trust_env=False, timeout=10
        ).json()
        assert health["backend"] == "demo"
    assert not inline.running and _port_is_closed(inline.port)

    first, second = show(studio), show(studio)
    assert first.port != second.port
    stop_all()
    assert running() == []
    assert _port_is_closed(first.port) and _port_is_closed(second.port)


def test_inline_app_refuses_other_hosts() -> None:
    from aicreative.web.notebook import show

    with pytest.raises(ValueError, match="local only"):
        show(url_host="0.0.0.0")  # type: ignore[arg-type]


@pytest.mark.browser
def test_inline_app_works_in_a_notebook_iframe(chromium: Any, studio: Studio) -> None:
    """In real Chromium, a page on another port of 127.0.0.1 (where Jupyter
    would be) frames the app, and logging in inside the frame keeps the cookie."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from aicreative.web.notebook import show

    from ..fixtures_browser import PASSWORD, WAIT_MS, new_context

    studio.signup("ada", "ada@example.org", PASSWORD)
    with show(studio, height=700) as inline:
        page_html = f"<!doctype html><title>notebook</title>{inline._repr_html_()}".encode()

        class NotebookPage(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.end_headers()
                self.wfile.write(page_html)

            def log_message(self, *args: Any) -> None:
                pass

        notebook = ThreadingHTTPServer(("127.0.0.1", 0), NotebookPage)
        threading.Thread(target=notebook.serve_forever, daemon=True).start()
        context = new_context(chromium)
        try:
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{notebook.server_address[1]}/")
            frame = page.frame_locator("iframe")
            frame.locator("#username").fill("ada")
            frame.locator("#password").fill(PASSWORD)
            frame.locator("form.ac-form button[type=submit]").click()
            # The Gradio UI loads only with the session cookie: it was kept.
            header = frame.get_by_test_id("header-username")
            header.wait_for(timeout=WAIT_MS)
            assert header.inner_text() == "ada"
            cookies = context.cookies(inline.url)
            assert [c["name"] for c in cookies] == ["aicreative_session"]
        finally:
            context.close()
            notebook.shutdown()
            notebook.server_close()
