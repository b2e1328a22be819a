"""Fixtures shared by every test folder: real PostgreSQL, Redis and S3, and a real API.

One embedded PostgreSQL (the same wheel ``spectrus up`` uses) serves the whole session.
Migrations run once into a template database; each test gets its own copy of it, so tests
are isolated and start in milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import obstore
import pytest
from obstore.store import S3Store

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


@contextlib.asynccontextmanager
async def _scratch_database(
    postgres: EmbeddedPostgres, prefix: str, template: str | None = None
) -> AsyncIterator[str]:
    name = prefix + uuid.uuid4().hex[:16]
    admin = await asyncpg.connect(dsn_for(postgres, "postgres"))
    await admin.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    try:
        yield dsn_for(postgres, name)
    finally:
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


@pytest.fixture
async def dsn(postgres: EmbeddedPostgres, template_database: str) -> AsyncIterator[str]:
    async with _scratch_database(postgres, "t_", template_database) as url:
        yield url


@pytest.fixture
async def empty_dsn(postgres: EmbeddedPostgres) -> AsyncIterator[str]:
    """A database with nothing in it, not even the schema (restores go there)."""
    async with _scratch_database(postgres, "e_") as url:
        yield url


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
    return Settings(data_dir=tmp_path, rate_limit_scale=0, link_previews=False)


@pytest.fixture
async def ctx(db: Database, settings: Settings, clock: FakeClock) -> Context:
    # Ids and the context share the fake clock, so message times and "now" agree.
    return await Context.open(db, settings, SnowflakeGenerator(1, clock_ms=clock.ms), clock)


@pytest.fixture
async def http(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    """The real app in-process (rate limits off unless a test turns them on)."""
    app = create_app(ctx, limiter=RateLimiter(scale=ctx.settings.rate_limit_scale))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://spectrus.test/api/v10"
    ) as client:
        yield client


# --- Redis ---------------------------------------------------------------------------


def free_port(below: int = 65536) -> int:
    """A free loopback port under ``below`` (cluster nodes also use port + 10000)."""
    import random
    import socket

    for _ in range(200):
        port = random.randrange(20000, below)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                if below > 55535:
                    return port
                s2 = socket.socket()  # the cluster bus port must be free as well
                try:
                    s2.bind(("127.0.0.1", port + 10000))
                finally:
                    s2.close()
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


class RedisServer:
    """A real redis-server on a free loopback port (Debian's package), owned by a test."""

    def __init__(self, directory: Path, *, cluster: bool = False) -> None:
        self.directory = directory
        self.port = free_port(below=55535 if cluster else 65536)
        self.cluster = cluster
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            "--daemonize",
            "no",
        ]
        if self.cluster:
            args += [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                f"nodes-{self.port}.conf",
                "--cluster-node-timeout",
                "2000",
            ]
        args += ["--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.cli("PING", attempts=200)
        except RuntimeError as exc:
            log_file = self.directory / "redis.log"
            tail = log_file.read_text()[-1500:] if log_file.exists() else "(no log)"
            raise RuntimeError(f"{exc}\nexit code {self.process.poll()}\n{tail}") from None

    def cli(self, *command: str, attempts: int = 1) -> str:
        """Run redis-cli against this server; retry while it is still starting."""
        for attempt in range(attempts):
            result = subprocess.run(
                ["redis-cli", "-p", str(self.port), *command],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode == 0 and "Connection refused" not in result.stdout + result.stderr:
                return result.stdout.strip()
            if attempt + 1 < attempts:
                time.sleep(0.05)  # the server process is still binding its port
        raise RuntimeError(
            f"redis-cli {command} failed on port {self.port}: {result.stderr or result.stdout}"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def redis_shards(tmp_path: Path) -> Iterator[list[RedisServer]]:
    """Two standalone servers, for client-side sharding."""
    servers = [RedisServer(tmp_path / f"redis{i}") for i in range(2)]
    try:
        for s in servers:
            s.start()
        yield servers
    finally:
        for s in servers:
            s.stop()


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[list[RedisServer]]:
    """A three-node Redis 7 cluster (no replicas) on loopback."""
    nodes = [RedisServer(tmp_path / f"cluster{i}", cluster=True) for i in range(3)]
    try:
        for n in nodes:
            n.start()
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *[f"127.0.0.1:{n.port}" for n in nodes],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            check=True,
            timeout=60,
        )
        for n in nodes:  # wait until every node agrees the cluster is up
            deadline = time.monotonic() + 30
            while "cluster_state:ok" not in n.cli("CLUSTER", "INFO"):
                if time.monotonic() > deadline:
                    raise RuntimeError("cluster did not converge")
                time.sleep(0.05)  # gossip takes a moment; nothing to wait on but the state
        yield nodes
    finally:
        for n in nodes:
            n.stop()


# --- S3 ------------------------------------------------------------------------------

S3_ACCESS_KEY, S3_SECRET_KEY = "spectrus-test", "spectrus-test-secret"


def _versitygw() -> str:
    found = os.environ.get("SPECTRUS_TEST_VERSITYGW") or shutil.which("versitygw")
    if not found:
        gopath = subprocess.run(
            ["go", "env", "GOPATH"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidate = Path(gopath or Path.home() / "go") / "bin" / "versitygw"
        found = str(candidate) if candidate.exists() else None
    if not found:
        pytest.fail("versitygw (the S3 server the tests use) is missing: ./run-tests builds it")
    return found


@dataclass(frozen=True)
class S3Server:
    """A real S3-compatible server (versitygw over a directory) on a free loopback port."""

    endpoint: str

    def settings_for(self, bucket: str) -> dict[str, str]:
        return {
            "s3_bucket": bucket,
            "s3_endpoint": self.endpoint,
            "s3_access_key_id": S3_ACCESS_KEY,
            "s3_secret_access_key": S3_SECRET_KEY,
        }

    def create_bucket(self, name: str) -> None:
        # CreateBucket is a signed PUT on the bucket itself; obstore presigns it.
        import urllib.request

        store = S3Store(
            name,
            endpoint=self.endpoint,
            region="us-east-1",
            access_key_id=S3_ACCESS_KEY,
            secret_access_key=S3_SECRET_KEY,
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )
        url = obstore.sign(store, "PUT", "", timedelta(minutes=5))
        with urllib.request.urlopen(urllib.request.Request(url, method="PUT")) as answer:
            assert answer.status == 200, answer.status


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    import urllib.error
    import urllib.request

    data = tmp_path_factory.mktemp("s3")
    port = free_port()
    process = subprocess.Popen(
        [
            _versitygw(),
            "--port",
            f"127.0.0.1:{port}",
            "--access",
            S3_ACCESS_KEY,
            "--secret",
            S3_SECRET_KEY,
            "--quiet",
            "--health",
            "/health",
            "posix",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint + "/health", timeout=1).read()
            break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"versitygw exited: {stderr}") from None
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("versitygw did not answer within 30 s") from None
            time.sleep(0.02)  # the server process is still binding its port
    yield S3Server(endpoint)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A new, empty bucket for one test."""
    name = "t-" + uuid.uuid4().hex[:16]
    s3_server.create_bucket(name)
    return name
