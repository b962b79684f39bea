"""The Studio: sign-up, login, sessions, generation with charge and refund."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aicreative import GenerationRequest, Studio, pricing
from aicreative.accounts import PasswordHasher
from aicreative.backends.demo import DemoBackend
from aicreative.errors import (
    AuthError,
    BackendError,
    Cancelled,
    Conflict,
    InsufficientCredits,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from aicreative.images import png_text

from ..conftest import PASSWORD


class FailingBackend:
    name = "failing"
    label = "always fails"

    def __init__(self, exc: BaseException | None = None) -> None:
        self.calls = 0
        self.exc = exc or RuntimeError("CUDA out of memory")

    def generate(self, request, on_progress=None):
        self.calls += 1
        raise self.exc


class CountingBackend(DemoBackend):
    def __init__(self) -> None:
        self.calls = 0

    def generate(self, request, on_progress=None):
        self.calls += 1
        return super().generate(request, on_progress)


def test_local_studio_is_in_memory_and_demo() -> None:
    studio = Studio.local()
    assert studio.backend_name == "demo" and studio.is_demo
    assert "not an AI model" in studio.backend_label
    assert studio.store.path is None


def test_signup_grants_credits_and_validates(studio: Studio) -> None:
    account = studio.signup("ada", "Ada@Example.org", PASSWORD)
    assert (account.username, account.email, account.credits) == ("ada", "Ada@example.org", 10)
    assert studio.balance("ada") == 10
    with pytest.raises(Conflict):
        studio.signup("ADA", "x@example.org", PASSWORD)
    with pytest.raises(Conflict):
        studio.signup("bob", "ada@example.org", PASSWORD)
    with pytest.raises(ValidationError, match="not your username"):
        studio.signup("longusername", "l@example.org", "LongUsername")
    assert studio.store.get("ada").password_hash.startswith("$argon2id$")


def test_login_and_session(studio: Studio, user: str) -> None:
    token = studio.login("ada", PASSWORD)
    assert studio.user_from_session(token).username == "ada"
    assert studio.login("ADA", PASSWORD)  # usernames ignore case
    with pytest.raises(AuthError, match="Wrong username or password"):
        studio.login("ada", "wrong password!")
    with pytest.raises(AuthError, match="Wrong username or password"):
        studio.login("nobody", PASSWORD)
    with pytest.raises(AuthError):
        studio.user_from_session(None)
    with pytest.raises(AuthError):
        studio.user_from_session("forged.token.value")


def test_unknown_user_costs_a_hash_check(studio: Studio, user: str, monkeypatch) -> None:
    seen: list[object] = []
    real = studio.hasher.verify

    def spy(password: str, password_hash: str | None) -> bool:
        seen.append(password_hash)
        return real(password, password_hash)

    monkeypatch.setattr(studio.hasher, "verify", spy)
    with pytest.raises(AuthError):
        studio.login("nobody", PASSWORD)
    assert seen == [None]  # verified against the dummy hash all the same


def test_logout_ends_every_session(studio: Studio, user: str) -> None:
    first = studio.login("ada", PASSWORD)
    second = studio.login("ada", PASSWORD)
    studio.logout(first)
    for token in (first, second):
        with pytest.raises(AuthError, match="ended"):
            studio.user_from_session(token)
    assert studio.user_from_session(studio.login("ada", PASSWORD)).username == "ada"


def test_login_is_throttled(studio: Studio, user: str) -> None:
    for _ in range(studio.throttle.per_pair):
        with pytest.raises(AuthError):
            studio.login("ada", "wrong password!", client="10.0.0.1")
    with pytest.raises(Throttled, match="wait"):
        studio.login("ada", PASSWORD, client="10.0.0.1")
    # Another address (the owner's) is not held up by those failures (issue 11).
    assert studio.login("ada", PASSWORD, client="10.0.0.2")


def test_generate_charges_and_returns_png(studio: Studio, user: str) -> None:
    ticks: list[tuple[int, int]] = []
    result = studio.generate(
        "ada",
        GenerationRequest("a lighthouse", seed=42, num_images=2, steps=2),
        on_progress=lambda s, t: ticks.append((s, t)),
    )
    assert result.cost == 2 and result.balance == 8 == studio.balance("ada")
    assert result.seeds == [42, 43]
    assert ticks == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for png in result.png:
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert Image.open(io.BytesIO(png)).size == (512, 512)
    assert result.data_urls()[0].startswith("data:image/png;base64,")


def test_same_seed_same_pixels(studio: Studio, user: str) -> None:
    a = studio.generate("ada", GenerationRequest("fox", seed=7))
    b = studio.generate("ada", GenerationRequest("fox", seed=7))
    c = studio.generate("ada", GenerationRequest("fox", seed=8))
    assert a.png == b.png
    assert a.png != c.png


def test_random_seed_is_reported(studio: Studio, user: str) -> None:
    result = studio.generate("ada", GenerationRequest("fox"))
    again = studio.generate("ada", GenerationRequest("fox", seed=result.seeds[0]))
    assert again.png == result.png


@pytest.mark.parametrize(
    ("width", "height", "count", "cost"),
    [
        (512, 512, 1, 1),
        (256, 256, 1, 1),
        (576, 512, 1, 2),
        (1024, 1024, 1, 4),
        (1024, 1024, 2, 8),
        (768, 768, 3, 9),
    ],
)
def test_cost(width: int, height: int, count: int, cost: int) -> None:
    assert (
        pricing.cost(GenerationRequest("x", width=width, height=height, num_images=count)) == cost
    )


def test_short_balance_refuses_without_running_backend(settings, hasher) -> None:
    backend = CountingBackend()
    studio = Studio.local(backend, hasher=hasher, signup_credits=3)
    studio.signup("ada", "ada@example.org", PASSWORD)
    with pytest.raises(InsufficientCredits, match="needs 4 and you have 3"):
        studio.generate("ada", GenerationRequest("x", width=1024, height=1024))
    assert backend.calls == 0
    assert studio.balance("ada") == 3


@pytest.mark.parametrize(
    "exc", [RuntimeError("boom"), MemoryError(), BackendError("The image service is busy.")]
)
def test_failing_backend_refunds(exc: BaseException, hasher) -> None:
    backend = FailingBackend(exc)
    studio = Studio.local(backend, hasher=hasher)
    studio.signup("ada", "ada@example.org", PASSWORD)
    with pytest.raises(BackendError, match="refunded") as info:
        studio.generate("ada", GenerationRequest("secret marker prompt", num_images=3))
    assert "secret marker prompt" not in str(info.value)
    assert backend.calls == 1
    assert studio.balance("ada") == 10


def test_cancel_refunds(studio: Studio, user: str) -> None:
    def cancel(step: int, total: int) -> None:
        raise Cancelled()

    with pytest.raises(Cancelled, match="refunded"):
        studio.generate("ada", GenerationRequest("x", steps=3), on_progress=cancel)
    assert studio.balance("ada") == 10


def test_backend_returning_too_few_images_refunds(hasher) -> None:
    class Short(DemoBackend):
        def generate(self, request, on_progress=None):
            return super().generate(request, on_progress)[1:]

    studio = Studio.local(Short(), hasher=hasher)
    studio.signup("ada", "ada@example.org", PASSWORD)
    # The scheduler asks for one image at a time (fairness), so "too few" is none.
    with pytest.raises(BackendError, match="returned 0 images instead of 1"):
        studio.generate("ada", GenerationRequest("x", num_images=2))
    assert studio.balance("ada") == 10


def test_png_has_no_metadata_unless_asked(studio: Studio, user: str) -> None:
    plain = studio.generate("ada", GenerationRequest("marker-prompt-zz", seed=1))
    assert png_text(plain.png[0]) == {}
    assert b"marker-prompt-zz" not in plain.png[0]
    tagged = studio.generate(
        "ada", GenerationRequest("marker-prompt-zz", seed=1, embed_metadata=True)
    )
    text = png_text(tagged.png[0])
    assert text["prompt"] == "marker-prompt-zz" and "seed 1" in text["settings"]
    # The pixels are the same either way.
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(plain.png[0]))),
        np.asarray(Image.open(io.BytesIO(tagged.png[0]))),
    )


def test_two_users_are_separate(studio: Studio, user: str) -> None:
    studio.signup("bob", "bob@example.org", PASSWORD)
    studio.generate("ada", GenerationRequest("x", num_images=4))
    assert studio.balance("ada") == 6 and studio.balance("bob") == 10
    token = studio.login("bob", PASSWORD)
    assert studio.user_from_session(token).username == "bob"


def test_generation_for_unknown_user(studio: Studio) -> None:
    from aicreative.errors import NotFound

    with pytest.raises(NotFound):
        studio.generate("ghost", GenerationRequest("x"))


def test_admin_checks_are_on_the_server(studio: Studio, user: str) -> None:
    studio.signup("root", "root@example.org", PASSWORD)
    with pytest.raises(PermissionDenied):
        studio.admin_accounts("ada")
    with pytest.raises(PermissionDenied):
        studio.admin_grant("ada", "ada", 100)
    with pytest.raises(PermissionDenied):
        studio.admin_delete("ada", "root")
    studio.set_role("root", "admin")
    rows, total = studio.admin_accounts("root", query="ada")
    assert total == 1 and rows == [
        {"username": "ada", "email": "ada@example.org", "credits": 10, "objected": False}
    ]
    assert studio.admin_grant("root", "ada", 5) == 15
    assert studio.admin_grant("root", "ada", -100) == 0


def test_admin_usernames_setting(settings, hasher) -> None:
    from aicreative.store import AccountStore

    settings.admin_usernames = ["boss", "later"]
    studio = Studio(AccountStore.memory(), DemoBackend(), settings=settings, hasher=hasher)
    studio.signup("Boss", "boss@example.org", PASSWORD)
    # A listed name chosen at sign-up grants nothing by itself.
    assert not studio.is_admin("boss") and not studio.account("boss").is_admin
    # At start the setting promotes the accounts that exist then, and stores it.
    assert studio.apply_admin_setting() == ["Boss"]
    assert studio.store.get("boss").role == "admin" and studio.is_admin("boss")
    assert studio.apply_admin_setting() == []  # already stored: nothing to do
    studio.signup("later", "later@example.org", PASSWORD)
    assert not studio.is_admin("later")  # signed up after the start: nothing


def test_password_reset_works_once(studio: Studio, user: str) -> None:
    old_session = studio.login("ada", PASSWORD)
    token = studio.reset_token("ada")
    assert studio.reset_password(token, "a brand new password") == "ada"
    with pytest.raises(AuthError, match="already used"):
        studio.reset_password(token, "another new password")
    with pytest.raises(AuthError):
        studio.user_from_session(old_session)
    studio.login("ada", "a brand new password")


def test_from_settings_uses_file_store_and_demo(settings) -> None:
    studio = Studio.from_settings(settings)
    assert studio.store.path == settings.store_path
    assert studio.backend_name == "demo"
    PasswordHasher.fast()
