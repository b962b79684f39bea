"""An account as its owner sees it: what the Studio hands out instead of the record.

Owns the one view of a stored account that leaves the Studio (to the web
layer, the CLI, notebooks): no password hash, no gallery salt, no token
hashes; the role is the effective one the Studio gives.
"""

from __future__ import annotations

import dataclasses

from .store import Account


@dataclasses.dataclass(frozen=True)
class PublicAccount:
    """An account as its owner sees it (no hash)."""

    username: str
    email: str
    credits: int
    role: str
    policy_version: int | None
    objected: bool
    #: The identity (technical, never shown): what the web layer keys sessions by.
    account_id: str = ""
    #: False while the email awaits its confirmation link (no sign-up credits yet).
    email_confirmed: bool = True

    @classmethod
    def of(cls, account: Account, role: str) -> PublicAccount:
        return cls(
            account.username,
            account.email,
            account.credits,
            role,
            account.policy_version,
            account.objected,
            account.account_id,
            account.email_confirmed,
        )

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
