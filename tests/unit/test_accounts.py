"""Sign-up rules, password hashing and tokens (throttles: tests/unit/test_limits.py)."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from aicreative.accounts import (
    PasswordHasher,
    Tokens,
    validate_email,
    validate_password,
    validate_username,
)
from aicreative.errors import AuthError, ValidationError


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
    assert validate_password("quokkazeb1")
    assert validate_password(("quokka zebra tiberius " * 50)[:1024])


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


@pytest.mark.parametrize("password", ["1234567890", "password123", "qwertyuiop", "iloveyou12"])
def test_common_passwords_are_refused(password: str) -> None:
    # "1234567890" was accepted before issue 11.
    with pytest.raises(ValidationError, match="most common") as info:
        validate_password(password)
    assert info.value.field == "password"


def test_a_password_made_of_the_username_is_refused_as_guessable() -> None:
    validate_password("quokkazebra42")  # strong on its own...
    with pytest.raises(ValidationError, match="most common"):
        validate_password("quokkazebra42", context=("quokkazebra42", "q@example.org"))
