"""End-to-end fixtures: Spectrus started the way the README says (``./spectrus up``)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from spectrus_gateway.client import GatewayClient

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, port: int | None = None, **env: str) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SPECTRUS_RATE_LIMIT_SCALE": "0",
            # Free ports for the media node, so servers never collide with each other.
            "SPECTRUS_VOICE_PORT": "0",
            "SPECTRUS_MEDIA_CONTROL_PORT": "0",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server-output.log"

    def start(self, timeout: float = 120.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(
            [
                str(ROOT / "spectrus"),
                "up",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"spectrus up exited with {self.proc.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"spectrus up not ready in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def interrupt(self, timeout: float = 60.0) -> int:
        """Ctrl-C, as a person at the terminal would press it."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout)

    def postgres_pid(self) -> int:
        return int((self.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])

    def kill(self) -> None:
        """SIGKILL the server and its PostgreSQL at once: a crash, not a shutdown."""
        assert self.proc is not None
        pg = self.postgres_pid()
        os.killpg(self.proc.pid, signal.SIGKILL)
        os.kill(pg, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.interrupt()


@pytest.fixture
def spectrus(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Makes servers on a data dir under ``tmp_path``; stops them after the test."""
    made: list[Server] = []

    def make(data_dir: Path | None = None, **env: str) -> Server:
        server = Server(data_dir or tmp_path / "data", **env)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


class ServiceProcess:
    """``spectrus api``, ``gateway`` or ``media`` as its own process, as Kubernetes runs
    them. A media process gets its own free voice and control ports (``voice_port``,
    ``control``) and a data dir for its certificate."""

    def __init__(
        self,
        service: str,
        data_dir: Path,
        database_url: str,
        redis_urls: list[str],
        *,
        cluster: bool,
        node_id: int,
    ) -> None:
        self.service = service
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/gateway"
        self.log = data_dir / f"{service}-{self.port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.voice_port = free_port()
        self.control = f"127.0.0.1:{free_port()}"
        self.data_dir = data_dir / f"{service}-{self.port}"
        self.args = [
            str(ROOT / ".venv/bin/spectrus"),
            service,
            "--data-dir",
            str(self.data_dir),
            "--voice-port",
            str(self.voice_port),
            "--media-control-port",
            self.control.rsplit(":", 1)[1],
            "--port",
            str(self.port),
            "--database-url",
            database_url,
            "--redis-urls",
            ",".join(redis_urls),
            "--node-id",
            str(node_id),
            "--rate-limit-scale",
            "0",
            "--log-level",
            "warning",
        ]
        if cluster:
            self.args.append("--redis-cluster")
        self.env: dict[str, str] = {}  # added to this process's environment
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.env},
            )
        probe = {
            "api": f"{self.base}/readyz",
            "gateway": f"{self.base}/healthz",
            # Its certificate is made as it starts: readiness, not trust, is asked here.
            "media": f"https://127.0.0.1:{self.voice_port}/healthz",
        }[self.service]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.service} exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(probe, timeout=1, verify=False).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # the process is still starting; nothing to wait on but its port
        raise RuntimeError(f"{self.service} not ready: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Makes ``spectrus api``/``gateway`` processes; stops them all after the test."""
    made: list[ServiceProcess] = []

    def make(
        service: str,
        database_url: str,
        redis_urls: list[str],
        *,
        cluster: bool,
        node_id: int,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> ServiceProcess:
        process = ServiceProcess(
            service,
            tmp_path / "services",
            database_url,
            redis_urls,
            cluster=cluster,
            node_id=node_id,
        )
        process.args.extend(extra)
        process.env.update(env or {})
        made.append(process)
        return process

    yield make
    for process in made:
        process.stop()


@dataclasses.dataclass
class Instance:
    """One media node, one api and some gateway processes over the same database and Redis."""

    api: ServiceProcess
    gateways: list[ServiceProcess]
    media: ServiceProcess

    @property
    def gateway(self) -> ServiceProcess:
        return self.gateways[0]


@pytest.fixture
def instance(dsn: str, redis_shards: Any, services: Any) -> Callable[..., Instance]:
    """``instance(gateways=N, env={...})`` starts ``spectrus media``, then ``api`` and N
    ``gateway`` processes placing voice on that node, over standalone Redis shards: an
    instance as Kubernetes runs it. ``env`` is added to every process's environment."""

    def start(*, gateways: int = 1, env: dict[str, str] | None = None) -> Instance:
        redis = [s.url for s in redis_shards]
        media = services("media", dsn, redis, cluster=False, node_id=gateways + 2, env=env)
        media.start()
        api = services("api", dsn, redis, cluster=False, node_id=1, env=env)
        nodes = ("--media-nodes", media.control)
        started = [
            services("gateway", dsn, redis, cluster=False, node_id=2 + i, extra=nodes, env=env)
            for i in range(gateways)
        ]
        for process in (api, *started):
            process.start()
        return Instance(api, started, media)

    return start


@pytest.fixture
def voice_login() -> Callable[..., Any]:
    """``async with voice_login(client, server, ca_file) as (ws, ready):`` logs the gateway
    client's user in on the voice WebSocket that VOICE_SERVER_UPDATE ``server`` names,
    trusting ``ca_file``, and checks the answer is HELLO then READY (whose ``d`` it gives)."""

    @contextlib.asynccontextmanager
    async def login(
        client: GatewayClient, server: dict[str, Any], ca_file: Path
    ) -> AsyncIterator[tuple[ClientConnection, dict[str, Any]]]:
        trust = ssl.create_default_context(cafile=str(ca_file))
        async with connect(f"wss://{server['endpoint']}/?v=8", ssl=trust) as ws:
            identify = {
                "server_id": server["guild_id"],
                "user_id": client.user_id,
                "session_id": client.session_id,
                "token": server["token"],
            }
            await ws.send(orjson.dumps({"op": 0, "d": identify}).decode())
            hello = orjson.loads(await ws.recv())
            ready = orjson.loads(await ws.recv())
            assert (hello["op"], ready["op"]) == (8, 2)
            yield ws, ready["d"]

    return login
