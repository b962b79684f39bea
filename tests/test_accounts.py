"""Sign-up rules, password hashing, login throttling and tokens."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from aicreative.accounts import (
    LoginThrottle,
    PasswordHasher,
    RateLimit,
    Tokens,
    validate_email,
    validate_password,
    validate_username,
)
from aicreative.errors import AuthError, Throttled, ValidationError


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("", "choose a username"),
        ("   ", "choose a username"),
        ("ab", "3 to 32"),
        ("a" * 33, "3 to 32"),
        ("has space", "only letters"),
        ("<img src=x onerror=window.__x=1>", "only letters"),
        ("ünïcode", "only letters"),
        ("semi;colon", "only letters"),
        (None, "choose a username"),
    ],
)
def test_bad_usernames(username: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        validate_username(username)
    assert info.value.field == "username"


@pytest.mark.parametrize("username", ["ada", "Ada_Lovelace", "a.b-c_d", "x" * 32, "007"])
def test_good_usernames(username: str) -> None:
    assert validate_username(f"  {username} ") == username


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "enter your email"),
        ("not-an-email", "not valid"),
        ("a@b", "not valid"),
        ("user@localhost", "not valid"),
        ("x@" + "a" * 250 + ".com", "too long"),
        ("two@@example.org", "not valid"),
    ],
)
def test_bad_emails(email: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_email(email)


def test_email_normalised() -> None:
    assert validate_email("  Ada@EXAMPLE.org ") == "Ada@example.org"


@pytest.mark.parametrize(
    ("password", "message"),
    [("", "choose a password"), ("short", "at least 10"), ("x" * 1025, "at most 1024")],
)
def test_bad_passwords(password: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_password(password)


def test_password_limits_inclusive() -> None:
    assert validate_password("x" * 10) and validate_password("x" * 1024)


def test_hashing_is_argon2id_and_verifies() -> None:
    hasher = PasswordHasher.fast()
    h = hasher.hash("correct horse battery")
    assert h.startswith("$argon2id$")
    assert hasher.verify("correct horse battery", h)
    assert not hasher.verify("wrong password!!", h)
    assert not hasher.verify("anything at all", None)
    assert not hasher.verify("anything at all", "not a hash")
    assert PasswordHasher.describe(h) == "set, argon2id"


def test_default_hasher_cost_is_real() -> None:
    h = PasswordHasher().hash("correct horse battery")
    assert "m=65536,t=3" in h


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_slows_after_free_failures_and_recovers() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=3, base_delay=2.0, max_delay=60.0, clock=clock)
    for _ in range(2):
        throttle.check("ada", "1.2.3.4")
        throttle.failure("ada", "1.2.3.4")
    throttle.check("ada", "1.2.3.4")
    throttle.failure("ada", "1.2.3.4")  # third failure: locked for 2 s
    with pytest.raises(Throttled) as info:
        throttle.check("ada", "9.9.9.9")  # the username is locked from anywhere
    assert info.value.retry_after == 2
    assert "wait 2 s" in str(info.value)
    with pytest.raises(Throttled):
        throttle.check("someone-else", "1.2.3.4")  # and the address for anyone
    clock.now += 2.01
    throttle.check("ada", "1.2.3.4")
    throttle.failure("ada", "1.2.3.4")  # fourth: the delay doubles
    with pytest.raises(Throttled) as info:
        throttle.check("ada")
    assert info.value.retry_after == 4
    clock.now += 4.01
    throttle.success("ada", "1.2.3.4")
    throttle.check("ada")


def test_throttle_delay_is_capped() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=1, base_delay=2.0, max_delay=10.0, clock=clock)
    for _ in range(20):
        throttle.failure("ada")
    with pytest.raises(Throttled) as info:
        throttle.check("ada")
    assert info.value.retry_after == 10


def test_rate_limit() -> None:
    clock = Clock()
    limit = RateLimit(2, 60.0, clock=clock)
    limit.hit("k")
    limit.hit("k")
    with pytest.raises(Throttled):
        limit.hit("k")
    limit.hit("other")
    clock.now += 61
    limit.hit("k")


def test_session_token_roundtrip_and_tampering() -> None:
    tokens = Tokens("k" * 32)
    token = tokens.session("id-of-ada", 3)
    claims = tokens.read_session(token)
    assert (claims.account_id, claims.counter) == ("id-of-ada", 3)
    with pytest.raises(AuthError, match="not valid"):
        tokens.read_session(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    with pytest.raises(AuthError, match="not valid"):
        Tokens("z" * 32).read_session(token)  # another key
    forged = URLSafeTimedSerializer("k" * 32, salt="aicreative.password-reset").dumps(
        {"i": "id-of-ada", "c": 3}
    )
    with pytest.raises(AuthError):
        tokens.read_session(forged)  # a token of another purpose
    old_style = URLSafeTimedSerializer("k" * 32, salt="aicreative.session").dumps(
        {"u": "ada", "c": 0}
    )
    with pytest.raises(AuthError):
        tokens.read_session(old_style)  # a token that names a username opens nothing


def test_session_token_expires() -> None:
    tokens = Tokens("k" * 32, session_days=14)
    token = tokens.session("ada", 0)
    with pytest.raises(AuthError, match="expired"):
        tokens.read_session(token, max_age=-1)
    assert tokens.session_max_age == 14 * 86400


def test_reset_token_is_bound_to_the_hash() -> None:
    from aicreative.accounts import reset_matches

    tokens = Tokens("k" * 32)
    token = tokens.reset("id-of-ada", "$argon2id$one")
    account_id, tag = tokens.read_reset(token)
    assert account_id == "id-of-ada"
    assert reset_matches("$argon2id$one", tag)
    assert not reset_matches("$argon2id$two", tag)
    with pytest.raises(AuthError, match="reset link has expired"):
        tokens.read_reset(token, max_age=-1)


def test_csrf_tokens() -> None:
    tokens = Tokens("k" * 32)
    token = tokens.csrf("nonce-1")
    assert tokens.check_csrf(token, "nonce-1")
    assert not tokens.check_csrf(token, "nonce-2")
    assert not tokens.check_csrf(None, "nonce-1")
    assert not tokens.check_csrf("garbage", "nonce-1")
