"""One per gateway process: follows the event streams its sessions need and routes each
event, in stream order and exactly once, to the sessions that may see it.

Everything runs in one loop task, so stream state needs no locks. The loop takes work in
batches (bus messages, sessions joining, the periodic head check), works out every
session's deliveries, appends them to the session logs in one store call, and only then
hands the frames to the connections: a session's log is always ahead of its socket.

Gaps are repaired from PostgreSQL: a bus message whose seq skips ahead, a new epoch, a
bus reset, or the head check (which catches the last doorbell of a burst going missing)
makes the hub read the missing range from the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from opentelemetry.trace import SpanKind

from spectrus_domain import queries, tracing
from spectrus_domain.bus import (
    BACKFILLED_EVENTS,
    BACKFILLS,
    Bus,
    BusEvent,
    BusReset,
    Subscription,
)
from spectrus_domain.context import Context
from spectrus_gateway import routing, snapshots
from spectrus_gateway.metrics import COMMIT_TO_DELIVERY
from spectrus_gateway.sessions import (
    MISSING,
    Append,
    SessionRecord,
    SessionStore,
    entry_event,
    entry_guild,
)
from spectrus_gateway.visibility import GuildView

log = logging.getLogger("spectrus.gateway.hub")

HEAD_CHECK_INTERVAL = 1.0
# Guild events that can change which channels a member may see.
_PERMISSION_EVENTS = {
    "CHANNEL_CREATE",
    "CHANNEL_UPDATE",
    "CHANNEL_DELETE",
    "GUILD_ROLE_UPDATE",
    "GUILD_ROLE_DELETE",
    "GUILD_MEMBER_UPDATE",
    "GUILD_UPDATE",
}
BATCH_LIMIT = 500


class Member(Protocol):
    """What the hub needs of a connected session (the shell implements it)."""

    session_id: str
    owner: str
    user_id: int
    bot: bool
    intents: int
    large_threshold: int
    cursors: dict[int, int]

    def deliver(self, seq: int, event: str, data: dict[str, Any], raw: str) -> None: ...

    def lost(self, reason: str) -> None: ...

    def record(self) -> SessionRecord: ...


@dataclass
class Stream:
    stream_id: int
    head: int
    epoch: int | None
    is_guild: bool
    view: GuildView | None = None
    followers: set[Member] = field(default_factory=set)


@dataclass
class Delivery:
    entry: str
    event: str
    data: dict[str, Any]


class Outbox:
    """Deliveries of one batch, per session, in order; plus cursor and follow changes."""

    def __init__(self) -> None:
        self.deliveries: dict[Member, list[Delivery]] = {}
        self.cursors: dict[Member, dict[int, int]] = {}
        self.dropped: dict[Member, list[int]] = {}
        self.routed = 0
        # Stream events applied in this batch, with when and to how many sessions: their
        # commit-to-delivery time and spans are taken once the batch is handed out.
        self.applied: list[tuple[BusEvent, int, int]] = []

    def add(self, session: Member, delivery: Delivery) -> None:
        self.deliveries.setdefault(session, []).append(delivery)
        self.routed += 1

    def moved(self, session: Member, stream_id: int, seq: int) -> None:
        self.cursors.setdefault(session, {})[stream_id] = seq

    def drop(self, session: Member, stream_id: int) -> None:
        self.dropped.setdefault(session, []).append(stream_id)

    def sessions(self) -> set[Member]:
        return set(self.deliveries) | set(self.cursors) | set(self.dropped)


@dataclass
class _Attach:
    session: Member
    first: list[Delivery]
    done: asyncio.Future[None]


@dataclass
class _Direct:
    session: Member
    deliveries: list[Delivery]
    done: asyncio.Future[None]


@dataclass
class _Detach:
    session: Member


@dataclass
class _Ephemeral:
    event: BusEvent


class _Tick:
    pass


Work = BusEvent | BusReset | _Attach | _Direct | _Detach | _Ephemeral | _Tick


class Hub:
    def __init__(
        self,
        ctx: Context,
        bus: Bus,
        store: SessionStore,
        *,
        head_check_interval: float = HEAD_CHECK_INTERVAL,
    ) -> None:
        self.ctx = ctx
        self.bus = bus
        self.store = store
        self.node = uuid.uuid4().hex[:12]
        self.streams: dict[int, Stream] = {}
        self.sessions: set[Member] = set()
        self.head_check_interval = head_check_interval
        self._work: asyncio.Queue[Work] = asyncio.Queue()
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = {"events": 0, "backfilled": 0, "deliveries": 0, "resets": 0}
        self.after_batch: Callable[[], Awaitable[None]] | None = None
        # Told of each guild event once applied, in stream order (voice follows members).
        self.on_applied: Callable[[BusEvent], None] | None = None
        # Adds what lives outside the outbox (presences, voice states) to the GUILD_CREATE
        # of a guild a session joins.
        self.decorate_guild: Callable[[Member, dict[str, Any]], Awaitable[None]] | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._subscription = await self.bus.subscribe()
        self._tasks = [
            asyncio.create_task(self._read_bus(), name="hub-bus"),
            asyncio.create_task(self._ticker(), name="hub-ticker"),
            asyncio.create_task(self._loop(), name="hub-loop"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._subscription is not None:
            await self._subscription.close()

    async def _read_bus(self) -> None:
        assert self._subscription is not None
        async for message in self._subscription.messages():
            self._work.put_nowait(message)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.head_check_interval)
            self._work.put_nowait(_Tick())

    def backlog(self) -> int:
        """Work items waiting for the loop (bus messages, joins, ticks)."""
        return self._work.qsize()

    # --- what the shell asks -------------------------------------------------------------

    async def attach(self, session: Member, first: list[Delivery]) -> None:
        """Add a session following ``session.cursors``; ``first`` (READY, GUILD_CREATEs,
        or RESUMED) goes out before any of its stream events."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._work.put_nowait(_Attach(session, first, done))
        await done

    async def send(self, session: Member, deliveries: list[Delivery]) -> None:
        """Deliveries for one session that do not come from a stream (member chunks)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._work.put_nowait(_Direct(session, deliveries, done))
        await done

    def detach(self, session: Member) -> None:
        self._work.put_nowait(_Detach(session))

    def ephemeral(self, event: BusEvent) -> None:
        """A local ephemeral event (presence, voice state) for this process's sessions;
        other processes get it through the bus."""
        self._work.put_nowait(_Ephemeral(event))

    # --- the loop ----------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            batch = [await self._work.get()]
            while not self._work.empty() and len(batch) < BATCH_LIMIT:
                batch.append(self._work.get_nowait())
            out = Outbox()
            waiting: list[_Attach | _Direct] = []
            for item in batch:
                try:
                    await self._handle(item, out)
                except Exception:
                    log.exception("gateway hub failed on %s", type(item).__name__)
                if isinstance(item, _Attach | _Direct):
                    waiting.append(item)
            try:
                await self._flush(out)
            except Exception:
                log.exception("gateway hub could not deliver a batch")
            else:
                self._delivered(out.applied)
            for item in waiting:
                if not item.done.done():
                    item.done.set_result(None)
            if self.after_batch is not None:
                await self.after_batch()

    async def _handle(self, item: Work, out: Outbox) -> None:
        if isinstance(item, BusEvent):
            await self._on_event(item, out)
        elif isinstance(item, _Ephemeral):
            stream = self.streams.get(item.event.stream_id)
            if stream is not None:
                await self._route(stream, item.event, out)
        elif isinstance(item, BusReset):
            self.stats["resets"] += 1
            log.info("bus reset (%s): checking every stream", item.reason)
            await self._check_heads(out)
        elif isinstance(item, _Tick):
            await self._check_heads(out)
        elif isinstance(item, _Attach):
            await self._attach(item, out)
        elif isinstance(item, _Direct):
            if item.session in self.sessions:
                for delivery in item.deliveries:
                    out.add(item.session, delivery)
        elif isinstance(item, _Detach):
            self._detach(item.session)

    async def _on_event(self, ev: BusEvent, out: Outbox) -> None:
        stream = self.streams.get(ev.stream_id)
        if stream is None:
            return
        if ev.seq is None:
            await self._route(stream, ev, out)
            return
        if stream.epoch is not None and ev.epoch != stream.epoch:
            await self._new_epoch(stream)
            return
        if ev.seq <= stream.head:
            return  # already had it (a backfill got there first)
        if ev.seq > stream.head + 1:
            await self._backfill({stream.stream_id: (stream.head, ev.seq)}, out)
            return
        await self._apply(stream, ev, out)

    async def _apply(self, stream: Stream, ev: BusEvent, out: Outbox) -> None:
        assert ev.seq is not None
        stream.head = ev.seq
        stream.epoch = ev.epoch
        self.stats["events"] += 1
        view = stream.view
        seen_before = None
        if view is not None and ev.event in _PERMISSION_EVENTS:
            seen_before = {s.user_id: view.visible_channels(s.user_id) for s in stream.followers}
        # A deleted channel is seen by nobody once the view drops it: its deletion goes
        # to those who saw it, so it is routed first.
        view_first = ev.event != "CHANNEL_DELETE"
        if view is not None and view_first:
            view.apply(ev.event, ev.data)
        routed_before, started = out.routed, time.time_ns()
        await self._route(stream, ev, out)
        out.applied.append((ev, started, out.routed - routed_before))
        if view is not None and not view_first:
            view.apply(ev.event, ev.data)
        if seen_before is not None:
            await self._visibility_changed(stream, ev, seen_before, out)
        if self.on_applied is not None:
            self.on_applied(ev)

    async def _visibility_changed(
        self, stream: Stream, ev: BusEvent, before: dict[int, set[int]], out: Outbox
    ) -> None:
        """A permission change revealed or hid channels: tell each member concerned, as
        CHANNEL_CREATE and CHANNEL_DELETE (the channel itself, when the event created or
        deleted it, was already announced)."""
        assert stream.view is not None
        itself = {int(ev.data["id"])} if ev.event in ("CHANNEL_CREATE", "CHANNEL_DELETE") else set()
        objects: dict[int, dict[str, Any]] = {}
        for session in list(stream.followers):
            if session.bot and not session.intents & 1:  # GUILDS
                continue
            now = stream.view.visible_channels(session.user_id)
            was = before.get(session.user_id, set())
            for channel_id in sorted((now - was) - itself):
                if channel_id not in objects:
                    objects[channel_id] = await queries.channel(self.ctx.db.pool, channel_id)
                data = objects[channel_id]
                out.add(
                    session,
                    Delivery("i:" + _inline("CHANNEL_CREATE", data), "CHANNEL_CREATE", data),
                )
            for channel_id in sorted((was - now) - itself):
                kind = stream.view.channels.get(channel_id, (0, []))[0]
                gone = {"id": str(channel_id), "guild_id": str(stream.stream_id), "type": kind}
                out.add(
                    session,
                    Delivery("i:" + _inline("CHANNEL_DELETE", gone), "CHANNEL_DELETE", gone),
                )

    async def _route(self, stream: Stream, ev: BusEvent, out: Outbox) -> None:
        # Sessions of one user with the same intents see an event the same way: decide
        # once per such group (a user's devices, a bot's many sessions).
        decided: dict[tuple[int, bool, int], dict[str, Any] | None] = {}
        for session in list(stream.followers):
            await self._route_to(session, stream, ev, out, decided)

    async def _route_to(
        self,
        session: Member,
        stream: Stream,
        ev: BusEvent,
        out: Outbox,
        decided: dict[tuple[int, bool, int], dict[str, Any] | None] | None = None,
    ) -> None:
        if ev.seq is not None:
            if ev.seq <= session.cursors.get(stream.stream_id, 0):
                return  # before this session's starting point, or already delivered
            session.cursors[stream.stream_id] = ev.seq
        key = (session.user_id, session.bot, session.intents)
        if decided is not None and key in decided:
            data = decided[key]
        else:
            data = routing.for_session(
                ev, session.user_id, session.bot, session.intents, stream.view
            )
            if decided is not None:
                decided[key] = data
        own_stream = ev.stream_id == session.user_id
        follow = ev.data.get("_follow") if own_stream else None
        unfollow = ev.data.get("_unfollow") if own_stream else None
        guild_join = ev.event == "GUILD_CREATE" and follow is not None
        if data is not None and not guild_join:
            entry = (
                entry_event(ev.stream_id, ev.seq)
                if ev.seq is not None
                else "i:" + _inline(ev.event, data)
            )
            out.add(session, Delivery(entry, ev.event, data))
        if ev.seq is not None and (data is not None or follow is not None or unfollow is not None):
            # Positions are stored for what was delivered or changed what the session
            # follows; a resume re-examines the rest.
            out.moved(session, stream.stream_id, ev.seq)
        if follow is not None:
            await self._follow(
                session,
                int(follow["stream"]),
                int(follow["after"]),
                out,
                announce=guild_join and data is not None,
            )
        if unfollow is not None:
            self._unfollow(session, int(unfollow), out)

    async def _follow(
        self, session: Member, stream_id: int, after: int, out: Outbox, *, announce: bool = False
    ) -> None:
        """``session`` now follows ``stream_id`` from just after ``after``; with
        ``announce`` (a guild join) its GUILD_CREATE goes first."""
        followed = stream_id in self.streams
        stream = await self._ensure(stream_id)
        if announce:
            if followed:
                # The stream may be behind the join (its doorbells are still on the way):
                # the view the GUILD_CREATE is cut from must include the joiner, so it
                # catches up with the database first. (A stream followed just now was
                # read at the database's head.)
                current = (await snapshots.heads(self.ctx.db, [stream_id])).seqs[stream_id]
                if stream.head < current:
                    await self._backfill({stream_id: (stream.head, current)}, out)
            payload = await self._guild_create(session, stream)
            if payload is None:
                return
            if self.decorate_guild is not None:
                await self.decorate_guild(session, payload)
            out.add(session, Delivery(entry_guild(stream_id), "GUILD_CREATE", payload))
        start = max(session.cursors.get(stream_id, 0), after)
        session.cursors[stream_id] = start
        stream.followers.add(session)
        out.moved(session, stream_id, start)
        await self._catch_up(session, stream, out)

    def _unfollow(self, session: Member, stream_id: int, out: Outbox) -> None:
        session.cursors.pop(stream_id, None)
        out.drop(session, stream_id)
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.followers.discard(session)
            self._maybe_forget(stream)

    async def _catch_up(self, session: Member, stream: Stream, out: Outbox) -> None:
        """Give one session the events it lacks that the hub already routed."""
        cursor = session.cursors.get(stream.stream_id, 0)
        if stream.head <= cursor:
            return
        rows = await snapshots.outbox_range(self.ctx.db, {stream.stream_id: (cursor, stream.head)})
        for row in rows:
            await self._route_to(session, stream, _event_from(row), out)

    async def _ensure(self, stream_id: int) -> Stream:
        stream = self.streams.get(stream_id)
        if stream is not None:
            return stream
        assert self._subscription is not None
        # Subscribe first, then read the head: a doorbell in between is not missed.
        await self._subscription.follow([stream_id])
        async with (
            self.ctx.db.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read"),
        ):
            head = await snapshots.heads(conn, [stream_id])
            is_guild = bool(await conn.fetchval("SELECT true FROM guilds WHERE id = $1", stream_id))
            view = await snapshots.guild_view(conn, stream_id) if is_guild else None
        stream = Stream(stream_id, head.seqs[stream_id], head.epochs.get(stream_id), is_guild, view)
        self.streams[stream_id] = stream
        return stream

    def _maybe_forget(self, stream: Stream) -> None:
        if stream.followers or self._subscription is None:
            return
        del self.streams[stream.stream_id]
        asyncio.get_running_loop().create_task(self._subscription.unfollow([stream.stream_id]))

    async def _guild_create(self, session: Member, stream: Stream) -> dict[str, Any] | None:
        if stream.view is None:
            return None
        async with self.ctx.db.pool.acquire() as conn:
            return await snapshots.guild_create(
                conn,
                stream.stream_id,
                session.user_id,
                stream.view,
                large_threshold=session.large_threshold,
                with_members=not session.bot or bool(session.intents & 2),
            )

    async def _attach(self, item: _Attach, out: Outbox) -> None:
        session = item.session
        self.sessions.add(session)
        for delivery in item.first:
            out.add(session, delivery)
        for stream_id in list(session.cursors):
            stream = await self._ensure(stream_id)
            stream.followers.add(session)
            await self._catch_up(session, stream, out)

    def _detach(self, session: Member) -> None:
        self.sessions.discard(session)
        for stream_id in list(session.cursors):
            stream = self.streams.get(stream_id)
            if stream is not None:
                stream.followers.discard(session)
                self._maybe_forget(stream)

    async def _backfill(self, ranges: dict[int, tuple[int, int]], out: Outbox) -> None:
        rows = await snapshots.outbox_range(self.ctx.db, ranges)
        self.stats["backfilled"] += len(rows)
        BACKFILLS.inc()
        BACKFILLED_EVENTS.inc(len(rows))
        for row in rows:
            stream = self.streams.get(row["stream_id"])
            if stream is not None and row["seq"] == stream.head + 1:
                await self._apply(stream, _event_from(row), out)

    async def _check_heads(self, out: Outbox) -> None:
        if not self.streams:
            return
        current = await snapshots.heads(self.ctx.db, list(self.streams))
        behind: dict[int, tuple[int, int]] = {}
        for stream_id, seq in current.seqs.items():
            stream = self.streams.get(stream_id)
            if stream is None:
                continue
            epoch = current.epochs.get(stream_id)
            if stream.epoch is not None and epoch is not None and epoch != stream.epoch:
                await self._new_epoch(stream)
            elif seq > stream.head:
                behind[stream_id] = (stream.head, seq)
        if behind:
            await self._backfill(behind, out)

    async def _new_epoch(self, stream: Stream) -> None:
        """The stream's numbering restarted (a restore): positions in it mean nothing
        now, so its sessions must identify again."""
        log.warning("stream %s changed epoch; its sessions identify again", stream.stream_id)
        for session in list(stream.followers):
            session.lost("epoch")
        self.streams.pop(stream.stream_id, None)

    def _delivered(self, applied: list[tuple[BusEvent, int, int]]) -> None:
        """Measure what a batch handed to the connections: commit to delivery, and a
        dispatch span in each traced event's trace."""
        now_ns = time.time_ns()
        now = now_ns / 1e9
        for ev, started_ns, sessions in applied:
            if ev.committed_at is not None:
                COMMIT_TO_DELIVERY.observe(max(0.0, now - ev.committed_at))
            if ev.trace is not None:
                tracing.record(
                    f"gateway dispatch {ev.event}",
                    parent=ev.trace,
                    start_ns=started_ns,
                    end_ns=now_ns,
                    kind=SpanKind.CONSUMER,
                    attributes={
                        "spectrus.event": ev.event,
                        "spectrus.stream.seq": ev.seq or 0,
                        "spectrus.gateway.sessions": sessions,
                        "spectrus.gateway.node": self.node,
                    },
                )

    async def _flush(self, out: Outbox) -> None:
        sessions = [s for s in out.sessions() if s in self.sessions]
        if not sessions:
            return
        batch = [
            Append(
                session_id=s.session_id,
                owner=s.owner,
                entries=[d.entry for d in out.deliveries.get(s, [])],
                cursors=out.cursors.get(s, {}),
                dropped=out.dropped.get(s, []),
            )
            for s in sessions
        ]
        results = await self.store.append(batch)
        missing = [i for i, r in enumerate(results) if r == MISSING]
        if missing:
            # The store lost these records (flushed, expired): they are ours, so write
            # them again from what the live sessions hold, and append once more.
            for i in missing:
                await self.store.create(sessions[i].record())
            retried = await self.store.append([batch[i] for i in missing])
            for i, r in zip(missing, retried, strict=True):
                results[i] = r if r != MISSING else None
        # One event usually goes to many sessions as the very same object: encode it once.
        encoded: dict[int, str] = {}
        for session, seq in zip(sessions, results, strict=True):
            deliveries = out.deliveries.get(session, [])
            if seq is None:
                session.lost("moved")
                continue
            first = seq - len(deliveries) + 1
            for i, d in enumerate(deliveries):
                raw = encoded.get(id(d.data))
                if raw is None:
                    raw = encoded[id(d.data)] = orjson.dumps(d.data).decode()
                session.deliver(first + i, d.event, d.data, raw)
            self.stats["deliveries"] += len(deliveries)


def _inline(event: str, data: dict[str, Any]) -> str:
    return orjson.dumps({"t": event, "d": data}).decode()


def _event_from(row: Any) -> BusEvent:
    return BusEvent(
        row["stream_id"],
        row["seq"],
        row["epoch"],
        row["event"],
        row["data"],
        row["guild_id"],
        row["channel_id"],
        tuple(row["user_ids"]) if row["user_ids"] is not None else None,
        row["committed_at"],
    )


def new_owner(node: str) -> str:
    return f"{node}:{uuid.uuid4().hex[:12]}"
