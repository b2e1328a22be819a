"""The instance's diagnostics (``/diag``): what every process is doing right now, for the
instance's admins.

Each process keeps a ``Reporter``: its identity and resource use, sections its service
fills in (connections, sessions, presence, voice rooms, queue depths) and the last
warnings and errors it logged, redacted as the logs are. Processes post their reports to
a ``Board`` every few seconds: a Redis hash shared by every api and gateway process of
an instance (media nodes have no Redis; the gateways report them, from their ``Stats``
calls), or, in a single process (``spectrus up``), the reporters themselves. The api
reads the board, drops reports from processes that stopped posting, and adds totals.

Only instance admins may read it (``STAFF`` in the user's flags, which the first account
registered on an instance gets, or a username in ``SPECTRUS_ADMINS``): it names hosts,
pids and recent errors.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import resource
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import orjson

from spectrus_domain import logs
from spectrus_domain.access import Actor
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError, Error

log = logging.getLogger("spectrus.diag")

STAFF = 1 << 0  # Discord's user flag for its own staff: here, the instance's admins
POST_INTERVAL = 5.0
STALE_AFTER = 3 * POST_INTERVAL  # a process this late has stopped (or cannot reach Redis)
BOARD_KEY = "{spectrus:diag}"  # one hash, one cluster slot
RECENT_ERRORS = 50

Section = Callable[[], Awaitable[dict[str, Any]]]


class RecentErrors(logging.Handler):
    """The last warnings and errors this process logged, as the logs show them
    (tokens, secrets and addresses redacted)."""

    def __init__(self, size: int = RECENT_ERRORS) -> None:
        super().__init__(logging.WARNING)
        self.records: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                message += f" ({type(exc).__name__}: {exc})"
            self.records.append(
                {
                    "at": record.created,
                    "level": record.levelname.lower(),
                    "logger": record.name,
                    "message": logs.redact(message)[:1000],
                }
            )
        except Exception:  # a diagnostics buffer must never break logging
            self.handleError(record)


recent_errors = RecentErrors()


def install() -> None:
    """Keep this process's recent warnings and errors for its reports (once, at start)."""
    root = logging.getLogger()
    if recent_errors not in root.handlers:
        root.addHandler(recent_errors)


class Reporter:
    """One process's report: who it is, what it uses, and its service's sections."""

    def __init__(self, component: str, node: str) -> None:
        self.component = component
        self.node = node
        self.sections: dict[str, Section] = {}
        self.started = time.time()

    async def snapshot(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        report: dict[str, Any] = {
            "component": self.component,
            "node": self.node,
            "host": os.environ.get("HOSTNAME") or socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self.started,
            "at": time.time(),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "rss_bytes": _rss_bytes(),
        }
        for name, section in self.sections.items():
            try:
                report[name] = await section()
            except Exception as exc:  # one broken section must not hide the others
                report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        report["recent_errors"] = list(recent_errors.records)
        return report


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the peak is what there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Board(Protocol):
    async def post(self, report: dict[str, Any]) -> None: ...

    async def reports(self) -> list[dict[str, Any]]: ...


class LocalBoard:
    """One process holds everything (``spectrus up``): its reporters are read live."""

    def __init__(self, reporters: Iterable[Reporter]) -> None:
        self.reporters = list(reporters)

    async def post(self, report: dict[str, Any]) -> None:
        return None  # read live instead

    async def reports(self) -> list[dict[str, Any]]:
        return [await r.snapshot() for r in self.reporters]


class Store(Protocol):
    """The Redis commands the shared board needs (``RedisTopology.call`` has this shape)."""

    async def call(self, key: str, *command: Any) -> Any: ...


class RedisBoard:
    """Reports in one Redis hash, a field per process; a stale field is removed when read."""

    def __init__(self, store: Store, *, now: Callable[[], float] = time.time) -> None:
        self.store = store
        self.now = now

    async def post(self, report: dict[str, Any]) -> None:
        field = f"{report['component']}:{report['node']}"
        await self.store.call(BOARD_KEY, "HSET", BOARD_KEY, field, orjson.dumps(report))

    async def reports(self) -> list[dict[str, Any]]:
        raw: dict[bytes, bytes] | list[bytes] = await self.store.call(
            BOARD_KEY, "HGETALL", BOARD_KEY
        )
        pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
        fresh, stale = [], []
        for field, value in pairs:
            report = orjson.loads(value)
            if self.now() - float(report.get("at", 0)) > STALE_AFTER:
                stale.append(field)
            else:
                fresh.append(report)
        if stale:
            await self.store.call(BOARD_KEY, "HDEL", BOARD_KEY, *stale)
        return fresh


async def post_forever(reporter: Reporter, board: Board, interval: float = POST_INTERVAL) -> None:
    """Post this process's report until cancelled; a failed post is retried next time."""
    while True:
        try:
            await board.post(await reporter.snapshot())
        except Exception as exc:
            log.debug("diagnostics report not posted: %r", exc)
        await asyncio.sleep(interval)


async def is_admin(ctx: Context, actor: Actor) -> bool:
    """The instance's first account (``STAFF``) and the people ``SPECTRUS_ADMINS`` names."""
    if actor.bot:
        return False
    row = await ctx.db.fetchrow(
        "SELECT flags, lower(username) AS name FROM users WHERE id = $1 AND NOT bot",
        actor.user_id,
    )
    if row is None:
        return False
    named = {n.strip().lower() for n in ctx.settings.admins.split(",") if n.strip()}
    return bool(row["flags"] & STAFF) or row["name"] in named


async def read(ctx: Context, actor: Actor, board: Board) -> dict[str, Any]:
    """Every live process's report with the instance's totals; admins only."""
    if not await is_admin(ctx, actor):
        raise DomainError(Error.MISSING_PERMISSIONS)
    reports = sorted(await board.reports(), key=lambda r: (r["component"], r["node"]))
    return {"at": time.time(), "totals": totals(reports), "processes": reports}


def totals(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """What the processes add up to. A media node is reported by every gateway that
    lists it: each counts once, from its freshest report."""
    processes: collections.Counter[str] = collections.Counter(r["component"] for r in reports)
    presence: collections.Counter[str] = collections.Counter()
    queues: dict[str, int] = {}
    media: dict[str, tuple[float, dict[str, Any]]] = {}
    connections = sessions = 0
    for r in reports:
        gateway = r.get("gateway") or {}
        connections += int(gateway.get("connections", 0))
        sessions += int(gateway.get("sessions", 0))
        presence.update(gateway.get("presence", {}))
        for name, depth in (r.get("queues") or {}).items():
            queues[name] = max(queues.get(name, 0), int(depth))
        for node in gateway.get("media_nodes", []):
            if r["at"] >= media.get(node["address"], (0.0, {}))[0]:
                media[node["address"]] = (r["at"], node)
    nodes = [n for _, n in media.values()]
    errors = sorted(
        (
            {**e, "component": r["component"], "node": r["node"]}
            for r in reports
            for e in r.get("recent_errors", [])
        ),
        key=lambda e: -float(e["at"]),
    )
    return {
        "processes": dict(processes),
        "connections": connections,
        "sessions": sessions,
        "presence": dict(presence),
        "voice": {
            "nodes": len(nodes),
            "rooms": sum(int(n.get("rooms", 0)) for n in nodes),
            "sessions": sum(int(n.get("sessions", 0)) for n in nodes),
        },
        "queues": queues,
        "recent_errors": errors[:RECENT_ERRORS],
    }
