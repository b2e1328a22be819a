"""Secrets every process of an instance must share.

Without a configured key they are kept in the database: the first process to ask for one
creates it, everyone after reads the same bytes. With ``SPECTRUS_SECRET_KEY`` set (the
Kubernetes operator keeps it in a Secret) each one is derived from the key instead, so it
survives a database restore into a new instance and is rotated by changing the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from spectrus_domain.storage.db import Database

MIN_KEY_LENGTH = 32


def derive_secret(key: str, name: str) -> bytes:
    """The secret called ``name`` under ``key``: HMAC-SHA256(key, name), 32 bytes."""
    if len(key) < MIN_KEY_LENGTH:
        # Settings validation refuses such a key already; this guards other callers.
        raise ValueError(f"the secret key must be at least {MIN_KEY_LENGTH} characters")
    return hmac.new(key.encode(), name.encode(), hashlib.sha256).digest()


async def instance_secret(db: Database, name: str, *, key: str = "") -> bytes:
    if key:
        return derive_secret(key, name)
    await db.execute(
        "INSERT INTO instance_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        name,
        secrets.token_bytes(32),
    )
    return bytes(await db.fetchval("SELECT value FROM instance_secrets WHERE name = $1", name))
