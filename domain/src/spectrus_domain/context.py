"""What every action and query runs with: the database, an id source, a clock, settings,
and the signer of attachment URLs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from spectrus_domain.attachments import SignedUrls, UrlSigner, load_signer
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
    signer: UrlSigner
    clock: Callable[[], datetime] = field(default=_utcnow)

    @classmethod
    async def open(
        cls,
        db: Database,
        settings: Settings,
        ids: SnowflakeGenerator,
        clock: Callable[[], datetime] = _utcnow,
    ) -> Context:
        signer = await load_signer(db, settings.base_url, secret_key=settings.secret_key)
        return cls(db, settings, ids, signer, clock)

    def now(self) -> datetime:
        return self.clock()

    def urls(self) -> SignedUrls:
        """Attachment URLs signed as of now."""
        return self.signer.at(self.now())
