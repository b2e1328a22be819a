"""One voice WebSocket connection (Discord voice gateway v8) as a state machine.

The shell feeds received frames (``receive``) and the clock (``check``), answers the
requests this emits (an IDENTIFY or RESUME to check against the node's placements, a
SELECT_PROTOCOL to apply to the packet router) and sends what ``take`` returns, in order.
Nothing here blocks or touches a socket, so every rule is unit-testable with injected
time:

- HELLO is sent first, but a client may IDENTIFY before it arrives (discord.py does);
- HEARTBEATs are answered at once with HEARTBEAT_ACK echoing ``t``; a client silent for
  two intervals is closed with 4009;
- before IDENTIFY only HEARTBEAT, IDENTIFY and RESUME are accepted (4003); a second
  IDENTIFY closes with 4005; SELECT_PROTOCOL needs ``protocol: "udp"`` (4012) and a mode
  the router speaks (4016);
- server messages that clients acknowledge carry a gap-free ``seq`` (v8), kept in a
  bounded buffer by the voice session so a RESUME can replay what a client missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import orjson

MAX_FRAME_BYTES = 4096
HEARTBEAT_INTERVAL_MS = 13_750
# discord.py beats every min(interval, 5 s); two whole intervals of silence is a dead peer.
HEARTBEAT_TIMEOUT = 2 * HEARTBEAT_INTERVAL_MS / 1000


class Op(IntEnum):
    IDENTIFY = 0
    SELECT_PROTOCOL = 1
    READY = 2
    HEARTBEAT = 3
    SESSION_DESCRIPTION = 4
    SPEAKING = 5
    HEARTBEAT_ACK = 6
    RESUME = 7
    HELLO = 8
    RESUMED = 9
    CLIENTS_CONNECT = 11
    CLIENT_CONNECT = 12
    CLIENT_DISCONNECT = 13


class Close(IntEnum):
    UNKNOWN_OPCODE = 4001
    DECODE_ERROR = 4002
    NOT_AUTHENTICATED = 4003
    AUTHENTICATION_FAILED = 4004
    ALREADY_AUTHENTICATED = 4005
    SESSION_INVALID = 4006
    SESSION_TIMEOUT = 4009
    SERVER_NOT_FOUND = 4011
    UNKNOWN_PROTOCOL = 4012
    DISCONNECTED = 4014
    SERVER_CRASHED = 4015
    UNKNOWN_ENCRYPTION_MODE = 4016


CLOSE_REASONS = {
    Close.UNKNOWN_OPCODE: "Unknown opcode",
    Close.DECODE_ERROR: "Failed to decode payload",
    Close.NOT_AUTHENTICATED: "Not authenticated",
    Close.AUTHENTICATION_FAILED: "Authentication failed",
    Close.ALREADY_AUTHENTICATED: "Already authenticated",
    Close.SESSION_INVALID: "Session no longer valid",
    Close.SESSION_TIMEOUT: "Session timeout",
    Close.SERVER_NOT_FOUND: "Server not found",
    Close.UNKNOWN_PROTOCOL: "Unknown protocol",
    Close.DISCONNECTED: "Disconnected",
    Close.SERVER_CRASHED: "Voice server crashed",
    Close.UNKNOWN_ENCRYPTION_MODE: "Unknown encryption mode",
}


# --- requests for the shell -----------------------------------------------------------


@dataclass(frozen=True)
class Identify:
    server_id: int
    user_id: int
    session_id: str
    token: str


@dataclass(frozen=True)
class Resume:
    server_id: int
    session_id: str
    token: str
    seq_ack: int


@dataclass(frozen=True)
class SelectProtocol:
    mode: str
    address: str
    port: int


@dataclass(frozen=True)
class Speaking:
    speaking: int


@dataclass(frozen=True)
class Send:
    text: str


@dataclass(frozen=True)
class CloseConnection:
    code: int
    reason: str


Request = Identify | Resume | SelectProtocol | Speaking
Output = Send | CloseConnection | Request


class ProtocolError(Exception):
    def __init__(self, code: Close) -> None:
        super().__init__(CLOSE_REASONS[code])
        self.code = code


def encode(op: Op, d: Any, seq: int | None = None) -> str:
    message: dict[str, Any] = {"op": int(op), "d": d}
    if seq is not None:
        message["seq"] = seq
    return orjson.dumps(message).decode()


def _snowflake(d: dict[str, Any], key: str) -> int:
    value = d.get(key)
    if isinstance(value, int | str) and str(value).isdigit() and 0 < int(value) < 1 << 64:
        return int(value)
    raise ProtocolError(Close.DECODE_ERROR)


def _text(d: dict[str, Any], key: str, limit: int = 256) -> str:
    value = d.get(key)
    if isinstance(value, str) and 0 < len(value) <= limit:
        return value
    raise ProtocolError(Close.DECODE_ERROR)


@dataclass
class VoiceConnection:
    now: float
    modes: tuple[str, ...]
    identified: bool = False
    closed: bool = False
    last_heartbeat: float = field(init=False)
    _out: list[Output] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.last_heartbeat = self.now
        self._out.append(Send(encode(Op.HELLO, {"heartbeat_interval": HEARTBEAT_INTERVAL_MS})))

    # --- inputs ---------------------------------------------------------------------

    def receive(self, frame: str | bytes, now: float) -> None:
        if self.closed:
            return
        try:
            if isinstance(frame, bytes):
                raise ProtocolError(Close.DECODE_ERROR)  # binary ops are DAVE's; we offer 0
            if len(frame) > MAX_FRAME_BYTES:
                raise ProtocolError(Close.DECODE_ERROR)
            self._handle(self._decode(frame), now)
        except ProtocolError as exc:
            self.fail(exc.code)

    def check(self, now: float) -> None:
        if not self.closed and now - self.last_heartbeat > HEARTBEAT_TIMEOUT:
            self.fail(Close.SESSION_TIMEOUT)

    def deadline(self) -> float:
        return self.last_heartbeat + HEARTBEAT_TIMEOUT

    # --- answers from the shell ---------------------------------------------------------

    def accepted(self) -> None:
        """The IDENTIFY or RESUME matched a placement; what to send the shell sends itself
        through the voice session (READY, RESUMED and replays carry the session's seq)."""
        self.identified = True

    def send(self, text: str) -> None:
        if not self.closed:
            self._out.append(Send(text))

    def fail(self, code: Close) -> None:
        self.close(int(code), CLOSE_REASONS[code])

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self._out.append(CloseConnection(code, reason))

    def take(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    # --- rules ------------------------------------------------------------------------

    @staticmethod
    def _decode(frame: str) -> dict[str, Any]:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            raise ProtocolError(Close.DECODE_ERROR) from None
        if not isinstance(message, dict) or not isinstance(message.get("op"), int):
            raise ProtocolError(Close.DECODE_ERROR)
        return message

    def _handle(self, message: dict[str, Any], now: float) -> None:
        op, d = message["op"], message.get("d")
        if op == Op.HEARTBEAT:
            self.last_heartbeat = now
            t = d.get("t") if isinstance(d, dict) else d
            self._out.append(Send(encode(Op.HEARTBEAT_ACK, {"t": t})))
            return
        if not isinstance(d, dict):
            raise ProtocolError(Close.DECODE_ERROR)
        if op in (Op.IDENTIFY, Op.RESUME):
            if self.identified:
                raise ProtocolError(Close.ALREADY_AUTHENTICATED)
            self._out.append(self._login(op, d))
            return
        if not self.identified:
            raise ProtocolError(Close.NOT_AUTHENTICATED)
        if op == Op.SELECT_PROTOCOL:
            self._out.append(self._select(d))
        elif op == Op.SPEAKING:
            speaking = d.get("speaking")
            if not isinstance(speaking, int) or not 0 <= speaking < 1 << 8:
                raise ProtocolError(Close.DECODE_ERROR)
            self._out.append(Speaking(speaking))
        elif op == Op.CLIENT_CONNECT:
            pass  # discord.py announces its ssrc; SPEAKING already tells listeners
        else:
            raise ProtocolError(Close.UNKNOWN_OPCODE)

    @staticmethod
    def _login(op: int, d: dict[str, Any]) -> Identify | Resume:
        server_id = _snowflake(d, "server_id")
        session_id, token = _text(d, "session_id", 64), _text(d, "token", 128)
        if op == Op.IDENTIFY:
            return Identify(server_id, _snowflake(d, "user_id"), session_id, token)
        seq_ack = d.get("seq_ack", -1)
        if not isinstance(seq_ack, int):
            raise ProtocolError(Close.DECODE_ERROR)
        return Resume(server_id, session_id, token, seq_ack)

    def _select(self, d: dict[str, Any]) -> SelectProtocol:
        if d.get("protocol") != "udp":
            raise ProtocolError(Close.UNKNOWN_PROTOCOL)
        data = d.get("data")
        if not isinstance(data, dict):
            raise ProtocolError(Close.DECODE_ERROR)
        mode = data.get("mode")
        if mode not in self.modes:
            raise ProtocolError(Close.UNKNOWN_ENCRYPTION_MODE)
        address, port = data.get("address"), data.get("port")
        if not isinstance(address, str) or len(address) > 64:
            raise ProtocolError(Close.DECODE_ERROR)
        if not isinstance(port, int) or not 0 <= port < 65536:
            raise ProtocolError(Close.DECODE_ERROR)
        return SelectProtocol(str(mode), address, port)
