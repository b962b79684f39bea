"""The gallery key (issue 12, "encrypted at rest, per account"): made and handed over right.

Over real HTTP (``live_server``): ``GET /gallery-key`` answers only a logged-in session,
only its own account's key, never cached, never to another site; the key depends on the
gallery secret and the account's salt, not on the session-signing key; deleting the
account destroys the salt, so no key for its gallery can be made again.
"""

from __future__ import annotations

import base64

from aicreative import Settings, Studio
from aicreative.gallery_keys import GalleryKeys, hkdf_sha256

from ..fixtures_server import login, signup

SAME = {"sec-fetch-site": "same-origin"}


def _key(raw: str) -> bytes:
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))


def test_hkdf_matches_rfc_5869_case_1() -> None:
    okm = hkdf_sha256(bytes([0x0B] * 22), bytes(range(13)), bytes(range(0xF0, 0xFA)), 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_key_per_account_apart_from_the_session_key() -> None:
    keys = GalleryKeys("gallery-secret-of-this-site")
    a = keys.key_for("acc1", "salt1").key
    assert len(a) == 32
    assert keys.key_for("acc1", "salt1").key == a
    assert keys.key_for("acc2", "salt1").key != a
    assert keys.key_for("acc1", "salt2").key != a, "a new salt (deletion) gives another key"
    assert GalleryKeys("another-gallery-secret").key_for("acc1", "salt1").key != a
    assert keys.kid != GalleryKeys("another-gallery-secret").kid
    # Rotating the session-signing key leaves the gallery key as it was.
    one = Studio.local()
    two = Studio(one.store, one.backend, secret_key="x" * 40, gallery_secret="g" * 40)
    three = Studio(one.store, one.backend, secret_key="y" * 40, gallery_secret="g" * 40)
    one.signup("ada", "ada@example.org", "correct horse battery")
    assert two.gallery_key("ada") == three.gallery_key("ada")


def test_a_wipe_instruction_is_spent_once_and_only_when_signed() -> None:
    keys = GalleryKeys("a gallery secret of some length")
    token = keys.wipe_instruction("acct-1", "ada")
    assert keys.read_wipe(token) == ("acct-1", "ada")  # reading spends nothing
    assert keys.spend_wipe(token) == ("acct-1", "ada")
    assert keys.spend_wipe(token) is None  # spent
    assert keys.spend_wipe(token[:-2] + "xx") is None
    other = GalleryKeys("another secret entirely")
    assert other.spend_wipe(keys.wipe_instruction("b", "b")) is None


def test_gallery_secret_is_generated_once_into_the_data_dir(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path)
    first = settings.resolve_gallery_secret()
    assert (tmp_path / "gallery_secret").read_text().strip() == first
    assert Settings(data_dir=tmp_path).resolve_gallery_secret() == first
    assert first != Settings(data_dir=tmp_path).resolve_secret_key()


def test_gallery_key_route(live_server) -> None:  # type: ignore[no-untyped-def]
    signup(live_server, "ada")
    signup(live_server, "bob")
    ada, bob = login(live_server, "ada"), login(live_server, "bob")
    answer = ada.get("/gallery-key", headers=SAME)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    studio = live_server.studio
    assert body["account"] == studio.account_id("ada")
    assert _key(body["key"]) == studio.gallery_key("ada").key
    other = bob.get("/gallery-key", headers=SAME).json()
    assert other["account"] != body["account"] and other["key"] != body["key"]
    # Not logged in, or asked from another site: no key.
    anonymous = live_server.client()
    refused = anonymous.get("/gallery-key", headers=SAME)
    assert refused.status_code == 401 and "key" not in refused.json()
    for headers in ({"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}, {}):
        assert ada.get("/gallery-key", headers=headers).status_code == 403
    # Deleting the account destroys its salt: the same id never gets that key again.
    salt = studio.store.get("ada").gallery_salt
    studio.delete_account_now("ada")
    assert studio.store.get_by_id(body["account"]) is None
    assert studio.gallery_keys.key_for(body["account"], "").key != _key(body["key"])
    assert salt not in live_server.settings.store_path.read_text()
    assert ada.get("/gallery-key", headers=SAME).status_code == 401
