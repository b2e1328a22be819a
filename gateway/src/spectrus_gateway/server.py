"""The gateway's asyncio shell: WebSocket connections around the sans-I/O ``Connection``.

``Gateway`` owns the hub, the session and presence stores, and serves connections as an
ASGI WebSocket endpoint (``spectrus up`` mounts it at ``/gateway`` next to the API; a
gateway process serves it alone). Each ``Session`` reads frames into its state machine,
answers its requests (IDENTIFY, RESUME, member requests, presence and voice updates)
and writes what the state machine and the hub give it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope
from starlette.types import Send as Send_

from spectrus_domain import queries, tracing, voice
from spectrus_domain.access import Actor
from spectrus_domain.actions import auth
from spectrus_domain.actions import voice as voice_actions
from spectrus_domain.bus import Bus, BusEvent
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError
from spectrus_gateway import snapshots
from spectrus_gateway.hub import Delivery, Hub, new_owner
from spectrus_gateway.media import MediaNodes
from spectrus_gateway.metrics import (
    CONNECTIONS,
    DISPATCHES,
    IDENTIFIES,
    RESUMES,
    SLOW_CONSUMERS_DROPPED,
)
from spectrus_gateway.presence import (
    OFFLINE,
    Presence,
    PresenceStore,
    presence_payload,
)
from spectrus_gateway.protocol.codec import Encoder, UnsupportedTransportError, encoder_for
from spectrus_gateway.protocol.codes import ALL_INTENTS, Close, Intent, disallowed_intents
from spectrus_gateway.protocol.connection import (
    CloseConnection,
    Connection,
    Identify,
    Output,
    RequestMembers,
    Resume,
    Send,
    State,
    UpdatePresence,
    UpdateVoiceState,
)
from spectrus_gateway.routing import redact_content
from spectrus_gateway.sessions import READY_ENTRY, SessionRecord, SessionStore, entry_guild

log = logging.getLogger("spectrus.gateway")

MAX_PENDING_FRAMES = 10_000
"""Frames queued for a client that does not read; past this it is cut off (and may resume)."""
OFFLINE_GRACE = 5.0
"""Seconds after a user's last connection closes before others see them go offline."""
MAINTENANCE_INTERVAL = 15.0
CHUNK_SIZE = 1000
API_VERSIONS = {"9", "10"}


class Gateway:
    def __init__(
        self,
        ctx: Context,
        bus: Bus,
        sessions: SessionStore,
        presence: PresenceStore,
        *,
        offline_grace: float = OFFLINE_GRACE,
        head_check_interval: float = 1.0,
        media: MediaNodes | None = None,
    ) -> None:
        self.ctx = ctx
        self.bus = bus
        self.store = sessions
        self.presence = presence
        self.media = media
        self.hub = Hub(ctx, bus, sessions, head_check_interval=head_check_interval)
        self.hub.on_applied = self._voice_follows
        self.hub.decorate_guild = lambda session, guild: self.decorate_guild(
            guild, bot=session.bot, intents=session.intents
        )
        self.live: set[Session] = set()
        self.offline_grace = offline_grace
        self._tasks: set[asyncio.Task[Any]] = set()
        self._maintenance: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.hub.start()
        self._maintenance = asyncio.create_task(self._maintain(), name="gateway-maintenance")

    async def stop(self) -> None:
        for session in list(self.live):
            session.reconnect()  # ask clients to resume elsewhere
        if self._maintenance is not None:
            self._maintenance.cancel()
        await self.hub.stop()

    def spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    async def __call__(self, scope: Scope, receive: Receive, send: Send_) -> None:
        """The ASGI WebSocket application for ``/gateway?v=10&encoding=json&compress=``.
        Plain ASGI: every frame is one ``send`` call with nothing wrapped around it."""
        if scope["type"] != "websocket":
            return
        if (await receive())["type"] != "websocket.connect":
            return
        params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        await send({"type": "websocket.accept"})
        try:
            encoder = encoder_for(params.get("encoding"), params.get("compress"))
        except UnsupportedTransportError:
            await send(
                {
                    "type": "websocket.close",
                    "code": int(Close.DECODE_ERROR),
                    "reason": "Unsupported encoding or compression",
                }
            )
            return
        if params.get("v", "10") not in API_VERSIONS:
            await send(
                {
                    "type": "websocket.close",
                    "code": int(Close.INVALID_API_VERSION),
                    "reason": "Invalid API version",
                }
            )
            return
        session = Session(self, receive, send, encoder)
        self.live.add(session)
        CONNECTIONS.inc()
        try:
            await session.run()
        finally:
            CONNECTIONS.dec()
            self.live.discard(session)
            await session.finish()

    async def diagnostics(self) -> dict[str, Any]:
        """This process's part of ``/diag``: its connections, sessions and what they
        follow, and the media nodes it places voice on (asked now)."""
        sessions = [s for s in self.live if s.attached]
        return {
            "connections": len(self.live),
            "sessions": len(sessions),
            "users": len({s.user_id for s in sessions}),
            "presence": dict(collections.Counter(s.presence.status for s in sessions)),
            "voice_states": sum(len(s.voice) for s in sessions),
            "streams": len(self.hub.streams),
            "deliveries": self.hub.stats["deliveries"],
            "backfilled": self.hub.stats["backfilled"],
            "media_nodes": await self.media.stats() if self.media is not None else [],
        }

    def queues(self) -> dict[str, int]:
        """Work waiting: the hub's, and the most frames any one connection has unsent."""
        return {
            "hub": self.hub.backlog(),
            "connection_frames_max": max((s.frames.qsize() for s in self.live), default=0),
        }

    async def decorate_guild(self, guild: dict[str, Any], *, bot: bool, intents: int) -> None:
        """Add a GUILD_CREATE's voice states, and its presences (which live outside
        PostgreSQL) when the session may see them."""
        guild_id = int(guild["id"])
        guild["voice_states"] = await voice_actions.states(self.ctx.db.pool, guild_id)
        if not bot or intents & Intent.GUILD_PRESENCES:
            ids = [int(m["user"]["id"]) for m in guild["members"]]
            online = await self.presence.get(ids)
            guild["presences"] = [
                presence_payload(u, guild_id, p)
                for u, p in online.items()
                if p.public() != "offline"
            ]

    # --- presence and voice ------------------------------------------------------------

    async def publish_presence(self, user_id: int, presence: Presence) -> None:
        guild_ids = [
            r["guild_id"]
            for r in await self.ctx.db.fetch(
                "SELECT guild_id FROM members WHERE user_id = $1", user_id
            )
        ]
        await self.bus.publish(
            [
                BusEvent(
                    g,
                    None,
                    0,
                    "PRESENCE_UPDATE",
                    presence_payload(user_id, g, presence),
                    guild_id=g,
                )
                for g in guild_ids
            ]
        )

    async def offline_later(self, user_id: int) -> None:
        """The user's last connection went away: after the grace, if they did not come
        back (a RESUME, another client), tell their guilds they went offline."""
        await asyncio.sleep(self.offline_grace)
        if not await self.presence.get([user_id]):
            await self.publish_presence(user_id, OFFLINE)
            await self.leave_voice(user_id)

    async def leave_voice(self, user_id: int) -> None:
        """The user went offline: out of voice everywhere."""
        for guild_id in await voice_actions.guilds_of(self.ctx.db.pool, user_id):
            await self.disconnect_voice(guild_id, user_id)

    async def disconnect_voice(self, guild_id: int, user_id: int) -> None:
        # Audio stops (and the room hears CLIENT_DISCONNECT) before the guild is told.
        if self.media is not None:
            await self.media.leave(guild_id, user_id)
        await voice_actions.disconnect(self.ctx, guild_id, user_id)

    def _voice_follows(self, ev: BusEvent) -> None:
        """Voice state changes reach the media node through the process holding the
        state's gateway session: it places, moves, mutes or removes the user there.
        Permission changes make that process re-derive its users' states."""
        if ev.guild_id is None:
            return
        if ev.event == "VOICE_STATE_UPDATE":
            for session in self.live:
                if session.session_id and session.session_id == ev.data.get("session_id"):
                    self.spawn(session.follow_voice(ev.guild_id, ev.data))
        elif ev.event in _PERMISSION_EVENTS:
            for session in self.live:
                if ev.guild_id in session.voice:
                    self.spawn(voice_actions.refresh(self.ctx, ev.guild_id, session.user_id))

    async def _clear_ghost_voice(self) -> None:
        """Voice states of users with no connection anywhere: left by a process that died
        with its presences, or by a restart of a one-process instance."""
        in_voice = [
            r["user_id"]
            for r in await self.ctx.db.fetch("SELECT DISTINCT user_id FROM voice_states")
        ]
        online = await self.presence.get(in_voice) if in_voice else {}
        for user_id in in_voice:
            if user_id not in online:
                await self.leave_voice(user_id)

    async def _maintain(self) -> None:
        """Keep this process's presences alive and clear those of dead processes."""
        while True:
            await asyncio.sleep(MAINTENANCE_INTERVAL)
            try:
                await self.presence.refresh(
                    [(s.user_id, s.owner, s.presence) for s in self.live if s.attached]
                )
                await self.store.touch([s.session_id for s in self.live if s.session_id])
                for user_id in await self.presence.sweep():
                    await self.publish_presence(user_id, OFFLINE)
                    await self.leave_voice(user_id)
                await self._clear_ghost_voice()
            except Exception:
                log.exception("gateway maintenance failed")


# What can change one's permissions in a voice channel (SPEAK, CONNECT, VIEW_CHANNEL).
_PERMISSION_EVENTS = {
    "GUILD_MEMBER_UPDATE",
    "CHANNEL_UPDATE",
    "GUILD_ROLE_UPDATE",
    "GUILD_ROLE_DELETE",
}


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("gateway task failed", exc_info=task.exception())


class Session:
    """One client connection; while identified it is also a hub member."""

    def __init__(self, gateway: Gateway, receive: Receive, send: Send_, encoder: Encoder) -> None:
        self.gateway = gateway
        self.ctx = gateway.ctx
        self._receive = receive
        self._send = send
        self.encoder = encoder
        self.conn = Connection(now=time.monotonic())
        self.frames: asyncio.Queue[str | bytes | CloseConnection] = asyncio.Queue()
        self.owner = new_owner(gateway.hub.node)
        self.session_id = ""
        self.user_id = 0
        self.bot = False
        self.intents = 0
        self.large_threshold = 50
        self.cursors: dict[int, int] = {}
        self.voice: dict[int, int] = {}  # guild -> voice channel this session placed us in
        self.attached = False
        self.disconnected = False
        self.presence = Presence("online")

    # --- the connection's life ---------------------------------------------------------

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        self.pump()
        try:
            while self.conn.state is not State.CLOSED:
                timeout = max(self.conn.heartbeat_deadline() - time.monotonic(), 0) + 0.05
                try:
                    message = await asyncio.wait_for(self._receive(), timeout)
                except TimeoutError:
                    self.conn.check(time.monotonic())
                    self.pump()
                    continue
                if message["type"] == "websocket.disconnect":
                    self.disconnected = True
                    break
                frame = (
                    message.get("text") if message.get("text") is not None else message.get("bytes")
                )
                if frame is None:
                    continue
                self.conn.receive(frame, time.monotonic())
                self.pump()
        except OSError:
            self.disconnected = True
        finally:
            if self.conn.state is not State.CLOSED:
                self.conn.close(int(Close.UNKNOWN_ERROR), "Connection lost")
                self.pump()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(writer, 5)
            writer.cancel()

    async def _write(self) -> None:
        send, frames = self._send, self.frames
        while True:
            item = await frames.get()
            try:
                while True:  # everything queued, without going back to the loop in between
                    if isinstance(item, CloseConnection):
                        if not self.disconnected:
                            await send(
                                {
                                    "type": "websocket.close",
                                    "code": item.code,
                                    "reason": item.reason,
                                }
                            )
                        return
                    if isinstance(item, str):
                        await send({"type": "websocket.send", "text": item})
                    else:
                        await send({"type": "websocket.send", "bytes": item})
                    if frames.empty():
                        break
                    item = frames.get_nowait()
            except (OSError, RuntimeError):
                return  # the client went away mid-write

    async def finish(self) -> None:
        if self.attached:
            self.gateway.hub.detach(self)
            await self.gateway.store.release(self.session_id, self.owner)
            remaining = await self.gateway.presence.remove(self.user_id, self.owner)
            if remaining == 0:
                self.gateway.spawn(self.gateway.offline_later(self.user_id))

    def pump(self) -> None:
        """Hand the state machine's outputs to the writer (or to a request handler)."""
        for output in self.conn.take():
            self._output(output)
        if self.frames.qsize() > MAX_PENDING_FRAMES:
            # A client that does not read: drop what it did not take and cut it off; its
            # session stays resumable, so nothing is lost if it comes back.
            while not self.frames.empty():
                self.frames.get_nowait()
            self.frames.put_nowait(CloseConnection(int(Close.UNKNOWN_ERROR), "Too slow"))
            SLOW_CONSUMERS_DROPPED.inc()

    def _output(self, output: Output) -> None:
        if isinstance(output, Send):
            self.frames.put_nowait(self.encoder.encode(output.payload, output.raw_data))
        elif isinstance(output, CloseConnection):
            self.frames.put_nowait(output)
        elif isinstance(output, Identify):
            self.gateway.spawn(self._guarded(self._identify, output))
        elif isinstance(output, Resume):
            self.gateway.spawn(self._guarded(self._resume, output))
        elif isinstance(output, RequestMembers):
            self.gateway.spawn(self._guarded(self._members, output))
        elif isinstance(output, UpdatePresence):
            self.gateway.spawn(self._guarded(self._update_presence, output))
        elif isinstance(output, UpdateVoiceState):
            self.gateway.spawn(self._guarded(self._update_voice, output))

    async def _guarded(self, handler: Callable[[Any], Awaitable[None]], request: Any) -> None:
        try:
            await handler(request)
        except Exception:
            log.exception("gateway request %s failed", type(request).__name__)
            self.conn.fail(Close.UNKNOWN_ERROR)
            self.pump()

    # --- hub member --------------------------------------------------------------------

    def deliver(self, seq: int, event: str, data: dict[str, Any], raw: str | None = None) -> None:
        """Send a dispatch; ``raw`` is ``data`` already JSON-encoded (shared by every
        session the hub gives this event to)."""
        self.conn.dispatch(event, data, seq, raw=raw)
        DISPATCHES.inc()
        self.pump()

    def lost(self, reason: str) -> None:
        """The session moved to another connection or can no longer continue here."""
        if reason == "epoch":
            self.conn.invalid_session(False)
        self.conn.close(
            int(Close.UNKNOWN_ERROR), "Session moved" if reason == "moved" else "Resync"
        )
        self.pump()

    def reconnect(self) -> None:
        self.conn.reconnect()
        self.pump()

    def record(self) -> SessionRecord:
        """The session as this connection knows it, to write back into a store that
        lost it: the client has everything up to ``conn.seq``."""
        return SessionRecord(
            session_id=self.session_id,
            user_id=self.user_id,
            bot=self.bot,
            intents=self.intents,
            large_threshold=self.large_threshold,
            owner=self.owner,
            seq=self.conn.seq,
            log_start=self.conn.seq + 1,
            cursors=dict(self.cursors),
        )

    # --- IDENTIFY -------------------------------------------------------------------------

    async def _authenticate(self, token: str) -> tuple[int, bool] | None:
        try:
            who = await auth.authenticate_token(self.ctx, token)
        except DomainError:
            self.conn.fail(Close.AUTHENTICATION_FAILED)
            self.pump()
            return None
        return who.actor.user_id, who.actor.bot

    async def _identify(self, request: Identify) -> None:
        who = await self._authenticate(request.token)
        if who is None:
            return
        user_id, bot = who
        intents = request.intents
        if bot:
            flags = await self.ctx.db.fetchval(
                "SELECT flags FROM applications WHERE bot_user_id = $1", user_id
            )
            if disallowed_intents(intents, int(flags or 0)):
                self.conn.fail(Close.DISALLOWED_INTENTS)
                self.pump()
                return
        elif intents == 0:
            intents = ALL_INTENTS  # people's clients send no intents and see everything
        self.user_id, self.bot, self.intents = user_id, bot, intents
        self.large_threshold = request.large_threshold
        with_members = not bot or bool(intents & Intent.GUILD_MEMBERS)
        async with (
            self.ctx.db.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            snap = await snapshots.ready(conn, user_id, bot)
            guilds = []
            for guild_id in snap.guild_ids:
                view = await snapshots.guild_view(conn, guild_id)
                if view is None:
                    continue
                payload = await snapshots.guild_create(
                    conn,
                    guild_id,
                    user_id,
                    view,
                    large_threshold=self.large_threshold,
                    with_members=with_members,
                )
                if payload is not None:
                    guilds.append(payload)
        self.session_id = secrets.token_hex(16)
        self.cursors = dict(snap.heads.seqs)
        await self.gateway.store.create(
            SessionRecord(
                session_id=self.session_id,
                user_id=user_id,
                bot=bot,
                intents=intents,
                large_threshold=self.large_threshold,
                owner=self.owner,
                cursors=dict(self.cursors),
                properties=request.properties,
            )
        )
        if self.conn.state is State.CLOSED:
            return
        self.conn.ready(self.session_id)
        presence = _initial_presence(request.presence)
        await self._decorate(guilds)
        ready = {
            "v": 10,
            "user": snap.user,
            "user_settings": {},
            "guilds": [{"id": str(g), "unavailable": True} for g in snap.guild_ids],
            "session_id": self.session_id,
            "resume_gateway_url": self.ctx.settings.websocket_url,
            "session_type": "normal",
            "private_channels": snap.private_channels,
            "relationships": [],
            "read_state": {"version": 1, "partial": False, "entries": snap.read_state},
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "auth": {},
            "shard": [0, 1],
        }
        if snap.application is not None:
            ready["application"] = snap.application
        first = [Delivery(READY_ENTRY, "READY", ready)]
        first += [Delivery(entry_guild(int(g["id"])), "GUILD_CREATE", g) for g in guilds]
        self.attached = True
        IDENTIFIES.inc()
        await self.gateway.hub.attach(self, first)
        await self._set_presence(presence)

    async def _decorate(self, guilds: list[dict[str, Any]]) -> None:
        for guild in guilds:
            await self.gateway.decorate_guild(guild, bot=self.bot, intents=self.intents)

    # --- RESUME ---------------------------------------------------------------------------

    async def _resume(self, request: Resume) -> None:
        who = await self._authenticate(request.token)
        if who is None:
            return
        claimed = (
            await self.gateway.store.claim(request.session_id, self.owner)
            if request.session_id
            else None
        )
        if claimed is None or claimed[0].user_id != who[0]:
            RESUMES.labels("invalid").inc()
            self.conn.invalid_session(False)
            self.pump()
            return
        record, entries = claimed
        after = request.seq
        if after < max(record.log_start - 1, 1) or after > record.seq:
            RESUMES.labels("invalid").inc()
            self.conn.invalid_session(False)  # too far behind (or ahead): identify again
            self.pump()
            return
        self.session_id, self.user_id, self.bot = record.session_id, record.user_id, record.bot
        self.intents, self.large_threshold = record.intents, record.large_threshold
        self.cursors = dict(record.cursors)
        replay = await self._render_entries(entries[after - record.log_start + 1 :])
        if replay is None:
            RESUMES.labels("invalid").inc()
            self.conn.invalid_session(False)
            self.pump()
            return
        RESUMES.labels("ok").inc()
        self.conn.resumed(self.session_id, after)
        for i, (event, data) in enumerate(replay):
            self.conn.dispatch(event, data, after + 1 + i)
        DISPATCHES.inc(len(replay))
        self.pump()
        self.attached = True
        await self.gateway.hub.attach(self, [Delivery('i:{"t":"RESUMED","d":{}}', "RESUMED", {})])
        await self._set_presence(self.presence)

    async def _render_entries(self, entries: list[str]) -> list[tuple[str, dict[str, Any]]] | None:
        """What the log says was sent, rendered again; None if it cannot be."""
        wanted = [tuple(map(int, e[2:].split(":"))) for e in entries if e.startswith("e:")]
        rows = {}
        if wanted:
            found = await self.ctx.db.fetch(
                """SELECT o.stream_id, o.seq, o.event, o.data, o.guild_id FROM outbox o
                   JOIN unnest($1::bigint[], $2::bigint[]) AS w(stream_id, seq)
                   ON o.stream_id = w.stream_id AND o.seq = w.seq""",
                [w[0] for w in wanted],
                [w[1] for w in wanted],
            )
            rows = {(r["stream_id"], r["seq"]): r for r in found}
        rendered: list[tuple[str, dict[str, Any]]] = []
        for entry in entries:
            kind, _, rest = entry.partition(":")
            if kind == "e":
                stream_id, seq = map(int, rest.split(":"))
                row = rows.get((stream_id, seq))
                if row is None:
                    return None  # pruned from the outbox
                rendered.append((row["event"], self._transform(row["event"], row["data"])))
            elif kind == "g":
                payload = await self._guild_create_now(int(rest))
                rendered.append(("GUILD_CREATE", payload or {"id": rest, "unavailable": True}))
            elif kind == "i":
                inline = orjson.loads(rest)
                rendered.append((inline["t"], inline["d"]))
            else:
                return None  # READY cannot be replayed: the client must identify
        return rendered

    def _transform(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        data = {k: v for k, v in data.items() if k not in ("_follow", "_unfollow")}
        if (
            self.bot
            and event in ("MESSAGE_CREATE", "MESSAGE_UPDATE")
            and not self.intents & Intent.MESSAGE_CONTENT
        ):
            data = redact_content(data, self.user_id)
        return data

    async def _guild_create_now(self, guild_id: int) -> dict[str, Any] | None:
        async with (
            self.ctx.db.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            view = await snapshots.guild_view(conn, guild_id)
            if view is None or not view.is_member(self.user_id):
                return None
            payload = await snapshots.guild_create(
                conn,
                guild_id,
                self.user_id,
                view,
                large_threshold=self.large_threshold,
                with_members=not self.bot or bool(self.intents & Intent.GUILD_MEMBERS),
            )
        if payload is not None:
            await self._decorate([payload])
        return payload

    # --- op 8, op 3, op 4 -------------------------------------------------------------

    async def _members(self, request: RequestMembers) -> None:
        for guild_id in request.guild_ids:
            deliveries = await self._member_chunks(guild_id, request)
            if deliveries:
                await self.gateway.hub.send(self, deliveries)

    async def _member_chunks(self, guild_id: int, request: RequestMembers) -> list[Delivery]:
        stream = self.gateway.hub.streams.get(guild_id)
        if stream is None or stream.view is None or not stream.view.is_member(self.user_id):
            return []
        everyone = not request.user_ids and not request.query and request.limit == 0
        if (
            self.bot
            and not self.intents & Intent.GUILD_MEMBERS
            and (everyone or request.query is not None)
        ):
            self.conn.fail(Close.DISALLOWED_INTENTS)  # Discord: listing members needs the intent
            self.pump()
            return []
        pool = self.ctx.db.pool
        not_found: list[str] = []
        if request.user_ids:
            members = []
            for user_id in request.user_ids:
                try:
                    members.append(await queries.member(pool, guild_id, user_id))
                except DomainError:
                    not_found.append(str(user_id))
        elif request.query:
            members = await queries.search_members(
                pool, guild_id, request.query, request.limit or 100
            )
        else:
            members, after = [], 0
            while True:
                page = await queries.members(pool, guild_id, after=after, limit=CHUNK_SIZE)
                members += page
                if len(page) < CHUNK_SIZE or (request.limit and len(members) >= request.limit):
                    break
                after = int(page[-1]["user"]["id"])
            if request.limit:
                members = members[: request.limit]
        chunks = [members[i : i + CHUNK_SIZE] for i in range(0, len(members), CHUNK_SIZE)] or [[]]
        presences = {}
        if request.presences:
            presences = await self.gateway.presence.get([int(m["user"]["id"]) for m in members])
        out = []
        for index, chunk in enumerate(chunks):
            data: dict[str, Any] = {
                "guild_id": str(guild_id),
                "members": chunk,
                "chunk_index": index,
                "chunk_count": len(chunks),
            }
            if request.nonce is not None:
                data["nonce"] = request.nonce
            if index == 0 and not_found:
                data["not_found"] = not_found
            if request.presences:
                data["presences"] = [
                    presence_payload(
                        int(m["user"]["id"]), guild_id, presences[int(m["user"]["id"])]
                    )
                    for m in chunk
                    if int(m["user"]["id"]) in presences
                ]
            out.append(
                Delivery(
                    "i:" + orjson.dumps({"t": "GUILD_MEMBERS_CHUNK", "d": data}).decode(),
                    "GUILD_MEMBERS_CHUNK",
                    data,
                )
            )
        return out

    async def _update_presence(self, request: UpdatePresence) -> None:
        await self._set_presence(
            Presence(request.status, request.activities, {"desktop": request.status}, time.time())
        )

    async def _set_presence(self, presence: Presence) -> None:
        if not presence.updated:
            presence.updated = time.time()
        self.presence = presence
        before = await self.gateway.presence.get([self.user_id])
        combined = await self.gateway.presence.set(self.user_id, self.owner, presence)
        previous = before.get(self.user_id, OFFLINE)
        if (combined.public(), combined.activities) != (previous.public(), previous.activities):
            await self.gateway.publish_presence(self.user_id, combined)

    async def _update_voice(self, request: UpdateVoiceState) -> None:
        """Op 4. A join the member may not make (no CONNECT, a full channel) is ignored,
        as Discord does."""
        guild_id = request.guild_id
        if request.channel_id is None:
            self.voice.pop(guild_id, None)
            await self.gateway.disconnect_voice(guild_id, self.user_id)
            return
        previous = self.voice.get(guild_id)
        # Recorded first: the state's own event may come back before the join returns.
        self.voice[guild_id] = request.channel_id
        try:
            state = await voice_actions.join(
                self.ctx,
                Actor(self.user_id, self.bot),
                guild_id,
                request.channel_id,
                self.session_id,
                self_mute=request.self_mute,
                self_deaf=request.self_deaf,
            )
        except DomainError:
            if previous is None:
                self.voice.pop(guild_id, None)
            else:
                self.voice[guild_id] = previous
            return
        await self._place(guild_id, state)

    async def follow_voice(self, guild_id: int, state: dict[str, Any]) -> None:
        """A change to this session's voice state, in stream order, whoever made it."""
        media = self.gateway.media
        if state["channel_id"] is None:
            if self.voice.pop(guild_id, None) is not None and media is not None:
                await media.leave(guild_id, self.user_id)
            return
        channel_id = int(state["channel_id"])
        if self.voice.get(guild_id) != channel_id:  # a moderator moved us
            self.voice[guild_id] = channel_id
            await self._place(guild_id, state)
        elif media is not None:
            await media.flags(
                voice.Flags(
                    guild_id,
                    self.user_id,
                    state["mute"],
                    state["deaf"],
                    state["self_mute"],
                    state["self_deaf"],
                    may_speak=not state["suppress"],
                )
            )

    async def _place(self, guild_id: int, state: dict[str, Any]) -> None:
        """Put the user in the state's room on the guild's media node; a first placement
        answers with VOICE_SERVER_UPDATE (a live connection just changes rooms)."""
        if self.gateway.media is None:
            return
        with tracing.span("voice place", attributes={"spectrus.guild_id": str(guild_id)}):
            placed = await self.gateway.media.place(
                voice.Place(
                    guild_id,
                    int(state["channel_id"]),
                    self.user_id,
                    self.session_id,
                    state["mute"],
                    state["deaf"],
                    state["self_mute"],
                    state["self_deaf"],
                    may_speak=not state["suppress"],
                )
            )
        if placed is None or placed.moved:  # no media node listed, or a room change
            return
        data = {"token": placed.token, "guild_id": str(guild_id), "endpoint": placed.endpoint}
        entry = "i:" + orjson.dumps({"t": "VOICE_SERVER_UPDATE", "d": data}).decode()
        await self.gateway.hub.send(self, [Delivery(entry, "VOICE_SERVER_UPDATE", data)])


def _initial_presence(raw: dict[str, Any] | None) -> Presence:
    """IDENTIFY's presence (discord.py still sends the legacy ``game`` key)."""
    if not raw:
        return Presence("online", updated=time.time())
    status = (
        raw.get("status")
        if raw.get("status") in ("online", "idle", "dnd", "invisible")
        else "online"
    )
    activities = raw.get("activities")
    if not isinstance(activities, list):
        game = raw.get("game")
        activities = [game] if isinstance(game, dict) else []
    return Presence(
        str(status),
        [a for a in activities if isinstance(a, dict)][:16],
        {"desktop": str(status)},
        time.time(),
    )
