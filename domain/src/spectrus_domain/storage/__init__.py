"""PostgreSQL storage through asyncpg: connection pool, migrations, transactions."""

from spectrus_domain.storage.db import Database, connect
from spectrus_domain.storage.migrations import MigrationError, apply_migrations

__all__ = ["Database", "MigrationError", "apply_migrations", "connect"]
