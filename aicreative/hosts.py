"""Host names: the one test for "this machine only".

Owns :func:`is_loopback`, shared by the remote backend (plain HTTP is
allowed to this machine only) and the PostgreSQL audit (a loopback
connection needs no TLS). It imports nothing of the project.

>>> [is_loopback(h) for h in ("localhost", "127.0.0.2", "::1", "db.example.org", None)]
[True, True, True, False, False]
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine: ``localhost`` or a loopback address."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
