"""Secrets every process of an instance must share, kept in the database: the first
process to ask for one creates it, everyone after reads the same bytes."""

from __future__ import annotations

import secrets

from spectrus_domain.storage.db import Database


async def instance_secret(db: Database, name: str) -> bytes:
    await db.execute(
        "INSERT INTO instance_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        name,
        secrets.token_bytes(32),
    )
    return bytes(await db.fetchval("SELECT value FROM instance_secrets WHERE name = $1", name))
