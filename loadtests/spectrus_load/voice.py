"""Voice for the locust process: members log in as Discord voice v8 clients, and one native
``voicegen`` process carries every member's UDP audio.

Python cannot send and open 50 packets per second per member at scale, so the split is the
one real clients have between their control and media paths: each ``VoiceMember`` joins
through the gateway (op 4 -> VOICE_SERVER_UPDATE), logs into the media node's voice
WebSocket (IDENTIFY -> READY with its SSRC, SELECT_PROTOCOL -> SESSION_DESCRIPTION with its
key) and keeps that socket heartbeating; then the coordinator writes every session's SSRC,
key and room into voicegen's provision file and runs voicegen over the measured window.
voicegen does IP discovery from each session's own socket (which is how the media node
learns where to send), sends stamped Opus-sized packets from speakers and opens what
listeners receive with their own keys. Its counts become the voice row of the results
and one locust request (failed if anything was lost, misrouted or undecryptable).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import orjson
import websocket

from spectrus_load.gateway_ws import Fire, GatewaySession, abort


class VoiceError(Exception):
    """A voice login step or the voicegen run went wrong."""


PREFERRED_MODE = "aead_aes256_gcm_rtpsize"  # cheaper to seal than XChaCha20 on both sides
# Listeners count a packet as lost if it is not in by the end of voicegen's drain.
LOSS_LIMIT = 0.001


@dataclass(frozen=True)
class VoiceSession:
    ssrc: int
    key_hex: str
    mode: str
    room: int  # the voice channel id
    role: str  # "speaker" or "listener"
    server: str  # host:port of the media node's UDP socket


class VoiceLink:
    """One member's voice WebSocket: logged in, protocol selected, heartbeating."""

    def __init__(self, ws: websocket.WebSocket, interval_s: float) -> None:
        self.ws = ws
        self.seq_ack = -1
        self._greenlets: list[gevent.Greenlet[Any, None]] = [
            gevent.spawn(self._read),
            gevent.spawn(self._beat, interval_s),
        ]

    def _read(self) -> None:
        try:
            while raw := self.ws.recv():
                message = orjson.loads(raw)
                if isinstance(message.get("seq"), int):
                    self.seq_ack = message["seq"]
        except (OSError, websocket.WebSocketException):
            pass

    def _beat(self, interval_s: float) -> None:
        while True:
            # Well inside the interval: two silent intervals end the session.
            gevent.sleep(interval_s * 0.75)
            try:
                payload = {"op": 3, "d": {"t": int(time.time() * 1000), "seq_ack": self.seq_ack}}
                self.ws.send(orjson.dumps(payload).decode())
            except (OSError, websocket.WebSocketException):
                return

    def close(self) -> None:
        abort(self.ws)
        for g in self._greenlets:
            g.kill(block=False)


def _recv_op(ws: websocket.WebSocket, op: int) -> dict[str, Any]:
    """The next message with ``op`` (others, such as SPEAKING of earlier joiners, are
    skipped); the connection closing instead is a failed login."""
    while True:
        raw = ws.recv()
        if not raw:
            raise VoiceError(f"the voice WebSocket closed while waiting for op {op}")
        message = orjson.loads(raw)
        if message.get("op") == op:
            return dict(message.get("d") or {})


def join_voice(
    gateway: GatewaySession,
    guild_id: str,
    channel_id: str,
    user_id: str,
    role: str,
    ca_file: str,
    fire: Fire,
) -> tuple[VoiceSession, VoiceLink]:
    with _timed(fire, "op 4 -> VOICE_SERVER_UPDATE"):
        waiter = gateway.expect("VOICE_SERVER_UPDATE")
        gateway.send(
            {
                "op": 4,
                "d": {
                    "guild_id": guild_id,
                    "channel_id": channel_id,
                    "self_mute": False,
                    "self_deaf": False,
                },
            }
        )
        server: dict[str, Any] = dict(waiter.get(timeout=60) or {})

    with _timed(fire, "voice IDENTIFY -> READY"):
        trust = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": ca_file}
        ws = websocket.create_connection(
            f"wss://{server['endpoint']}/?v=8", sslopt=trust, timeout=60, enable_multithread=True
        )
        identify = {
            "server_id": guild_id,
            "user_id": user_id,
            "session_id": gateway.session_id,
            "token": server["token"],
        }
        ws.send(orjson.dumps({"op": 0, "d": identify}).decode())
        hello = _recv_op(ws, 8)
        ready = _recv_op(ws, 2)

    with _timed(fire, "SELECT_PROTOCOL -> SESSION_DESCRIPTION"):
        mode = PREFERRED_MODE if PREFERRED_MODE in ready["modes"] else ready["modes"][0]
        # The address is what IP discovery would find; voicegen does the real discovery
        # from the socket it sends from, and the router answers wherever that came from.
        select = {"protocol": "udp", "data": {"address": "127.0.0.1", "port": 0, "mode": mode}}
        ws.send(orjson.dumps({"op": 1, "d": select}).decode())
        description = _recv_op(ws, 4)
        if role == "speaker":
            speaking = {"speaking": 1, "delay": 0, "ssrc": ready["ssrc"]}
            ws.send(orjson.dumps({"op": 5, "d": speaking}).decode())
    ws.settimeout(None)
    session = VoiceSession(
        ssrc=int(ready["ssrc"]),
        key_hex=bytes(description["secret_key"]).hex(),
        mode=str(description["mode"]),
        room=int(channel_id),
        role=role,
        server=f"{ready['ip']}:{ready['port']}",
    )
    return session, VoiceLink(ws, hello["heartbeat_interval"] / 1000)


def run_voicegen(
    voicegen: Path,
    sessions: list[VoiceSession],
    workdir: Path,
    duration: float,
    fire: Fire,
) -> dict[str, Any]:
    """Run voicegen over ``sessions`` for ``duration`` s (1 s of it warm-up) and report."""
    provision = workdir / "voice-sessions.json"
    provision.write_text(
        json.dumps(
            {
                "server": sessions[0].server,
                "sessions": [
                    {
                        "ssrc": s.ssrc,
                        "key_hex": s.key_hex,
                        "mode": s.mode,
                        "room": s.room,
                        "role": s.role,
                    }
                    for s in sessions
                ],
            }
        )
    )
    warmup = 1.0
    args = [
        str(voicegen),
        "spectrus",
        "--provision",
        str(provision),
        "--warmup",
        str(warmup),
        "--duration",
        f"{max(duration - warmup, 1.0):.2f}",
        "--drain-ms",
        "1000",
        "--handshake-timeout",
        "20",
        "--udp-keepalive",
        "5",
    ]
    started = time.monotonic()
    # gevent's subprocess: waiting for it does not block the other users.
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=duration + 120)  # noqa: S603
    elapsed = _ms(started)
    if done.returncode != 0:
        error = VoiceError(f"voicegen exited with {done.returncode}: {done.stderr.strip()[-500:]}")
        fire("VOICE", "voicegen run", elapsed, error)
        return {"error": str(error)}
    report: dict[str, Any] = json.loads(done.stdout)
    counters = report["counters"]
    problems = []
    if report["loss_ratio"] > LOSS_LIMIT:
        problems.append(f"lost {report['loss_ratio']:.2%} of deliveries")
    for key in ("decrypt_failures", "misattributed", "foreign"):
        if counters.get(key):
            problems.append(f"{key}={counters[key]}")
    fire("VOICE", "voicegen run", elapsed, VoiceError("; ".join(problems)) if problems else None)
    return report


@contextmanager
def _timed(fire: Fire, name: str) -> Iterator[None]:
    """A step of the voice login, reported to locust as a request named ``name``."""
    started = time.monotonic()
    try:
        yield
    except (Exception, gevent.Timeout) as exc:
        fire("VOICE", name, _ms(started), exc)
        raise
    fire("VOICE", name, _ms(started), None)


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000
