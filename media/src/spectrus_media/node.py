"""A media node's voice sessions: placements from the gateway, voice WebSocket logins,
and the control calls that keep the Rust packet router in step.

A *placement* (``Place``) says user U of guild G may be in room C; it carries a one-time
token that the user's voice client presents in IDENTIFY. From IDENTIFY until ``Leave``,
the placement owns one session in the router (its SSRC, key and mode). The WebSocket
may drop and RESUME meanwhile; the router session and the room stay.

A *draining* node (``Drain``, before it is retired) takes no new guilds: it refuses to
place users of a guild nobody is placed for here, and keeps serving the calls it has.

Everything here runs on the event loop; router calls are short control operations
(a lock and a table update on the Rust side), never per packet.
"""

from __future__ import annotations

import hmac
import itertools
import logging
import secrets
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from spectrus_domain import voice
from spectrus_media.protocol import HEARTBEAT_INTERVAL_MS, Close, Op, encode

log = logging.getLogger("spectrus.media")

REPLAY_BUFFER = 128


class Router(Protocol):
    """The part of ``spectrus_media_native.VoiceRouter`` the node drives."""

    @property
    def address(self) -> tuple[str, int]: ...
    def add_session(
        self, session_id: int, ssrc: int, room_id: int, mode: str, key: bytes
    ) -> None: ...
    def remove_session(self, session_id: int) -> bool: ...
    def move_session(self, session_id: int, room_id: int) -> None: ...
    def set_mode(self, session_id: int, mode: str, key: bytes) -> None: ...
    def set_flags(self, session_id: int, *, muted: bool, deafened: bool) -> None: ...
    def counters(self) -> dict[str, int]: ...


class Link(Protocol):
    """The WebSocket a voice session is currently attached to."""

    def send(self, text: str) -> None: ...
    def close(self, code: Close) -> None: ...


@dataclass
class VoiceSession:
    guild_id: int
    user_id: int
    gateway_session: str
    token: str
    channel_id: int
    flags: voice.Flags
    router_id: int = 0  # 0 until IDENTIFY adds the session to the router
    ssrc: int = 0
    key: bytes = b""
    mode: str = ""
    speaking: int = 0
    link: Link | None = None
    seq: int = 0
    sent: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER))

    def emit(self, op: Op, d: Any) -> None:
        """Send a sequenced message; kept for replay after a RESUME."""
        self.seq += 1
        text = encode(op, d, self.seq)
        self.sent.append((self.seq, text))
        if self.link is not None:
            self.link.send(text)

    def replay_after(self, seq_ack: int) -> list[str] | None:
        """What the client missed, or None if the buffer no longer reaches back that far."""
        if seq_ack >= self.seq:
            return []
        if not self.sent or self.sent[0][0] > seq_ack + 1:
            return None
        return [text for seq, text in self.sent if seq > seq_ack]


class DrainingError(Exception):
    """A draining node was asked to take a guild it has no voice for."""


class MediaNode:
    def __init__(
        self, router: Router, endpoint: str, public_host: str, modes: tuple[str, ...]
    ) -> None:
        self.router = router
        self.endpoint = endpoint
        self.public_host = public_host
        self.modes = modes
        self.draining = False
        self._by_user: dict[tuple[int, int], VoiceSession] = {}
        self._guild_users: Counter[int] = Counter()  # placements per guild
        self._ids = itertools.count(1)
        self._ssrcs = itertools.count(secrets.randbelow(1 << 30) + 1)

    # --- control (from the gateway, over gRPC) -------------------------------------------

    def place(self, req: voice.Place) -> voice.Placed:
        flags = voice.Flags(
            req.guild_id,
            req.user_id,
            req.mute,
            req.deaf,
            req.self_mute,
            req.self_deaf,
            req.may_speak,
        )
        current = self._by_user.get((req.guild_id, req.user_id))
        if current is not None and current.gateway_session == req.session_id:
            if current.channel_id != req.channel_id:
                self._move(current, req.channel_id)
            self._apply_flags(current, flags)
            return voice.Placed(current.token, self.endpoint, moved=current.router_id != 0)
        if self.draining and not self._guild_users[req.guild_id]:
            # Retiring: the guild's call is not here, so it starts on another node.
            raise DrainingError(req.guild_id)
        if current is not None:  # the user joined from another client: that one leaves
            self._drop(current, Close.DISCONNECTED)
        session = VoiceSession(
            req.guild_id,
            req.user_id,
            req.session_id,
            secrets.token_urlsafe(24),
            req.channel_id,
            flags,
        )
        self._by_user[(req.guild_id, req.user_id)] = session
        self._guild_users[req.guild_id] += 1
        return voice.Placed(session.token, self.endpoint, moved=False)

    def set_flags(self, flags: voice.Flags) -> bool:
        session = self._by_user.get((flags.guild_id, flags.user_id))
        if session is None:
            return False
        self._apply_flags(session, flags)
        return True

    def leave(self, guild_id: int, user_id: int) -> bool:
        session = self._by_user.get((guild_id, user_id))
        if session is None:
            return False
        self._drop(session, Close.DISCONNECTED)
        return True

    def hosts(self, guild_id: int) -> bool:
        """Whether anyone of the guild is placed here (``Locate``)."""
        return self._guild_users[guild_id] > 0

    def drain(self, draining: bool) -> voice.NodeStats:
        if draining != self.draining:
            log.info("media node %s", "draining" if draining else "taking new guilds again")
        self.draining = draining
        return self.stats()

    def stats(self) -> voice.NodeStats:
        rooms = {s.channel_id for s in self._by_user.values() if s.router_id}
        live = sum(1 for s in self._by_user.values() if s.router_id)
        return voice.NodeStats(
            self.endpoint,
            live,
            len(rooms),
            len(self._guild_users),
            self.draining,
            self.router.counters(),
        )

    # --- the voice WebSocket ---------------------------------------------------------

    def identify(
        self, link: Link, server_id: int, user_id: int, session_id: str, token: str
    ) -> VoiceSession | None:
        session = self._login(server_id, user_id, session_id, token)
        if session is None:
            return None
        if session.router_id:  # a second IDENTIFY for a live session starts it afresh
            self.router.remove_session(session.router_id)
            session.router_id = 0
        if session.link is not None:
            session.link.close(Close.SESSION_INVALID)
        session.link, session.seq = link, 0
        session.sent.clear()
        session.key, session.ssrc, session.mode = (
            secrets.token_bytes(32),
            next(self._ssrcs),
            self.modes[0],
        )
        session.router_id = next(self._ids)
        self.router.add_session(
            session.router_id, session.ssrc, session.channel_id, session.mode, session.key
        )
        # Deafened until SELECT_PROTOCOL: the client has no key before SESSION_DESCRIPTION.
        self.router.set_flags(session.router_id, muted=True, deafened=True)
        host, port = self.router.address
        session.emit(
            Op.READY,
            {
                "ssrc": session.ssrc,
                "ip": self.public_host or host,
                "port": port,
                "modes": list(self.modes),
                "heartbeat_interval": HEARTBEAT_INTERVAL_MS,
            },
        )
        return session

    def resume(
        self, link: Link, server_id: int, session_id: str, token: str, seq_ack: int
    ) -> VoiceSession | None:
        session = next(
            (
                s
                for s in self._by_user.values()
                if s.guild_id == server_id and s.gateway_session == session_id
            ),
            None,
        )
        if (
            session is None
            or not session.router_id
            or not hmac.compare_digest(session.token, token)
        ):
            return None
        missed = session.replay_after(seq_ack)
        if missed is None:
            return None
        if session.link is not None:
            session.link.close(Close.SESSION_INVALID)
        session.link = link
        for text in missed:
            link.send(text)
        session.emit(Op.RESUMED, None)
        return session

    def select(self, session: VoiceSession, mode: str) -> None:
        if mode != session.mode:
            self.router.set_mode(session.router_id, mode, session.key)
            session.mode = mode
        self._apply_flags(session, session.flags)
        session.emit(
            Op.SESSION_DESCRIPTION,
            {
                "mode": mode,
                "secret_key": list(session.key),
                "audio_codec": "opus",
                "video_codec": None,
                "media_session_id": secrets.token_hex(16),
                "dave_protocol_version": 0,  # no end-to-end layer; transport AEAD only
            },
        )
        others = [s for s in self.occupants(session.channel_id) if s is not session and s.router_id]
        if others:
            session.emit(Op.CLIENTS_CONNECT, {"user_ids": [str(s.user_id) for s in others]})
        for other in others:  # listeners learn which SSRC is whom from SPEAKING
            session.emit(Op.SPEAKING, self._speaking(other))
            other.emit(Op.CLIENTS_CONNECT, {"user_ids": [str(session.user_id)]})
            # Before the joiner's first packet, so no listener drops it as an unknown SSRC.
            other.emit(Op.SPEAKING, self._speaking(session))

    def speaking(self, session: VoiceSession, value: int) -> None:
        session.speaking = value
        for other in self.occupants(session.channel_id):
            if other is not session and other.router_id:
                other.emit(Op.SPEAKING, self._speaking(session))

    def detach(self, session: VoiceSession, link: Link) -> None:
        """The WebSocket closed; the session stays for a RESUME until the gateway says
        the user left (or their gateway session ends)."""
        if session.link is link:
            session.link = None

    def end(self, session: VoiceSession, link: Link) -> None:
        """A connection without resumption (a browser's) ended: its router session goes,
        the placement stays until the gateway says the user left."""
        if session.link is not link:
            return
        session.link = None
        if session.router_id:
            self._announce_departure(session)
            self.router.remove_session(session.router_id)
            session.router_id = 0

    # --- helpers ----------------------------------------------------------------------

    def occupants(self, channel_id: int) -> Iterator[VoiceSession]:
        return (s for s in self._by_user.values() if s.channel_id == channel_id)

    def _login(
        self, server_id: int, user_id: int, session_id: str, token: str
    ) -> VoiceSession | None:
        session = self._by_user.get((server_id, user_id))
        if session is None or session.gateway_session != session_id:
            return None
        return session if hmac.compare_digest(session.token, token) else None

    @staticmethod
    def _speaking(session: VoiceSession) -> dict[str, Any]:
        return {"user_id": str(session.user_id), "ssrc": session.ssrc, "speaking": session.speaking}

    def _apply_flags(self, session: VoiceSession, flags: voice.Flags) -> None:
        session.flags = flags
        if session.router_id and session.mode:
            self.router.set_flags(
                session.router_id,
                muted=flags.mute or not flags.may_speak,
                deafened=flags.deaf or flags.self_deaf,
            )

    def _move(self, session: VoiceSession, channel_id: int) -> None:
        self._announce_departure(session)
        session.channel_id = channel_id
        if session.router_id:
            self.router.move_session(session.router_id, channel_id)
            others = [s for s in self.occupants(channel_id) if s is not session and s.router_id]
            if others:
                session.emit(Op.CLIENTS_CONNECT, {"user_ids": [str(s.user_id) for s in others]})
            for other in others:
                session.emit(Op.SPEAKING, self._speaking(other))
                other.emit(Op.CLIENTS_CONNECT, {"user_ids": [str(session.user_id)]})
                other.emit(Op.SPEAKING, self._speaking(session))

    def _announce_departure(self, session: VoiceSession) -> None:
        if not session.router_id:
            return
        for other in self.occupants(session.channel_id):
            if other is not session and other.router_id:
                other.emit(Op.CLIENT_DISCONNECT, {"user_id": str(session.user_id)})

    def _drop(self, session: VoiceSession, code: Close) -> None:
        self._announce_departure(session)
        del self._by_user[(session.guild_id, session.user_id)]
        self._guild_users[session.guild_id] -= 1
        if not self._guild_users[session.guild_id]:
            del self._guild_users[session.guild_id]
        if session.router_id:
            self.router.remove_session(session.router_id)
        if session.link is not None:
            session.link.close(code)
            session.link = None
