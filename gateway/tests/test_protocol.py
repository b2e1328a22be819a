"""Gateway protocol rules, example by example (the properties file explores the rest)."""

from __future__ import annotations

import json
import zlib

import pytest
import zstandard

from spectrus_gateway.protocol.codec import UnsupportedTransportError, encoder_for
from spectrus_gateway.protocol.codes import CLOSE_REASONS, Close, Intent, disallowed_intents
from spectrus_gateway.protocol.connection import (
    CloseConnection,
    Connection,
    Identify,
    RequestMembers,
    Resume,
    Send,
    State,
    UpdatePresence,
    UpdateVoiceState,
)

IDENTIFY = json.dumps(
    {"op": 2, "d": {"token": "tok", "intents": 513, "properties": {"os": "linux"}}}
)


def ops(outputs):
    return [o.payload["op"] if isinstance(o, Send) else type(o).__name__ for o in outputs]


def test_regular_heartbeats_keep_a_connection_alive_for_a_day() -> None:
    conn = Connection(now=0.0)
    now = 0.0
    for _ in range(2100):  # a day of heartbeats at the announced interval
        now += 41.25
        conn.check(now)
        conn.receive('{"op": 1, "d": null}', now)
    assert conn.state is State.AWAITING_IDENTIFY
    assert ops(conn.take()).count(11) == 2100


def test_a_silent_client_is_closed_after_the_grace() -> None:
    conn = Connection(now=0.0)
    conn.take()
    conn.check(41.25 * 1.5)
    assert conn.state is not State.CLOSED
    conn.check(41.25 * 1.5 + 0.01)
    assert conn.take() == [CloseConnection(4009, "Session timed out")]


def test_identify_then_ready_then_gap_free_dispatches() -> None:
    conn = Connection(now=0.0)
    conn.receive(IDENTIFY, 1.0)
    outputs = conn.take()
    assert ops(outputs) == [10, "Identify"]
    request = outputs[1]
    assert (
        isinstance(request, Identify)
        and request.token == "tok"
        and request.intents == 513
        and request.shard == (0, 1)
    )
    assert conn.dispatch("MESSAGE_CREATE", {}) == 0  # not before READY
    conn.ready("sid")
    assert [conn.dispatch(t, {}) for t in ("READY", "GUILD_CREATE", "MESSAGE_CREATE")] == [1, 2, 3]
    with pytest.raises(ValueError, match="gap"):
        conn.dispatch("MESSAGE_CREATE", {}, seq=9)
    sent = conn.take()
    assert [(o.payload["t"], o.payload["s"]) for o in sent] == [
        ("READY", 1),
        ("GUILD_CREATE", 2),
        ("MESSAGE_CREATE", 3),
    ]


def test_resume_continues_the_sessions_numbering() -> None:
    conn = Connection(now=0.0)
    conn.receive(json.dumps({"op": 6, "d": {"token": "tok", "session_id": "abc", "seq": 41}}), 1.0)
    assert conn.take()[-1] == Resume("tok", "abc", 41)
    conn.resumed("abc", 41)
    assert conn.dispatch("MESSAGE_CREATE", {}) == 42


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"op": 3, "d": {"status": "idle"}}', Close.NOT_AUTHENTICATED),
        ('{"op": 99, "d": null}', Close.UNKNOWN_OPCODE),
        ('{"op": 0, "d": {}}', Close.UNKNOWN_OPCODE),
        ('{"op": 11, "d": null}', Close.UNKNOWN_OPCODE),
        ("not json", Close.DECODE_ERROR),
        ("[1, 2]", Close.DECODE_ERROR),
        ('{"op": 2, "d": "token"}', Close.DECODE_ERROR),
        ('{"op": 2, "d": {"token": 5}}', Close.DECODE_ERROR),
        ('{"op": 2, "d": {"token": "t", "shard": [0, 2]}}', Close.INVALID_SHARD),
        ('{"op": 2, "d": {"token": "t", "intents": -1}}', Close.INVALID_INTENTS),
        ('{"op": 1, "d": "x"}', Close.DECODE_ERROR),
        ('{"op": 1, "d": 18446744073709551616}', Close.DECODE_ERROR),
    ],
)
def test_bad_frames_close_with_discords_codes(frame: str, code: Close) -> None:
    conn = Connection(now=0.0)
    conn.receive(frame, 1.0)
    assert conn.take()[-1] == CloseConnection(int(code), CLOSE_REASONS[code])


def test_second_identify_is_refused() -> None:
    conn = Connection(now=0.0)
    conn.receive(IDENTIFY, 1.0)
    conn.ready("s")
    conn.receive(IDENTIFY, 2.0)
    assert conn.take()[-1] == CloseConnection(4005, "Already authenticated")


def test_frames_over_4096_bytes_and_bursts_over_120_close() -> None:
    big = Connection(now=0.0)
    big.receive(
        '{"op": 1, "d": null, "pad": "' + "é" * 2100 + '"}', 1.0
    )  # > 4096 bytes, < 4096 chars
    assert big.take()[-1].code == 4002
    chatty = Connection(now=0.0)
    for i in range(120):
        chatty.receive('{"op": 1, "d": null}', 1.0 + i * 0.1)
    assert chatty.state is not State.CLOSED
    chatty.receive('{"op": 1, "d": null}', 20.0)
    assert chatty.take()[-1].code == 4008
    patient = Connection(now=0.0)
    for i in range(240):
        patient.receive('{"op": 1, "d": null}', i * 0.51)  # 120 per 61 s: allowed
    assert patient.state is not State.CLOSED


def test_commands_after_ready_become_requests() -> None:
    conn = Connection(now=0.0)
    conn.receive(IDENTIFY, 1.0)
    conn.ready("s")
    conn.take()
    conn.receive(
        '{"op": 3, "d": {"status": "dnd", "activities": [], "since": null, "afk": false}}', 2.0
    )
    conn.receive(
        '{"op": 4, "d": {"guild_id": "5", "channel_id": null, "self_mute": true, "self_deaf": false}}',
        2.0,
    )
    conn.receive(
        '{"op": 8, "d": {"guild_id": ["5", 6], "query": "", "limit": 0, "nonce": "n"}}', 2.0
    )
    assert conn.take() == [
        UpdatePresence("dnd", [], None, False),
        UpdateVoiceState(5, None, True, False),
        RequestMembers([5, 6], "", 0, False, None, "n"),
    ]
    conn.receive('{"op": 3, "d": {"status": "away"}}', 3.0)
    assert conn.take()[-1].code == 4002


def test_privileged_intents_need_the_applications_flags() -> None:
    asked = int(Intent.GUILDS | Intent.GUILD_MEMBERS | Intent.MESSAGE_CONTENT)
    assert disallowed_intents(asked, 0) == Intent.GUILD_MEMBERS | Intent.MESSAGE_CONTENT
    assert disallowed_intents(asked, (1 << 14) | (1 << 19)) == 0
    assert disallowed_intents(int(Intent.GUILDS | Intent.GUILD_MESSAGES), 0) == 0


@pytest.mark.parametrize("compress", ["zlib-stream", "zstd-stream"])
def test_transport_compression_is_one_stream_flushed_per_payload(compress: str) -> None:
    encoder = encoder_for("json", compress)
    payloads = [
        {"op": 0, "t": "MESSAGE_CREATE", "s": i, "d": {"content": "hello " * 20}} for i in range(5)
    ]
    frames = [encoder.encode(p) for p in payloads]
    if compress == "zlib-stream":
        inflater = zlib.decompressobj()
        assert all(f.endswith(b"\x00\x00\xff\xff") for f in frames)
        decoded = [json.loads(inflater.decompress(f)) for f in frames]
    else:
        reader = zstandard.ZstdDecompressor().decompressobj()
        decoded = [json.loads(reader.decompress(f)) for f in frames]
    assert decoded == payloads
    assert len(frames[-1]) < len(frames[0])  # later payloads reuse the stream's history


def test_unknown_transports_are_refused() -> None:
    assert encoder_for(None, None).encode({"op": 11}) == '{"op":11}'
    with pytest.raises(UnsupportedTransportError):
        encoder_for("etf", None)
    with pytest.raises(UnsupportedTransportError):
        encoder_for("json", "gzip")
