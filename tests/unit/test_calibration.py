"""CPU calibration: the fastest configuration is measured once per machine and cached.

Stand-in backends (the demo backend made slower by a known amount) check the
decision, the cache and its key; the last test runs the real thing on the
tiny pipeline: OpenVINO's conversion and diffusers' loading, timed and
cached in the data dir.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from aicreative.backends import BackendUnavailable, calibration, create_backend
from aicreative.backends.calibration import Candidate, choose, choose_for_settings
from aicreative.backends.demo import DemoBackend
from aicreative.config import Settings

pytestmark = [
    # Library noise, not ours (see tests/unit/test_backends_diffusers.py).
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


class Timed(DemoBackend):
    def __init__(self, name: str, seconds: float) -> None:
        self.name, self.label, self.seconds = name, f"fake {name}", seconds

    def generate(self, request: Any, on_progress: Any = None) -> Any:
        time.sleep(self.seconds)
        return super().generate(request, on_progress)


def fakes(built: list[str], **speeds: float) -> list[Candidate]:
    def build(name: str, seconds: float) -> Any:
        def make() -> Timed:
            built.append(name)
            return Timed(name, seconds)

        return make

    return [Candidate(name, build(name, secs)) for name, secs in speeds.items()]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(calibration, "cpu_flags", lambda: ("Test CPU 9000", "avx2 avx512f"))
    return Settings(data_dir=tmp_path, backend="auto")


def test_the_fastest_wins_and_the_figures_are_kept(settings: Settings) -> None:
    built: list[str] = []
    # Wide gaps: "middle" must take over twice "fast" on its warm-up even
    # with the demo backend's own time added to both.
    options = fakes(built, slow=0.12, fast=0.01, middle=0.06)
    backend, decision = choose(settings, options)
    assert backend.name == "fast" and decision.winner == "fast"
    assert decision.seconds["fast"] < decision.seconds["middle"] < decision.seconds["slow"]
    # Each was built once to measure, then the winner again to serve.
    assert built == ["slow", "fast", "middle", "fast"]
    summary = decision.summary()
    # "middle" came after "fast", and its warm-up took over twice fast's figure:
    # it could not win, so its warm-up is its figure, and the summary says so.
    assert re.match(
        r"fast measured fastest here \(0\.0\d s/image; slow 0\.\d\d s, "
        r"middle 0\.0\d s \(warm-up\)\)",
        summary,
    ), summary
    cache = json.loads((Path(settings.data_dir) / calibration.CACHE_FILE).read_text())
    (entry,) = cache.values()
    assert entry["winner"] == "fast" and set(entry["seconds"]) == {"slow", "fast", "middle"}
    assert entry["dismissed"] == ["middle"]
    # The cached decision tells the same story on the next start.
    _, again = choose(settings, options)
    assert again.cached and "middle 0.0" in again.summary()
    assert again.summary().split(", cached")[0] == summary.split(", measured")[0]


def test_the_next_start_reads_the_decision_and_builds_only_the_winner(
    settings: Settings,
) -> None:
    choose(settings, fakes([], slow=0.05, fast=0.01))
    built: list[str] = []
    # Speeds swapped: a re-measurement would pick "slow"; the cache must not measure.
    backend, decision = choose(settings, fakes(built, slow=0.0, fast=0.05))
    assert decision.cached and backend.name == "fast" and built == ["fast"]
    assert "cached from" in decision.summary()


def test_another_cpu_or_library_version_measures_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    choose(settings, fakes([], slow=0.05, fast=0.01))
    monkeypatch.setattr(calibration, "cpu_flags", lambda: ("Test CPU 9000", "avx2 avx512_bf16"))
    built: list[str] = []
    _, decision = choose(settings, fakes(built, slow=0.0, fast=0.05))
    assert not decision.cached and decision.winner == "slow"
    monkeypatch.setattr(calibration, "package_version", lambda name: "99.0")
    _, again = choose(settings, fakes(built, slow=0.05, fast=0.0))
    assert not again.cached and again.winner == "fast"


@pytest.mark.parametrize(
    "entry",
    [
        {"winner": "fast", "seconds": {"fast": 0.01}, "measured_at": "x", "dismissed": None},
        {"winner": "fast", "seconds": {"fast": 0.01}, "measured_at": "x", "dismissed": 5},
        {"winner": "fast", "seconds": {"slow": 0.05}, "measured_at": "x"},
        {"winner": "fast", "seconds": {"fast": "quick"}, "measured_at": "x"},
        {"winner": "fast", "seconds": {"fast": 0.01}},
        ["fast"],
        "fast",
    ],
    ids=[
        "dismissed-null",
        "dismissed-int",
        "no-winner-figure",
        "text-figure",
        "no-date",
        "a-list",
        "a-string",
    ],
)
def test_a_malformed_cached_decision_is_measured_again(
    settings: Settings, entry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A hand-edited or damaged cache must not stop the app from starting."""
    key = calibration.calibration_key(settings)
    path = Path(settings.data_dir) / calibration.CACHE_FILE
    path.write_text(json.dumps({key: entry}))
    built: list[str] = []
    backend, decision = choose(settings, fakes(built, slow=0.05, fast=0.0))
    assert not decision.cached and decision.winner == "fast" and built == ["slow", "fast", "fast"]
    assert "ignoring a malformed cached decision" in caplog.text


def test_a_cache_nested_too_deep_to_read_is_measured_again(settings: Settings) -> None:
    (Path(settings.data_dir) / calibration.CACHE_FILE).write_text("[" * 100_000)
    _, decision = choose(settings, fakes([], slow=0.05, fast=0.0))
    assert not decision.cached and decision.winner == "fast"


def test_a_candidate_that_cannot_load_is_skipped_and_said(settings: Settings) -> None:
    def broken() -> Any:
        raise BackendUnavailable("openvino: a package is missing (openvino)")

    options = [Candidate("openvino-f32", broken), *fakes([], diffusers=0.01)]
    backend, decision = choose(settings, options)
    assert backend.name == "diffusers"
    assert "could not load: openvino-f32: openvino: a package is missing" in decision.summary()
    with pytest.raises(BackendUnavailable, match="no CPU backend could load"):
        choose(settings, [Candidate("openvino-f32", broken)])


def test_bf16_is_a_candidate_only_with_native_bf16(settings: Settings) -> None:
    names = [c.name for c in calibration.candidates(settings, bf16=False)]
    assert names == ["openvino-f32", "diffusers"]
    names = [c.name for c in calibration.candidates(settings, bf16=True)]
    assert names == ["openvino-bf16", "openvino-f32", "diffusers"]
    assert calibration.has_native_bf16("avx2 avx512_bf16")
    assert calibration.has_native_bf16("amx_bf16 amx_tile")
    assert not calibration.has_native_bf16("avx2 avx512f avx512_vnni")


def test_the_precision_setting_skips_measuring(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def fake_load(name: str, s: Settings) -> Any:
        seen.append(f"{name}:{s.cpu_precision}")
        return Timed(name, 0.0)

    monkeypatch.setattr("aicreative.backends.load_backend", fake_load)
    forced = Settings(data_dir=settings.data_dir, backend="auto", cpu_precision="f32")
    backend, why = choose_for_settings(forced)
    assert seen == ["openvino:f32"] and why == "OpenVINO in f32, set by AICREATIVE_CPU_PRECISION"
    # INT8 only when the setting asks for it; the reason says what was built.
    int8 = forced.replace(cpu_precision="int8")
    backend, why = choose_for_settings(int8)
    assert seen[-1] == "openvino:int8"
    assert why.startswith("OpenVINO with its fp16 UNet: AICREATIVE_CPU_PRECISION=int8")
    monkeypatch.setattr(Timed, "manifest", {"unet": "int8"}, raising=False)
    backend, why = choose_for_settings(int8)
    assert why == "OpenVINO with an INT8 UNet, set by AICREATIVE_CPU_PRECISION"
    assert not (Path(settings.data_dir) / calibration.CACHE_FILE).exists()


class Counted(Timed):
    """Takes ``delays[i]`` seconds on its i-th image, the last one from then on."""

    def __init__(self, name: str, *delays: float) -> None:
        super().__init__(name, delays[0])
        self.delays, self.images = list(delays), 0

    def generate(self, request: Any, on_progress: Any = None) -> Any:
        self.seconds = self.delays[min(self.images, len(self.delays) - 1)]
        self.images += 1
        return super().generate(request, on_progress)


def test_a_candidate_is_timed_on_its_best_of_two_images() -> None:
    """After one warm-up image, the faster of two: a slow first image (kernels
    still being set up, as bf16's on a Zen 5) must not decide."""
    # warm-up, first timed image, second
    seconds, timed = calibration.time_backend(Counted("bf16", 0.0, 0.4, 0.05))
    assert timed and 0.05 <= seconds < 0.2


def test_a_candidate_whose_warm_up_cannot_win_is_not_timed_further() -> None:
    """A warm-up over twice the best figure so far ends the candidate's
    measurement: on a Zen 4 that saved most of the calibration's time."""
    loser = Counted("diffusers", 0.25)
    seconds, timed = calibration.time_backend(loser, beat=0.1)
    assert (timed, loser.images) == (False, 1) and seconds >= 0.25
    # Within twice the best: timed in full, and its steady state decides.
    close = Counted("openvino-f32", 0.15, 0.05)
    seconds, timed = calibration.time_backend(close, beat=0.1)
    assert (timed, close.images) == (True, 3) and 0.05 <= seconds < 0.1
    # The first candidate has nothing to beat: a slow warm-up never ends it.
    first = Counted("openvino-bf16", 0.3, 0.02)
    seconds, timed = calibration.time_backend(first)
    assert (timed, first.images) == (True, 3) and seconds < 0.1


def test_settings_refuse_an_unknown_precision(tmp_path: Path) -> None:
    from aicreative.errors import ValidationError

    with pytest.raises(ValidationError, match="cpu_precision"):
        Settings(data_dir=tmp_path, cpu_precision="int4")


@pytest.mark.slow
def test_real_calibration_on_the_tiny_pipeline(
    tiny_pipeline_dir: Path,
    tiny_taesd_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OpenVINO (converted for real) against diffusers, timed, cached, then read back."""
    pytest.importorskip("openvino")
    from tests.model_backend_contract import offline

    offline(monkeypatch)
    monkeypatch.setattr(calibration, "cpu_flags", lambda: ("test CPU", "avx2"))
    monkeypatch.setattr(
        calibration, "CALIBRATION_REQUEST", {"prompt": "x", "seed": 1, "width": 256, "height": 256}
    )
    settings = Settings(
        data_dir=tmp_path,
        backend="auto",
        device="cpu",
        model_id=str(tiny_pipeline_dir),
        taesd_id=str(tiny_taesd_dir),
    )
    choice = create_backend(settings)
    assert choice.name in ("openvino", "diffusers")
    assert (
        "measured fastest here" in choice.reason and "s/image measured here" in choice.backend.label
    )
    cache = json.loads((tmp_path / calibration.CACHE_FILE).read_text())
    (entry,) = cache.values()
    assert set(entry["seconds"]) == {"openvino-f32", "diffusers"}
    assert choice.name == entry["winner"].split("-")[0]
    again = create_backend(settings)
    assert again.name == choice.name and "cached from" in again.reason
