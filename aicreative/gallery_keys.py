"""Gallery keys: the per-account key that encrypts a gallery in the browser (issue 12).

Owns how a gallery key is made and how a one-time gallery instruction (wipe
this browser's gallery of a deleted account) is signed. A key is HKDF-SHA256
(RFC 5869, standard library HMAC) of the **gallery secret** with the
account's random ``gallery_salt`` as salt and its ``account_id`` in ``info``:

- The gallery secret is its own setting, apart from the session-signing
  ``secret_key``: rotating ``secret_key`` ends sessions and links only, every
  gallery stays readable. Rotating the gallery secret makes **every** gallery
  in every browser unreadable (like deleting every account's salt), so it is
  done only after a leak of the secret, and users are told to export first.
- Each secret has a version (``kid``): the first 8 hex digits of its SHA-256,
  stored beside each encrypted record, so the page can tell "made under a
  rotated secret" from "damaged".
- Deleting an account deletes its salt: no key for its records can be made
  again, so every copy of its gallery, in any browser, is unreadable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

#: The length of a gallery key: AES-256-GCM in the browser.
KEY_BYTES = 32
#: Seconds a signed wipe instruction stays valid after the deletion.
WIPE_SECONDS = 3600
#: Wipe instructions remembered as spent (each for its hour): a bound on memory.
MAX_SPENT_WIPES = 10_000


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = KEY_BYTES) -> bytes:
    """RFC 5869 HKDF with SHA-256.

    >>> hkdf_sha256(bytes([11] * 22), bytes(range(13)), bytes(range(0xF0, 0xFA)), 42).hex()[:16]
    '3cb25f25faacd57a'
    """
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


@dataclass(frozen=True)
class GalleryKey:
    """One account's gallery key, as the page receives it."""

    account_id: str
    kid: str
    key: bytes

    def as_dict(self) -> dict[str, str]:
        raw = base64.urlsafe_b64encode(self.key).rstrip(b"=").decode()
        return {"account": self.account_id, "kid": self.kid, "key": raw}


class GalleryKeys:
    """Makes gallery keys and signs gallery instructions from the gallery secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self.kid = hashlib.sha256(self._secret).hexdigest()[:8]
        self._wipe = URLSafeTimedSerializer(secret, salt="aicreative.gallery-wipe")
        # account id -> when its instruction was spent: each wipes once.
        self._spent: OrderedDict[str, float] = OrderedDict()
        self._spent_lock = threading.Lock()

    def key_for(self, account_id: str, gallery_salt: str) -> GalleryKey:
        """The key of the gallery of ``account_id`` (salt: the account's random value)."""
        info = f"aicreative gallery v1|{account_id}".encode()
        key = hkdf_sha256(self._secret, gallery_salt.encode(), info)
        return GalleryKey(account_id, self.kid, key)

    def wipe_instruction(self, account_id: str, username: str) -> str:
        """A signed instruction: wipe this browser's gallery of ``account_id`` (just deleted).

        Signed for the account that asked for its deletion; a link anyone
        else writes (another id, another name) fails the signature and wipes
        nothing. It can only name an account that no longer exists, whose
        records no key can read any more, so a replay within the hour harms none.
        """
        return self._wipe.dumps({"a": account_id, "u": username, "t": int(time.time())})

    def spend_wipe(self, token: str) -> tuple[str, str] | None:
        """Like :meth:`read_wipe`, once: the first call spends the instruction.

        The goodbye page asks for it when the user presses "wipe"; a second
        press, a reload or a copied link gets None. Spent ids are kept for the
        instruction's hour, at most ``MAX_SPENT_WIPES`` of them.
        """
        signed = self.read_wipe(token)
        if signed is None:
            return None
        now = time.monotonic()
        with self._spent_lock:
            while self._spent and (
                len(self._spent) >= MAX_SPENT_WIPES
                or next(iter(self._spent.values())) < now - WIPE_SECONDS
            ):
                self._spent.popitem(last=False)
            if signed[0] in self._spent:
                return None
            self._spent[signed[0]] = now
        return signed

    def read_wipe(self, token: str) -> tuple[str, str] | None:
        """(account id, username) of a valid, fresh wipe instruction; None for anything else."""
        try:
            data = self._wipe.loads(token, max_age=WIPE_SECONDS)
            return str(data["a"]), str(data["u"])
        except (BadSignature, KeyError, TypeError):
            return None
