"""What every action and query runs with: the database, an id source, a clock, settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from spectrus_domain.config import Settings
from spectrus_domain.ids import SnowflakeGenerator
from spectrus_domain.storage.db import Database


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    db: Database
    settings: Settings
    ids: SnowflakeGenerator
    clock: Callable[[], datetime] = field(default=_utcnow)

    def now(self) -> datetime:
        return self.clock()
