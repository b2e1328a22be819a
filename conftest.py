"""Fixtures shared by every test folder: real PostgreSQL and a real API.

One embedded PostgreSQL (the same wheel ``spectrus up`` uses) serves the whole session.
Migrations run once into a template database; each test gets its own copy of it, so tests
are isolated and start in milliseconds.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from spectrus_api.app import create_app
from spectrus_api.ratelimit import RateLimiter
from spectrus_cli.embedded_pg import EmbeddedPostgres
from spectrus_domain.config import Settings
from spectrus_domain.context import Context
from spectrus_domain.ids import SnowflakeGenerator
from spectrus_domain.storage import Database, apply_migrations, connect

TEMPLATE = "spectrus_template"


class FakeClock:
    """Injected time for tests that need expiry; starts at the real now."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def ms(self) -> int:
        return int(self.now.timestamp() * 1000)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "postgres")
    server.start()
    yield server
    server.stop()


def dsn_for(server: EmbeddedPostgres, database: str) -> str:
    return f"postgresql://postgres@/{database}?host={server.socket_dir}"


@pytest.fixture(scope="session")
def template_database(postgres: EmbeddedPostgres) -> str:
    import asyncio

    async def build() -> None:
        admin = await asyncpg.connect(dsn_for(postgres, "postgres"))
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
        await admin.close()
        conn = await asyncpg.connect(dsn_for(postgres, TEMPLATE))
        await apply_migrations(conn)
        await conn.close()

    asyncio.run(build())
    return TEMPLATE


@pytest.fixture
async def dsn(postgres: EmbeddedPostgres, template_database: str) -> AsyncIterator[str]:
    name = "t_" + uuid.uuid4().hex[:16]
    admin = await asyncpg.connect(dsn_for(postgres, "postgres"))
    await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_database}")
    try:
        yield dsn_for(postgres, name)
    finally:
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


@pytest.fixture
async def db(dsn: str) -> AsyncIterator[Database]:
    database = await connect(dsn, min_size=1, max_size=10, migrate=False)
    yield database
    await database.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, rate_limit_scale=0)


@pytest.fixture
def ctx(db: Database, settings: Settings, clock: FakeClock) -> Context:
    # Ids and the context share the fake clock, so message times and "now" agree.
    return Context(
        db=db, settings=settings, ids=SnowflakeGenerator(1, clock_ms=clock.ms), clock=clock
    )


@pytest.fixture
async def http(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    """The real app in-process (rate limits off unless a test turns them on)."""
    app = create_app(ctx, limiter=RateLimiter(scale=ctx.settings.rate_limit_scale))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://spectrus.test/api/v10"
    ) as client:
        yield client
