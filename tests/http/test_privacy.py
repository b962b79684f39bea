"""The privacy scan: after generating, no prompt or image is on the server's disk or logs.

A real server (uvicorn on a free port) with Gradio's temp dir, the data dir,
the working dir and the process's temp dir all in this test's own folder,
and every log record and byte of stdout/stderr captured. It generates with
unique marker prompts through the HTTP API (Gradio's simple ``call`` API
and the browser's own ``queue/join`` protocol), walks the refusal paths
with markers too, then scans every file it could have written for the
markers and for image signatures, and the captured logs for the markers.

:func:`scan_for_leaks` is the reusable part: point it at folders and
markers, get back every file that holds one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aicreative.store import FIELDS, TABLE

from ..fixtures_server import (
    LiveServer,
    generate,
    generate_inputs,
    gradio_result,
    gradio_submit,
    login_response,
    signup,
    status_text,
)
from .test_delivery_web import ack, finished, generate_then_go_away, pending, wait_until

#: Raw image signatures, anywhere in a file (a PNG inside a zip counts too).
IMAGE_PATTERNS: dict[str, re.Pattern[bytes]] = {
    "PNG": re.compile(rb"\x89PNG\r\n\x1a\n"),
    "JPEG": re.compile(rb"\xff\xd8\xff[\xc0-\xfe]"),
    "WebP": re.compile(rb"RIFF.{4}WEBP", re.S),
    # The same images as text: a data URL or a base64 PNG (what Gradio's
    # state or a cached JSON value would hold).
    "data URL": re.compile(rb"data:image/"),
    "base64 PNG": re.compile(rb"iVBORw0KGgo"),
}
#: Files larger than this are read only up to it (nothing here writes more).
MAX_READ = 64 << 20


@dataclasses.dataclass(frozen=True)
class Leak:
    """One file that holds something it must not: a marker or an image."""

    path: Path
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


def scan_for_leaks(
    roots: Iterable[Path | str],
    markers: Iterable[str],
    *,
    since: float | None = None,
    exclude: Iterable[Path | str] = (),
    images: bool = True,
) -> list[Leak]:
    """Every file under ``roots`` that holds a marker (UTF-8 bytes) or an image.

    ``since`` (a ``time.time()`` value) skips files last modified before it;
    ``exclude`` skips folders (and files) at or below those paths; symlinks
    are not followed; files that vanish or cannot be read are skipped.
    ``images=False`` looks for the markers only.
    """
    needles = [m.encode() for m in markers if m]
    skipped = [os.path.realpath(p) for p in exclude]

    def excluded(path: str) -> bool:
        real = os.path.realpath(path)
        return any(real == s or real.startswith(s + os.sep) for s in skipped)

    leaks: list[Leak] = []
    seen: set[str] = set()
    for root in roots:
        root = os.fspath(root)
        if not os.path.isdir(root) or excluded(root):
            continue
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs[:] = [d for d in dirs if not excluded(os.path.join(folder, d))]
            for name in files:
                path = os.path.join(folder, name)
                real = os.path.realpath(path)
                if real in seen or excluded(path):
                    continue
                seen.add(real)
                leaks += _scan_file(Path(path), needles, since, images)
    return leaks


def scan_files(paths: Iterable[Path | str], markers: Iterable[str]) -> list[Leak]:
    """:func:`scan_for_leaks` for a list of files (those that still exist)."""
    needles = [m.encode() for m in markers if m]
    return [leak for p in sorted(set(map(str, paths))) for leak in _scan_file(Path(p), needles)]


def _scan_file(
    path: Path, needles: list[bytes], since: float | None = None, images: bool = True
) -> list[Leak]:
    try:
        info = os.lstat(path)
        if not os.path.isfile(path) or os.path.islink(path):
            return []
        if since is not None and info.st_mtime < since:
            return []
        with open(path, "rb") as handle:
            data = handle.read(MAX_READ)
    except OSError:
        return []
    leaks = [Leak(path, f"marker {n.decode()!r}") for n in needles if n in data]
    if images:
        leaks += [
            Leak(path, f"{kind} signature")
            for kind, pattern in IMAGE_PATTERNS.items()
            if pattern.search(data)
        ]
    return leaks


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_recording: list[set[str]] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if not _recording:
        return
    target: object = None
    if event == "open" and len(args) == 3:
        path, mode, flags = args
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        target = path if writes else None
    elif event in ("os.rename", "shutil.copyfile", "shutil.copymode", "os.link"):
        target = args[1] if len(args) > 1 else None
    if isinstance(target, (str, bytes, os.PathLike)):
        try:
            name = os.path.abspath(os.fsdecode(target))
        except (TypeError, ValueError):
            return
        for written in _recording:
            written.add(name)


@contextmanager
def files_written() -> Iterator[set[str]]:
    """The files that this process (any thread) opens for writing, renames
    onto or copies to meanwhile, through Python (a ``sys.addaudithook`` hook).

    It tells this process's writes from those of other programs that share
    the system temp dir, whose own images are none of this test's business.
    """
    if not getattr(sys, "_aicreative_audit_hook", False):
        sys.addaudithook(_audit)  # hooks cannot be removed: install one, once
        sys._aicreative_audit_hook = True  # type: ignore[attr-defined]
    written: set[str] = set()
    _recording.append(written)
    try:
        yield written
    finally:
        _recording.remove(written)


class _Everything(logging.Handler):
    """Keeps the formatted text of every record it sees."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a bad format string must not hide the rest
            text = f"{record.name} {record.msg!r} {record.args!r}"
        self.lines.append(text)


@contextmanager
def every_log_record() -> Iterator[_Everything]:
    """Every logger at DEBUG, with a handler on the root and on each logger
    that does not propagate (uvicorn's own); restored afterwards."""
    handler = _Everything()
    manager = logging.Logger.manager
    loggers = [logging.getLogger()] + [
        logger for logger in manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    attached = []
    try:
        for logger in loggers:
            logger.setLevel(logging.DEBUG)
            logger.disabled = False
            if logger is logging.getLogger() or not logger.propagate:
                logger.addHandler(handler)
                attached.append(logger)
        yield handler
    finally:
        for logger in attached:
            logger.removeHandler(handler)
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled


def _under(path: str, root: Path) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top + os.sep)


def _gradio_upload_dir(app: object) -> str | None:
    """Where the mounted Gradio app keeps its cache (its ``uploaded_file_dir``)."""
    for route in getattr(app, "routes", []):
        inner = getattr(route, "app", None)
        if inner is not None and hasattr(inner, "uploaded_file_dir"):
            return str(inner.uploaded_file_dir)
    return None


def _fn_index(client, api_name: str) -> int:  # type: ignore[no-untyped-def]
    for dependency in client.get("/config").json()["dependencies"]:
        if dependency.get("api_name") == api_name:
            return int(dependency["id"])
    raise AssertionError(f"no event named {api_name}")


# -- the scanner can fail --------------------------------------------------------------


def test_the_scan_finds_planted_markers_and_images(tmp_path: Path) -> None:
    """A control: every kind of leak the privacy test looks for is found."""
    import base64
    import io

    from PIL import Image

    marker = f"planted-{uuid.uuid4().hex}"
    picture = Image.new("RGB", (8, 8), (200, 30, 30))
    encoded = {}
    for kind in ("PNG", "JPEG", "WEBP"):
        buffer = io.BytesIO()
        picture.save(buffer, format=kind)
        encoded[kind] = buffer.getvalue()
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "log.txt").write_text(f"prompt={marker}\n")
    (tmp_path / "a" / "image.webp").write_bytes(encoded["WEBP"])
    (tmp_path / "bundle.bin").write_bytes(b"header" + encoded["PNG"] + encoded["JPEG"])
    png64 = base64.b64encode(encoded["PNG"]).decode()
    (tmp_path / "state.json").write_text(json.dumps({"v": "data:image/png;base64," + png64}))
    (tmp_path / "clean.json").write_text('{"username": "ada", "credits": 3}')
    (tmp_path / "skipped").mkdir()
    (tmp_path / "skipped" / "x.txt").write_text(marker)

    leaks = scan_for_leaks([tmp_path], [marker], exclude=[tmp_path / "skipped"])
    found = {(leak.path.name, leak.what) for leak in leaks}
    assert found == {
        ("log.txt", f"marker {marker!r}"),
        ("image.webp", "WebP signature"),
        ("bundle.bin", "PNG signature"),
        ("bundle.bin", "JPEG signature"),
        ("state.json", "data URL signature"),
        ("state.json", "base64 PNG signature"),
    }
    # ``since`` skips files not touched since then.
    old = time.time() - 3600
    os.utime(tmp_path / "a" / "b" / "log.txt", (old, old))
    later = scan_for_leaks(
        [tmp_path], [marker], since=time.time() - 60, exclude=[tmp_path / "skipped"], images=False
    )
    assert later == []

    # The write recorder sees this process's writes, from any thread.
    with files_written() as written:
        (tmp_path / "w1.txt").write_text("x")
        with open(tmp_path / "w2.tmp", "wb") as handle:
            handle.write(b"x")
        os.replace(tmp_path / "w2.tmp", tmp_path / "w2.txt")
        worker = threading.Thread(target=(tmp_path / "w3.txt").write_bytes, args=(b"x",))
        worker.start()
        worker.join()
        (tmp_path / "clean.json").read_text()  # reading is not writing
    assert {Path(p).name for p in written} == {"w1.txt", "w2.tmp", "w2.txt", "w3.txt"}
    assert scan_files([tmp_path / "bundle.bin", tmp_path / "gone"], []) == [
        Leak(tmp_path / "bundle.bin", "PNG signature"),
        Leak(tmp_path / "bundle.bin", "JPEG signature"),
    ]


# -- the scan of a running server ------------------------------------------------------------


def test_no_prompt_or_image_reaches_disk_or_logs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
    start_server: Callable[..., LiveServer],
) -> None:
    started = time.time() - 1  # a whole second of slack for coarse file times
    real_tmp = Path(tempfile.gettempdir())
    gradio_tmp, cwd, own_tmp = tmp_path / "gradio", tmp_path / "cwd", tmp_path / "systemp"
    for folder in (gradio_tmp, cwd, own_tmp):
        folder.mkdir()
    # Before create_app: Gradio reads these when the app is built.
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(gradio_tmp))
    monkeypatch.setenv("TMPDIR", str(own_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    monkeypatch.chdir(cwd)
    caplog.set_level(logging.DEBUG)

    tag = uuid.uuid4().hex
    markers = {
        "call prompt": f"mkcall{tag}p",
        "call negative": f"mkcall{tag}n",
        "browser prompt": f"mkbrowser{tag}p",
        "browser negative": f"mkbrowser{tag}n",
        "bad size": f"mksize{tag}p",
        "short balance": f"mkpoor{tag}p",
        "too long": f"mklong{tag}p",
        "password": f"mkpassword{tag}",
        "held": f"mkheld{tag}p",
        "refunded": f"mkrefunded{tag}p",
    }

    with files_written() as written, every_log_record() as records:
        live = start_server()
        assert _gradio_upload_dir(live.app) == str(gradio_tmp), "GRADIO_TEMP_DIR not honoured"
        settings = live.settings
        client = signup(live, "ada")

        # Gradio's simple HTTP API: two images.
        event, (payload, status, _), _ = generate(
            client, markers["call prompt"], negative=markers["call negative"], count=2
        )
        assert event == "complete", (event, status)
        assert payload["prompt"] == markers["call prompt"] and len(payload["images"]) == 2

        # The browser's protocol: queue/join with a session hash, then its stream.
        session_hash = uuid.uuid4().hex[:11]
        joined = client.post(
            "/gradio_api/queue/join",
            json={
                "data": generate_inputs(
                    markers["browser prompt"], negative=markers["browser negative"]
                ),
                "fn_index": _fn_index(client, "generate"),
                "session_hash": session_hash,
                "event_data": None,
                "trigger_id": None,
            },
        )
        assert joined.status_code == 200, joined.text
        stream = client.get("/gradio_api/queue/data", params={"session_hash": session_hash})
        assert markers["browser prompt"] in stream.text and "data:image/png" in stream.text
        # Gradio's deep link would save this session's values (prompt, images) to disk.
        deep_link = client.get("/gradio_api/deep_link", params={"session_hash": session_hash})
        assert deep_link.status_code == 404

        # Refusals that carry a marker: a size not offered, a short balance, a long prompt.
        assert generate(client, markers["bad size"], size="500x500")[0] == "error"
        _, (_, status, _), _ = generate(client, markers["short balance"], size="1024x1024", count=4)
        assert "Not enough credits" in status_text(status)
        _, (_, status, _), _ = generate(client, markers["too long"] + "x" * 1000)
        assert "limit is 1000" in status_text(status)
        submitted = gradio_submit(client, "generate", generate_inputs(markers["call prompt"]))
        assert gradio_result(client, "generate", submitted.json()["event_id"]).status_code == 200
        wrong = login_response(live.client(), "ada", markers["password"])
        assert wrong.status_code == 401

        # Paid results whose client left mid-run are held in memory (issue 12):
        # one fetched by the next page load, one refunded when the server stops.
        live.studio.backend.step_delay = 0.05  # type: ignore[attr-defined]
        generate_then_go_away(live, client, markers["held"], count=1)
        wait_until(finished(live.studio))
        (held,) = [r for r in pending(client)["results"] if r["prompt"] == markers["held"]]
        assert ack(client, held["delivery"])
        generate_then_go_away(live, client, markers["refunded"], count=1)
        wait_until(finished(live.studio))
        assert live.studio.deliveries.stats()["unsent"] == 1

        live.stop()  # let everything be flushed and closed before the scan
        log_text = "\n".join(records.lines)

    out, err = capfd.readouterr()
    captured = "\n".join([log_text, caplog.text, out, err])
    # The capture works: the app's own log line about this generation is in it.
    assert "generated 2 image(s) 512x512 for ada" in captured
    for name, marker in markers.items():
        assert marker not in captured, f"the {name} marker is in the server's log output"
    # Everything in this test's own folders: data dir, Gradio's temp dir, the
    # working dir and the process's temp dir.
    own = [tmp_path, settings.data_dir, gradio_tmp, cwd, own_tmp]
    leaks = scan_for_leaks(own, markers.values())
    # Every file this process wrote anywhere else (the real temp dir included).
    leaks += scan_files(written, markers.values())
    # The markers anywhere in the real temp dir and ~/.gradio: other programs
    # write images there too (this machine is shared), but never these markers.
    leaks += scan_for_leaks(
        [real_tmp, Path.home() / ".gradio"],
        markers.values(),
        since=started,
        exclude=[tmp_path_factory.getbasetemp().parent, *own],
        images=False,
    )
    assert leaks == [], "\n".join(map(str, leaks))
    assert any(settings.data_dir.iterdir()), "the data dir is empty: wrong folder scanned?"
    assert str(settings.store_path) in written, "the write recorder saw nothing"
    elsewhere = sorted(p for p in written if not any(_under(p, root) for root in own))
    assert elsewhere == [], f"the server wrote outside its folders: {elsewhere}"

    # The account file holds the whitelisted fields only, and the new balance.
    stored = json.loads(settings.store_path.read_text())
    assert set(stored) == {TABLE}, set(stored)
    rows = list(stored[TABLE].values())
    assert [r["username"] for r in rows] == ["ada"]
    for record in rows:
        assert set(record) <= set(FIELDS), set(record) - set(FIELDS)
    assert rows[0]["credits"] == 10 - 2 - 1 - 1 - 1  # the refunded one came back at stop


def test_the_log_capture_sees_uvicorn(
    tmp_path: Path, start_server: Callable[..., LiveServer], capfd: pytest.CaptureFixture[str]
) -> None:
    """A control for the capture: a record of uvicorn's own logger is seen."""
    live = start_server()
    with every_log_record() as records:
        logging.getLogger("uvicorn.error").info("control-%s", "line")
        logging.getLogger("aicreative.web").debug("control-debug")
    live.stop()
    assert any("control-line" in line for line in records.lines)
    assert any("control-debug" in line for line in records.lines)
