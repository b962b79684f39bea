"""aicreative.backends.remote against a real local HTTP server.

huggingface_hub sends through httpx(2), so nothing is mocked: the fake
endpoint in tests/fixtures_remote.py receives real requests on 127.0.0.1.
"""

# Fixtures imported from tests/fixtures_remote.py are "redefined" as test arguments:
# ruff: noqa: F811

from __future__ import annotations

import logging
import time
from io import BytesIO
from pathlib import Path

import pytest
from huggingface_hub import constants
from PIL import Image

from aicreative.backends import Backend, BackendUnavailable, load_backend, remote
from aicreative.backends.base import GenerationRequest
from aicreative.backends.remote import RemoteBackend, create
from aicreative.config import Settings
from aicreative.errors import BackendError, Cancelled
from aicreative.studio import Studio
from tests.fixtures_mail import free_port
from tests.fixtures_remote import (  # noqa: F401 - pytest fixture
    ENDPOINT_PATH,
    TOKEN,
    InferenceTestServer,
    Reply,
    inference_server,
    png_for,
)

PROMPT = "a red fox in fresh snow, marker-PROMPT-7Q2"


def settings_for(server: InferenceTestServer, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "backend": "remote",
        "endpoint_url": server.url,
        "hf_token": TOKEN,
        "remote_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def backend_for(server: InferenceTestServer, tmp_path: Path, **overrides: object) -> RemoteBackend:
    return create(settings_for(server, tmp_path, **overrides))


# --- the protocol -----------------------------------------------------------


def test_generate_speaks_the_endpoint_protocol(
    inference_server: InferenceTestServer, tmp_path: Path
) -> None:
    backend = backend_for(inference_server, tmp_path)
    request = GenerationRequest(
        PROMPT,
        negative_prompt="blurry",
        width=320,
        height=256,
        steps=4,
        guidance=1.5,
        seed=42,
        num_images=2,
    )
    progress: list[tuple[int, int]] = []

    images = backend.generate(request, lambda step, total: progress.append((step, total)))

    assert progress == [(1, 2), (2, 2)]  # once per image
    assert len(inference_server.requests) == 2
    for sent, seed in zip(inference_server.requests, [42, 43], strict=True):
        assert sent.method == "POST"
        assert sent.path == ENDPOINT_PATH  # exactly the URL: no suffix added
        assert sent.headers["authorization"] == f"Bearer {TOKEN}"
        assert sent.headers["accept"] == "image/png"
        assert sent.headers["content-type"].startswith("application/json")
        assert sent.json == {
            "inputs": PROMPT,
            "parameters": {
                "negative_prompt": "blurry",
                "height": 256,
                "width": 320,
                "num_inference_steps": 4,
                "guidance_scale": 1.5,
                "seed": seed,
            },
        }
    assert [im.size for im in images] == [(320, 256), (320, 256)]
    assert all(im.mode == "RGB" for im in images)
    # Image i is the answer to the request with seed i (the server colours by seed).
    for image, seed in zip(images, [42, 43], strict=True):
        expected = Image.open(BytesIO(png_for(1, 1, seed))).getpixel((0, 0))
        assert image.getpixel((0, 0)) == expected


def test_unset_negative_prompt_is_left_out_and_zero_guidance_sent(
    inference_server: InferenceTestServer, tmp_path: Path
) -> None:
    backend = backend_for(inference_server, tmp_path)
    backend.generate(GenerationRequest(PROMPT, seed=7))

    params = inference_server.requests[0].json["parameters"]
    assert "negative_prompt" not in params
    assert params["guidance_scale"] == 0.0  # sd-turbo's setting, not "unset"
    assert params["seed"] == 7
    assert params["num_inference_steps"] == 1


def test_random_seed_is_concrete_and_sent(
    inference_server: InferenceTestServer, tmp_path: Path
) -> None:
    backend = backend_for(inference_server, tmp_path)
    request = GenerationRequest(PROMPT, num_images=3).with_seed()
    backend.generate(request)
    sent = [r.json["parameters"]["seed"] for r in inference_server.requests]
    assert sent == request.image_seeds()


def test_is_a_backend(inference_server: InferenceTestServer, tmp_path: Path) -> None:
    backend = load_backend("remote", settings_for(inference_server, tmp_path))
    assert isinstance(backend, RemoteBackend)
    assert isinstance(backend, Backend)
    assert backend.name == "remote"
    assert backend.label == "Dedicated inference endpoint (127.0.0.1)"
    assert TOKEN not in repr(backend)


# --- failures -----------------------------------------------------------------

LOADING_REPLY = Reply.error(503, {"error": "Model is currently loading", "estimated_time": 20})


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply.error(429, {"error": "Rate limit reached"}), remote.RATE_LIMITED),
        (LOADING_REPLY, remote.LOADING),
        (Reply.error(403, {"error": "Forbidden"}), remote.TOKEN_REFUSED),
        (Reply.error(404, {"error": "Not Found"}), remote.NOT_FOUND),
        (Reply.error(500, {"error": f"crashed on {PROMPT}"}), remote._failed(500)),
        (Reply.error(422, {"error": f"bad input: {PROMPT}"}), remote._failed(422)),
        (Reply(200, b"this is not an image", "image/png"), remote.BAD_IMAGE),
        (Reply(200, png_for(64, 64, 1)[:60], "image/png"), remote.BAD_IMAGE),  # truncated
    ],
    ids=["429", "503-loading", "403", "404", "500", "422", "garbage", "truncated"],
)
def test_http_failures_become_clear_backend_errors(
    inference_server: InferenceTestServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
    message: str,
) -> None:
    backend = backend_for(inference_server, tmp_path)
    inference_server.always(reply)

    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as info:
        backend.generate(GenerationRequest(PROMPT, seed=1))

    assert str(info.value) == message
    _assert_prompt_not_leaked(info.value, caplog)


def test_wrong_token_is_refused(inference_server: InferenceTestServer, tmp_path: Path) -> None:
    backend = backend_for(inference_server, tmp_path, hf_token="hf_wrong")
    with pytest.raises(BackendError) as info:
        backend.generate(GenerationRequest(PROMPT, seed=1))
    assert str(info.value) == remote.TOKEN_REFUSED
    assert inference_server.requests[0].headers["authorization"] == "Bearer hf_wrong"


def test_slow_service_times_out(
    inference_server: InferenceTestServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = backend_for(inference_server, tmp_path, remote_timeout=0.3)
    inference_server.always(Reply(200, None, "image/png", delay=2.0))

    started = time.monotonic()
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as info:
        backend.generate(GenerationRequest(PROMPT, seed=1))

    assert str(info.value) == remote.TIMED_OUT
    assert time.monotonic() - started < 1.8
    _assert_prompt_not_leaked(info.value, caplog)


def test_unreachable_service(
    inference_server: InferenceTestServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}{ENDPOINT_PATH}"  # nothing listens there
    backend = backend_for(inference_server, tmp_path, endpoint_url=url)
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as info:
        backend.generate(GenerationRequest(PROMPT, seed=1))
    assert str(info.value) == remote.UNREACHABLE
    _assert_prompt_not_leaked(info.value, caplog)


def test_offline_mode_is_explained(
    inference_server: InferenceTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = backend_for(inference_server, tmp_path)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(BackendError) as info:
        backend.generate(GenerationRequest(PROMPT, seed=1))
    assert str(info.value) == remote.OFFLINE
    assert inference_server.requests == []


def test_failure_midway_stops_after_the_images_made(
    inference_server: InferenceTestServer, tmp_path: Path
) -> None:
    backend = backend_for(inference_server, tmp_path)
    inference_server.script(Reply(), LOADING_REPLY)
    progress: list[tuple[int, int]] = []

    with pytest.raises(BackendError, match="loading"):
        backend.generate(
            GenerationRequest(PROMPT, seed=5, num_images=3),
            lambda step, total: progress.append((step, total)),
        )

    assert progress == [(1, 3)]
    assert len(inference_server.requests) == 2


def test_cancel_from_progress_stops_the_calls(
    inference_server: InferenceTestServer, tmp_path: Path
) -> None:
    backend = backend_for(inference_server, tmp_path)

    def cancel(step: int, total: int) -> None:
        raise Cancelled()

    with pytest.raises(Cancelled):
        backend.generate(GenerationRequest(PROMPT, seed=5, num_images=3), cancel)
    assert len(inference_server.requests) == 1


def _assert_prompt_not_leaked(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    assert PROMPT not in str(error)
    assert "marker-PROMPT" not in caplog.text
    # No chained cause: the library's error text can echo the server's reply,
    # which can echo the prompt, and tracebacks end up in logs.
    assert error.__cause__ is None
    assert error.__suppress_context__ is True


# --- configuration --------------------------------------------------------------


def test_create_refuses_without_endpoint_or_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, backend="remote", hf_token="", endpoint_url="")
    with pytest.raises(BackendUnavailable, match="AICREATIVE_ENDPOINT_URL"):
        create(settings)
    with pytest.raises(BackendUnavailable):
        load_backend("remote", settings)


def test_create_with_model_and_token_contacts_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, hf_token="hf_abc", model_id="stabilityai/sd-turbo")
    backend = create(settings)
    assert backend.label == "stabilityai/sd-turbo via Hugging Face inference"
    assert not backend.dedicated
    assert backend.client.provider == remote.PROVIDER
    assert backend.client.model == "stabilityai/sd-turbo"


def test_create_refuses_a_local_model_folder(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(BackendUnavailable, match="local folder"):
        create(Settings(data_dir=tmp_path, hf_token="hf_abc", model_id=str(folder)))


def test_create_refuses_a_non_http_endpoint(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="http"):
        create(Settings(data_dir=tmp_path, endpoint_url="ftp://example.org/model"))


def test_plain_http_to_another_host_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="aicreative.backends.remote"):
        backend = create(Settings(data_dir=tmp_path, endpoint_url="http://10.1.2.3:8080/gen"))
    assert backend.dedicated
    assert "unencrypted" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aicreative.backends.remote"):
        create(Settings(data_dir=tmp_path, endpoint_url="https://x.endpoints.huggingface.cloud"))
    assert caplog.text == ""


def test_endpoint_without_token_uses_the_machine_login(
    inference_server: InferenceTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documented behaviour of huggingface_hub: no hf_token means HF_TOKEN/`hf auth login`."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    backend = backend_for(inference_server, tmp_path, hf_token="")
    backend.generate(GenerationRequest(PROMPT, seed=1))
    assert inference_server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_settings_from_env(inference_server: InferenceTestServer, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "AICREATIVE_DATA_DIR": str(tmp_path),
            "AICREATIVE_BACKEND": "remote",
            "AICREATIVE_ENDPOINT_URL": inference_server.url,
            "HF_TOKEN": TOKEN,
            "AICREATIVE_REMOTE_TIMEOUT": "5",
        }
    )
    backend = load_backend("remote", settings)
    assert len(backend.generate(GenerationRequest(PROMPT, seed=1))) == 1


# --- with the Studio: failures refund -------------------------------------------------


def test_studio_charges_on_success_and_refunds_on_failure(
    inference_server: InferenceTestServer, tmp_path: Path
) -> None:
    studio = Studio.local(backend=backend_for(inference_server, tmp_path), signup_credits=10)
    studio.signup("ada", "ada@example.org", "correct horse battery")

    result = studio.generate("ada", GenerationRequest(PROMPT, seed=3, num_images=2))
    assert result.balance == 8
    assert result.backend == "remote"
    assert all(png.startswith(b"\x89PNG") for png in result.png)

    inference_server.always(LOADING_REPLY)
    with pytest.raises(BackendError) as info:
        studio.generate("ada", GenerationRequest(PROMPT, seed=3, num_images=2))
    assert remote.LOADING in str(info.value)
    assert "refunded" in str(info.value)
    assert PROMPT not in str(info.value)
    assert studio.balance("ada") == 8

    inference_server.always(Reply(200, None, "image/png", delay=2.0))
    slow = Studio.local(
        backend=backend_for(inference_server, tmp_path, remote_timeout=0.3), signup_credits=4
    )
    slow.signup("bob", "bob@example.org", "correct horse battery")
    with pytest.raises(BackendError, match="did not answer in time"):
        slow.generate("bob", GenerationRequest(PROMPT, seed=1, width=1024, height=1024))
    assert slow.balance("bob") == 4
