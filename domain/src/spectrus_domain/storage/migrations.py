"""Versioned SQL migrations, applied at start-up and recorded with their checksums.

Files are ``NNNN_name.sql`` in this package's ``migrations`` folder. Each runs in its own
transaction; an advisory lock makes concurrent start-ups apply them once. A migration that
was edited after it was applied stops start-up instead of leaving schemas to drift apart.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # db imports this module
    from spectrus_domain.storage.db import Connection

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x5EC7_0001  # pg_advisory_lock key owned by migrations


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(folder: Path | None = None) -> list[Migration]:
    root = folder or Path(str(resources.files("spectrus_domain.storage") / "migrations"))
    found: list[Migration] = []
    for path in sorted(root.iterdir()):
        match = _FILE.match(path.name)
        if match is None:
            if path.suffix == ".sql":
                raise MigrationError(f"migration file name not NNNN_name.sql: {path.name}")
            continue
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions must be 1..n without gaps, got {versions}")
    return found


async def apply_migrations(
    conn: Connection, migrations: list[Migration] | None = None
) -> list[int]:
    """Apply what is missing; return the versions applied now."""
    todo = migrations if migrations is not None else load_migrations()
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        recorded = {r["version"]: r for r in rows}
        known = {m.version for m in todo}
        if unknown := sorted(set(recorded) - known):
            raise MigrationError(
                f"the database has migrations this program does not know: {unknown} "
                "(was it upgraded by a newer version?)"
            )
        for migration in todo:
            row = recorded.get(migration.version)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{row['name']} was changed after "
                        "it was applied; restore the original file"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
