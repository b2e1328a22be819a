"""A local multi-process Spectrus deployment for load tests, without pytest.

Embedded PostgreSQL (the wheel ``spectrus up`` uses), a three-node Redis 7 cluster
(Debian's ``redis-server``), ``A`` api processes, ``G`` gateway processes and one media
process, each its own ``spectrus <service>`` process as Kubernetes runs them. Everything
listens on loopback ports picked here and lives under one working directory; ``stop``
ends exactly the processes this object started.
"""

from __future__ import annotations

import contextlib
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from spectrus_cli.embedded_pg import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[2]
SPECTRUS = ROOT / ".venv" / "bin" / "spectrus"


def free_port(*, with_bus: bool = False) -> int:
    """A free loopback port; ``with_bus``: port + 10000 is free too (Redis cluster bus)."""
    for _ in range(500):
        port = random.randrange(20000, 55000)  # noqa: S311 - a port, not a secret
        with contextlib.ExitStack() as stack:
            try:
                for p in (port, port + 10000) if with_bus else (port,):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", p))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def die_with_parent() -> None:
    """Runs in a child between fork and exec: if the runner dies, even by SIGKILL (a test's
    timeout), the kernel sends the child SIGTERM, so no server outlives the run."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def _wait(what: str, ready: Iterator[bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``ready`` until true; the process exiting first is an error with its log."""
    for ok in ready:
        if ok:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        time.sleep(0.05)  # a starting process has nothing to wait on but its port
    raise RuntimeError(f"{what} did not become ready:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"


def _http_ok(url: str, deadline: float) -> Iterator[bool]:
    import ssl

    unverified = ssl._create_unverified_context()  # noqa: S323 - readiness, not trust
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1, context=unverified) as answer:  # noqa: S310 - a loopback URL we built
                yield answer.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            yield False


@dataclass
class Proc:
    """One process of the deployment: its role, how to reach it, and its log."""

    name: str
    args: list[str]
    log: Path
    port: int = 0
    popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def spawn(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(  # noqa: S603 - our own argument list
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C on the runner does not hit it first
                preexec_fn=die_with_parent,  # noqa: PLW1509 - the runner starts no threads before
            )

    def checked(self) -> subprocess.Popen[bytes]:
        assert self.popen is not None
        return self.popen

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.popen is not None
            self.popen.kill()
            self.popen.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)


@dataclass
class Deployment:
    workdir: Path
    apis: int = 1
    gateways: int = 1
    redis_nodes: int = 3
    postgres: EmbeddedPostgres | None = None
    redis: list[Proc] = field(default_factory=list)
    api: list[Proc] = field(default_factory=list)
    gateway: list[Proc] = field(default_factory=list)
    media: Proc | None = None
    media_control: str = ""

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p.port}" for p in self.api]

    @property
    def gateway_urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{p.port}/gateway" for p in self.gateway]

    @property
    def media_ca(self) -> Path:
        assert self.media is not None
        return self.workdir / "media" / "voice" / "ca.crt"

    def services(self) -> list[Proc]:
        return [*self.api, *self.gateway, *([self.media] if self.media else [])]

    def pids(self) -> dict[str, int]:
        """Every process to measure: its display name and pid (PostgreSQL's postmaster;
        the sampler adds its backends)."""
        out = {p.name: p.pid for p in [*self.services(), *self.redis] if p.alive()}
        if self.postgres is not None and self.postgres.process is not None:
            out["postgres"] = self.postgres.process.pid
        return out

    # --- start ------------------------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_postgres()
            self._start_redis_cluster()
            self._start_services()
        except BaseException:
            self.stop()
            raise

    def _start_postgres(self) -> None:
        self.postgres = EmbeddedPostgres(self.workdir / "pg" / "data")
        self.postgres.start()

    def _start_redis_cluster(self) -> None:
        for i in range(self.redis_nodes):
            port = free_port(with_bus=True)
            directory = self.workdir / f"redis{i}"
            directory.mkdir(parents=True, exist_ok=True)
            proc = Proc(
                f"redis-{i}",
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(directory),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{port}.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--logfile",
                    str(directory / "redis.log"),
                ],
                directory / "stdout.log",
                port,
            )
            proc.spawn()
            self.redis.append(proc)
        for proc in self.redis:
            _wait(proc.name, self._redis_pings(proc.port), proc.checked(), proc.log)
        subprocess.run(  # noqa: S603 - fixed arguments
            [  # noqa: S607 - Debian's redis-cli on PATH, as the tests use it
                "redis-cli",
                "--cluster",
                "create",
                *[f"127.0.0.1:{p.port}" for p in self.redis],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            check=True,
            timeout=60,
        )
        for proc in self.redis:  # every node must agree before clients connect
            _wait(
                f"{proc.name} cluster state",
                self._cluster_ok(proc.port),
                proc.checked(),
                proc.log,
            )

    @staticmethod
    def _redis_cli(port: int, *command: str) -> str:
        result = subprocess.run(  # noqa: S603 - fixed arguments
            ["redis-cli", "-p", str(port), *command],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout if result.returncode == 0 else ""

    def _redis_pings(self, port: int) -> Iterator[bool]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            yield self._redis_cli(port, "PING").strip() == "PONG"

    def _cluster_ok(self, port: int) -> Iterator[bool]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            yield "cluster_state:ok" in self._redis_cli(port, "CLUSTER", "INFO")

    def _service(self, service: str, index: int, node_id: int, *extra: str) -> Proc:
        assert self.postgres is not None
        port = free_port()
        data = self.workdir / f"{service}{index}"
        args = [
            str(SPECTRUS),
            service,
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--database-url",
            self.postgres.dsn,
            "--redis-urls",
            ",".join(f"redis://127.0.0.1:{p.port}" for p in self.redis),
            "--redis-cluster",
            "--node-id",
            str(node_id),
            "--rate-limit-scale",
            "0",  # load tests measure the service, not the rate limiter's refusals
            "--no-link-previews",
            "--log-level",
            "warning",
            "--log-format",
            "text",
            *extra,
        ]
        return Proc(f"{service}-{index}", args, self.workdir / f"{service}{index}.log", port)

    def _start_services(self) -> None:
        media_port, control_port = free_port(), free_port()
        self.media_control = f"127.0.0.1:{control_port}"
        media = self._service(
            "media",
            0,
            900,
            "--voice-port",
            str(media_port),
            "--media-control-port",
            str(control_port),
        )
        media.args[media.args.index("--data-dir") + 1] = str(self.workdir / "media")
        media.port = media_port
        self.media = media
        self.api = [self._service("api", i, 1 + i) for i in range(self.apis)]
        self.gateway = [
            self._service("gateway", i, 100 + i, "--media-nodes", self.media_control)
            for i in range(self.gateways)
        ]
        # The first api applies the migrations; the others start once the schema is there.
        first, *rest = self.api
        media.spawn()
        first.spawn()
        self._ready(first, "/readyz")
        for proc in [*rest, *self.gateway]:
            proc.spawn()
        for proc in rest:
            self._ready(proc, "/readyz")
        for proc in self.gateway:
            self._ready(proc, "/healthz")
        self._ready(media, "/healthz", scheme="https")

    def _ready(self, proc: Proc, path: str, scheme: str = "http") -> None:
        url = f"{scheme}://127.0.0.1:{proc.port}{path}"
        _wait(proc.name, _http_ok(url, time.monotonic() + 90), proc.checked(), proc.log)

    # --- stop ---------------------------------------------------------------------------

    def stop(self) -> None:
        for proc in self.services():
            if proc.alive():
                assert proc.popen is not None
                proc.popen.send_signal(signal.SIGINT)  # all at once; then wait for each
        for proc in self.services():
            proc.stop()
        for proc in self.redis:
            if proc.alive():
                assert proc.popen is not None
                proc.popen.terminate()
                try:
                    proc.popen.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if self.postgres is not None:
            self.postgres.stop()


def environment_ok() -> list[str]:
    """What the deployment needs from the machine and is missing."""
    import shutil

    missing = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]
    if not SPECTRUS.exists():
        missing.append(str(SPECTRUS))
    return missing
