"""The voice WebSocket state machine, with injected time and no sockets."""

from __future__ import annotations

import orjson
import pytest

from spectrus_media.protocol import (
    HEARTBEAT_TIMEOUT,
    MAX_FRAME_BYTES,
    Close,
    CloseConnection,
    Identify,
    Op,
    Resume,
    SelectProtocol,
    Send,
    Speaking,
    VoiceConnection,
)

MODES = ("aead_aes256_gcm_rtpsize", "aead_xchacha20_poly1305_rtpsize")
IDENTIFY = {"server_id": "41", "user_id": "42", "session_id": "abc", "token": "t0k"}


def frame(op: int, d: object) -> str:
    return orjson.dumps({"op": op, "d": d}).decode()


def sent(outputs: list[object]) -> list[dict[str, object]]:
    return [orjson.loads(o.text) for o in outputs if isinstance(o, Send)]


def closed_with(outputs: list[object]) -> int | None:
    codes = [o.code for o in outputs if isinstance(o, CloseConnection)]
    return codes[-1] if codes else None


def identified(now: float = 0.0) -> VoiceConnection:
    conn = VoiceConnection(now=now, modes=MODES)
    conn.receive(frame(0, IDENTIFY), now)
    assert Identify(41, 42, "abc", "t0k") in conn.take()
    conn.accepted()
    return conn


def test_hello_comes_first_and_identify_may_precede_it() -> None:
    conn = VoiceConnection(now=0.0, modes=MODES)
    conn.receive(frame(0, IDENTIFY), 0.1)
    out = conn.take()
    assert sent(out)[0] == {"op": Op.HELLO, "d": {"heartbeat_interval": 13750}}
    assert out[1] == Identify(41, 42, "abc", "t0k")


def test_heartbeat_is_acknowledged_with_its_nonce_and_keeps_the_connection() -> None:
    conn = identified()
    conn.receive(frame(3, {"t": 1234, "seq_ack": 5}), HEARTBEAT_TIMEOUT - 1)
    assert sent(conn.take()) == [{"op": Op.HEARTBEAT_ACK, "d": {"t": 1234}}]
    conn.check(HEARTBEAT_TIMEOUT + 1)
    assert closed_with(conn.take()) is None
    conn.check(2 * HEARTBEAT_TIMEOUT)
    assert closed_with(conn.take()) == Close.SESSION_TIMEOUT


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (frame(1, {"protocol": "udp", "data": {}}), Close.NOT_AUTHENTICATED),
        ("{not json", Close.DECODE_ERROR),
        ('{"op": "zero"}', Close.DECODE_ERROR),
        (frame(0, {**IDENTIFY, "server_id": "x"}), Close.DECODE_ERROR),
        (frame(0, {**IDENTIFY, "token": ""}), Close.DECODE_ERROR),
        (frame(0, {"server_id": "1"}), Close.DECODE_ERROR),
        ("x" * (MAX_FRAME_BYTES + 1), Close.DECODE_ERROR),
    ],
)
def test_bad_frames_before_identify_close_with_the_documented_code(
    message: str, code: Close
) -> None:
    conn = VoiceConnection(now=0.0, modes=MODES)
    conn.receive(message, 0.0)
    assert closed_with(conn.take()) == code
    conn.receive(frame(3, {"t": 1}), 0.0)
    assert conn.take() == []  # nothing after a close


def test_binary_frames_are_refused_because_dave_is_off() -> None:
    conn = identified()
    conn.receive(b"\x00\x01\x19", 0.0)
    assert closed_with(conn.take()) == Close.DECODE_ERROR


def test_second_identify_and_unknown_ops() -> None:
    conn = identified()
    conn.receive(frame(0, IDENTIFY), 0.0)
    assert closed_with(conn.take()) == Close.ALREADY_AUTHENTICATED
    conn = identified()
    conn.receive(frame(2, {}), 0.0)  # READY is the server's
    assert closed_with(conn.take()) == Close.UNKNOWN_OPCODE


def test_select_protocol_checks_protocol_and_mode() -> None:
    conn = identified()
    data = {"address": "127.0.0.1", "port": 5000, "mode": MODES[1]}
    conn.receive(frame(1, {"protocol": "udp", "data": data}), 0.0)
    assert conn.take() == [SelectProtocol(MODES[1], "127.0.0.1", 5000)]
    conn.receive(frame(1, {"protocol": "webrtc", "data": data}), 0.0)
    assert closed_with(conn.take()) == Close.UNKNOWN_PROTOCOL
    conn = identified()
    conn.receive(frame(1, {"protocol": "udp", "data": {**data, "mode": "xsalsa20_poly1305"}}), 0)
    assert closed_with(conn.take()) == Close.UNKNOWN_ENCRYPTION_MODE
    conn = identified()
    conn.receive(frame(1, {"protocol": "udp", "data": {**data, "port": 70000}}), 0)
    assert closed_with(conn.take()) == Close.DECODE_ERROR


def test_speaking_and_resume_become_requests() -> None:
    conn = identified()
    conn.receive(frame(5, {"speaking": 1, "delay": 0, "ssrc": 9}), 0.0)
    conn.receive(frame(12, {"audio_ssrc": 9}), 0.0)  # discord.py's CLIENT_CONNECT: accepted
    assert conn.take() == [Speaking(1)]
    conn.receive(frame(5, {"speaking": -1}), 0.0)
    assert closed_with(conn.take()) == Close.DECODE_ERROR

    conn = VoiceConnection(now=0.0, modes=MODES)
    conn.take()
    resume = {"server_id": "41", "session_id": "abc", "token": "t0k", "seq_ack": 7}
    conn.receive(frame(7, resume), 0.0)
    assert conn.take() == [Resume(41, "abc", "t0k", 7)]
