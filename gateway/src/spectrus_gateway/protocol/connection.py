"""One gateway connection as a state machine: frames and time in, outputs out.

The shell feeds received frames (``receive``) and the clock (``check``), answers the
requests this emits (authenticate an IDENTIFY, load a session for a RESUME, ...) by
calling ``ready``/``resumed``/``fail``, and sends what ``take`` returns, in order.
Nothing here blocks, sleeps or touches a socket, so every rule below is unit-testable
with injected time:

- HELLO is the first thing sent; HEARTBEATs are answered at once with HEARTBEAT_ACK, and a
  client silent for longer than the interval plus a grace is closed (4009), so zombies
  do not hold sessions;
- frames over 4096 bytes close with 4002, more than 120 frames in 60 s with 4008;
- ops are checked against the state: nothing but HEARTBEAT, IDENTIFY and RESUME before
  authentication (4003), no second IDENTIFY (4005), no server-only ops (4001);
- dispatches carry a gap-free ``s`` and flow only once the session is established;
- after a close, nothing more is produced.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any

import orjson

from spectrus_gateway.protocol.codes import CLOSE_REASONS, SERVER_ONLY_OPS, Close, Op

MAX_FRAME_BYTES = 4096
RATE_LIMIT_FRAMES = 120
RATE_LIMIT_WINDOW = 60.0
HEARTBEAT_INTERVAL_MS = 41_250
# A client heartbeats every interval (the first after a random fraction of it); allow a
# late one before calling the connection dead.
HEARTBEAT_GRACE = 0.5


class State(Enum):
    AWAITING_IDENTIFY = auto()
    AUTHENTICATING = auto()
    ESTABLISHED = auto()
    CLOSED = auto()


# --- what the shell must do (requests) ------------------------------------------------


@dataclass(frozen=True)
class Identify:
    token: str
    intents: int
    properties: dict[str, Any]
    large_threshold: int
    presence: dict[str, Any] | None
    shard: tuple[int, int]


@dataclass(frozen=True)
class Resume:
    token: str
    session_id: str
    seq: int


@dataclass(frozen=True)
class RequestMembers:
    guild_ids: list[int]
    query: str | None
    limit: int
    presences: bool
    user_ids: list[int] | None
    nonce: str | None


@dataclass(frozen=True)
class UpdatePresence:
    status: str
    activities: list[dict[str, Any]]
    since: int | None
    afk: bool


@dataclass(frozen=True)
class UpdateVoiceState:
    guild_id: int
    channel_id: int | None
    self_mute: bool
    self_deaf: bool


Request = Identify | Resume | RequestMembers | UpdatePresence | UpdateVoiceState


@dataclass(frozen=True)
class Send:
    payload: dict[str, Any]
    raw_data: str | None = None
    """``payload["d"]`` already JSON-encoded, when the caller had it."""


@dataclass(frozen=True)
class CloseConnection:
    code: int
    reason: str


Output = Send | CloseConnection | Request

PRESENCE_STATUSES = {"online", "idle", "dnd", "invisible", "offline"}


class ProtocolError(Exception):
    def __init__(self, code: Close) -> None:
        super().__init__(code.name)
        self.code = code


def _snowflake(value: Any) -> int:
    if isinstance(value, bool):
        raise ProtocolError(Close.DECODE_ERROR)
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        value = int(value)
    if not isinstance(value, int) or not 0 <= value < 1 << 63:
        raise ProtocolError(Close.DECODE_ERROR)
    return value


def _field(d: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    value = d.get(key, default)
    if value is ...:
        raise ProtocolError(Close.DECODE_ERROR)
    if value is default and default is not ...:
        return value
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(Close.DECODE_ERROR)
    return value


@dataclass
class Connection:
    now: float
    heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS
    state: State = State.AWAITING_IDENTIFY
    seq: int = 0
    """The last ``s`` sent (or, after a RESUME, the session's last)."""
    session_id: str | None = None
    _outputs: list[Output] = field(default_factory=list)
    _recent: deque[float] = field(default_factory=deque)
    _last_heartbeat: float = 0.0

    def __post_init__(self) -> None:
        self._last_heartbeat = self.now
        self._send(Op.HELLO, {"heartbeat_interval": self.heartbeat_interval_ms})

    # --- inputs --------------------------------------------------------------------

    def receive(self, frame: str | bytes, now: float) -> None:
        """A frame from the client (text or binary JSON)."""
        if self.state is State.CLOSED:
            return
        self.now = now
        try:
            self._rate_limit(now)
            if len(frame) > MAX_FRAME_BYTES or (
                isinstance(frame, str)
                and len(frame.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES
            ):
                raise ProtocolError(Close.DECODE_ERROR)
            self._handle(self._decode(frame))
        except ProtocolError as exc:
            self.close(exc.code)

    def check(self, now: float) -> None:
        """Time passed: close a connection whose heartbeats stopped."""
        if self.state is State.CLOSED:
            return
        self.now = now
        if now > self.heartbeat_deadline():
            self.close(Close.SESSION_TIMED_OUT)

    def heartbeat_deadline(self) -> float:
        interval = self.heartbeat_interval_ms / 1000
        return self._last_heartbeat + interval * (1 + HEARTBEAT_GRACE)

    # --- answers from the shell -----------------------------------------------------

    def ready(self, session_id: str) -> None:
        """IDENTIFY succeeded: dispatches may flow, starting with READY at s=1."""
        if self.state is not State.AUTHENTICATING:
            return
        self.session_id = session_id
        self.seq = 0
        self.state = State.ESTABLISHED

    def resumed(self, session_id: str, seq: int) -> None:
        """RESUME succeeded: the client has everything up to ``seq``; the shell replays
        what follows with ``dispatch`` and then sends RESUMED."""
        if self.state is not State.AUTHENTICATING:
            return
        self.session_id = session_id
        self.seq = seq
        self.state = State.ESTABLISHED

    def invalid_session(self, resumable: bool) -> None:
        """Op 9: the client must identify again (or resume, when ``resumable``)."""
        if self.state is State.CLOSED:
            return
        self._send(Op.INVALID_SESSION, resumable)
        self.state = State.AWAITING_IDENTIFY

    def fail(self, code: Close) -> None:
        self.close(code)

    def dispatch(
        self, event: str, data: Any, seq: int | None = None, *, raw: str | None = None
    ) -> int:
        """Send an event with the next ``s`` (the shell may pass the one it logged,
        which must be exactly that). Returns the ``s`` used; 0 if not established."""
        if self.state is not State.ESTABLISHED:
            return 0
        expected = self.seq + 1
        if seq is not None and seq != expected:
            raise ValueError(f"dispatch seq {seq} would leave a gap after {self.seq}")
        self.seq = expected
        self._outputs.append(
            Send({"op": int(Op.DISPATCH), "t": event, "s": expected, "d": data}, raw)
        )
        return expected

    def reconnect(self) -> None:
        """Op 7: ask the client to reconnect and resume (e.g. this process drains)."""
        if self.state is State.CLOSED:
            return
        self._send(Op.RECONNECT, None)
        self.close(Close.UNKNOWN_ERROR, "Reconnect")

    def close(self, code: int, reason: str | None = None) -> None:
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        default = CLOSE_REASONS.get(Close(code), "") if code in Close._value2member_map_ else ""
        self._outputs.append(CloseConnection(int(code), reason or default))

    def take(self) -> list[Output]:
        outputs, self._outputs = self._outputs, []
        return outputs

    # --- internals -------------------------------------------------------------------

    def _send(self, op: Op, d: Any) -> None:
        self._outputs.append(Send({"op": int(op), "d": d, "s": None, "t": None}))

    def _rate_limit(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - RATE_LIMIT_WINDOW:
            self._recent.popleft()
        if len(self._recent) >= RATE_LIMIT_FRAMES:
            raise ProtocolError(Close.RATE_LIMITED)
        self._recent.append(now)

    @staticmethod
    def _decode(frame: str | bytes) -> dict[str, Any]:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            raise ProtocolError(Close.DECODE_ERROR) from None
        if not isinstance(message, dict):
            raise ProtocolError(Close.DECODE_ERROR)
        return message

    def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if not isinstance(op, int) or isinstance(op, bool) or op not in Op._value2member_map_:
            raise ProtocolError(Close.UNKNOWN_OPCODE)
        opcode = Op(op)
        if opcode in SERVER_ONLY_OPS:
            raise ProtocolError(Close.UNKNOWN_OPCODE)
        d = message.get("d")
        if opcode is Op.HEARTBEAT:
            if d is not None and (not isinstance(d, int) or isinstance(d, bool)):
                raise ProtocolError(Close.DECODE_ERROR)
            self._last_heartbeat = self.now
            self._send(Op.HEARTBEAT_ACK, None)
            return
        if not isinstance(d, dict):
            raise ProtocolError(Close.DECODE_ERROR)
        if opcode is Op.IDENTIFY:
            self._identify(d)
        elif opcode is Op.RESUME:
            self._resume(d)
        elif self.state is State.AUTHENTICATING:
            return  # the shell is still looking the client up; nothing else counts yet
        elif self.state is not State.ESTABLISHED:
            raise ProtocolError(Close.NOT_AUTHENTICATED)
        elif opcode is Op.PRESENCE_UPDATE:
            self._outputs.append(_presence(d))
        elif opcode is Op.VOICE_STATE_UPDATE:
            self._outputs.append(
                UpdateVoiceState(
                    guild_id=_snowflake(d.get("guild_id")),
                    channel_id=None if d.get("channel_id") is None else _snowflake(d["channel_id"]),
                    self_mute=bool(_field(d, "self_mute", bool, False)),
                    self_deaf=bool(_field(d, "self_deaf", bool, False)),
                )
            )
        elif opcode is Op.REQUEST_GUILD_MEMBERS:
            self._outputs.append(_request_members(d))

    def _identify(self, d: dict[str, Any]) -> None:
        if self.state is not State.AWAITING_IDENTIFY:
            raise ProtocolError(Close.ALREADY_AUTHENTICATED)
        token = _field(d, "token", str)
        properties = _field(d, "properties", dict, {})
        intents = _field(d, "intents", int, 0)
        if intents < 0 or intents >= 1 << 31:
            raise ProtocolError(Close.INVALID_INTENTS)
        large_threshold = _field(d, "large_threshold", int, 50)
        if not 50 <= large_threshold <= 250:
            raise ProtocolError(Close.DECODE_ERROR)
        shard = _field(d, "shard", list, [0, 1])
        if (
            len(shard) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in shard)
            or not 0 <= shard[0] < shard[1]
        ):
            raise ProtocolError(Close.INVALID_SHARD)
        if shard[1] != 1:
            raise ProtocolError(Close.INVALID_SHARD)  # one shard serves every guild here
        presence = d.get("presence")
        if presence is not None and not isinstance(presence, dict):
            raise ProtocolError(Close.DECODE_ERROR)
        self.state = State.AUTHENTICATING
        self._outputs.append(
            Identify(token, intents, properties, large_threshold, presence, (shard[0], shard[1]))
        )

    def _resume(self, d: dict[str, Any]) -> None:
        if self.state is not State.AWAITING_IDENTIFY:
            raise ProtocolError(Close.ALREADY_AUTHENTICATED)
        token = _field(d, "token", str)
        if d.get("session_id") is None:
            # discord.py resumes with no session when it dropped before READY: tell it
            # to identify instead of closing (which it would answer by resuming again).
            self.invalid_session(False)
            return
        session_id = _field(d, "session_id", str)
        seq = d.get("seq")
        if seq is None:
            seq = 0
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or len(session_id) > 128:
            raise ProtocolError(Close.DECODE_ERROR)
        self.state = State.AUTHENTICATING
        self._outputs.append(Resume(token, session_id, seq))


def _presence(d: dict[str, Any]) -> UpdatePresence:
    status = _field(d, "status", str, "online")
    if status not in PRESENCE_STATUSES:
        raise ProtocolError(Close.DECODE_ERROR)
    activities = _field(d, "activities", list, [])
    if len(activities) > 16 or not all(isinstance(a, dict) for a in activities):
        raise ProtocolError(Close.DECODE_ERROR)
    since = d.get("since")
    if since is not None and (not isinstance(since, int) or isinstance(since, bool)):
        raise ProtocolError(Close.DECODE_ERROR)
    return UpdatePresence(status, activities, since, bool(_field(d, "afk", bool, False)))


def _request_members(d: dict[str, Any]) -> RequestMembers:
    raw_guilds = d.get("guild_id")
    guild_ids = (
        [_snowflake(g) for g in raw_guilds]
        if isinstance(raw_guilds, list)
        else [_snowflake(raw_guilds)]
    )
    if not 1 <= len(guild_ids) <= 100:
        raise ProtocolError(Close.DECODE_ERROR)
    query = d.get("query")
    if query is not None and (not isinstance(query, str) or len(query) > 100):
        raise ProtocolError(Close.DECODE_ERROR)
    raw_users = d.get("user_ids")
    user_ids = None
    if raw_users is not None:
        listed = raw_users if isinstance(raw_users, list) else [raw_users]
        if len(listed) > 100:
            raise ProtocolError(Close.DECODE_ERROR)
        user_ids = [_snowflake(u) for u in listed]
    limit = _field(d, "limit", int, 0)
    if not 0 <= limit <= 1000:
        raise ProtocolError(Close.DECODE_ERROR)
    nonce = d.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or len(nonce) > 32):
        raise ProtocolError(Close.DECODE_ERROR)
    return RequestMembers(
        guild_ids, query, limit, bool(_field(d, "presences", bool, False)), user_ids, nonce
    )
