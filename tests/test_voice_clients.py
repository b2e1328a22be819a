"""Real voice clients through ``./spectrus up``: a discord.py bot plays a known signal in a
voice channel, a second, independent client (discord-ext-voice-recv) decodes it, and the
audio that arrives matches what was sent. The same between a browser-side WebRTC peer
(aiortc, as Chromium would connect through ``/webrtc``) and a real client, both ways.

Both clients are the libraries bots use (PyNaCl, davey, libopus), each in its own process,
trusting the server's voice certificate the way the README says (``SSL_CERT_FILE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import os
import ssl
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from spectrus_gateway.client import GatewayClient

pytestmark = pytest.mark.slow
BOT = Path(__file__).parent / "voice" / "bot.py"
RATE = 48_000
CONNECT, SPEAK, VIEW_CHANNEL = 1 << 20, 1 << 21, 1 << 10


def known_signal(seconds: float = 2.0) -> np.ndarray:
    """A rising chirp under a slow swell: one clear correlation peak, easy on Opus."""
    t = np.arange(int(RATE * seconds)) / RATE
    f0, f1 = 300.0, 2400.0
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    envelope = 0.25 + 0.2 * np.sin(2 * np.pi * 1.5 * t)
    return (np.sin(phase) * envelope * 32767).astype(np.int16)


def correlation(sent: np.ndarray, received: np.ndarray) -> tuple[float, int]:
    """Peak normalised cross-correlation of the two signals over their overlap, and the
    lag (in samples) it is at: positive if the received audio starts late, negative if its
    first frames were lost."""
    a = sent.astype(np.float64)
    b = received.astype(np.float64)
    size = 1 << (len(a) + len(b) - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    lags = np.concatenate([np.arange(len(b)), np.arange(1 - len(a), 0)])
    lag = int(lags[np.argmax(np.concatenate([xc[: len(b)], xc[size - len(a) + 1 :]]))])
    x, y = (a, b[lag:]) if lag >= 0 else (a[-lag:], b)
    overlap = min(len(x), len(y))
    x, y = x[:overlap], y[:overlap]
    return float(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y))), lag


def test_correlation_finds_late_and_truncated_copies() -> None:
    """The measure itself: a copy that starts late or lost its start still scores ~1;
    a different signal does not."""
    source = known_signal(0.5)
    late = np.concatenate([np.zeros(300, np.int16), source])
    truncated = source[1920:]
    assert correlation(source, late) == pytest.approx((1.0, 300), abs=1e-6)
    assert correlation(source, truncated) == pytest.approx((1.0, -1920), abs=1e-6)
    noise = np.random.default_rng(7).integers(-9000, 9000, len(source)).astype(np.int16)
    assert correlation(source, noise)[0] < 0.2


async def _call(
    api: httpx.AsyncClient, method: str, path: str, auth: str | None = None, **kw: Any
) -> Any:
    r = await api.request(method, path, headers={"Authorization": auth} if auth else None, **kw)
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


async def _bot(api: httpx.AsyncClient, owner: str, guild_id: str, name: str) -> str:
    app = await _call(api, "POST", "/applications", owner, json={"name": name})
    token = (await _call(api, "POST", f"/applications/{app['id']}/bot/reset", owner))["token"]
    await _call(
        api,
        "POST",
        f"/oauth2/authorize?client_id={app['id']}&scope=bot",
        owner,
        json={
            "guild_id": guild_id,
            "permissions": str(CONNECT | SPEAK | VIEW_CHANNEL),
            "authorize": True,
        },
    )
    return str(token)


async def _voice_guild(server: Any, *bots: str) -> tuple[str, str, dict[str, str]]:
    """An owner's guild with a voice channel, the named bots in it and a person; returns
    the guild id, the channel id and everyone's token."""
    password = "correct horse battery"
    async with httpx.AsyncClient(base_url=f"{server.base}/api/v10", timeout=30) as api:
        tokens = {
            name: (
                await _call(
                    api, "POST", "/auth/register", json={"username": name, "password": password}
                )
            )["token"]
            for name in ("owner", "person")
        }
        owner = tokens["owner"]
        guild = await _call(api, "POST", "/guilds", owner, json={"name": "Voice Den"})
        channel = await _call(
            api,
            "POST",
            f"/guilds/{guild['id']}/channels",
            owner,
            json={"name": "Lounge", "type": 2},
        )
        invite = await _call(api, "POST", f"/channels/{channel['id']}/invites", owner, json={})
        await _call(api, "POST", f"/invites/{invite['code']}", tokens["person"])
        for name in bots:
            tokens[name] = await _bot(api, owner, guild["id"], name)
    return str(guild["id"]), str(channel["id"]), tokens


async def _set_voice(gw: GatewayClient, guild_id: str, channel_id: str | None) -> None:
    """Op 4: join a voice channel, or leave with None."""
    voice_state = {"guild_id": guild_id, "channel_id": channel_id}
    await gw.send_json({"op": 4, "d": {**voice_state, "self_mute": False, "self_deaf": False}})


class BotProcess:
    """A voice bot process; its log (stderr) goes to a file, so it never blocks on a pipe."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.args, self.env = args, env
        self.proc: asyncio.subprocess.Process | None = None
        self.log = Path(args[4]).with_suffix(f".{args[0]}.log")

    async def start(self) -> None:
        with open(self.log, "wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(BOT),
                *self.args,
                env=self.env,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )

    async def line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        raw = await self.proc.stdout.readline()
        if not raw:
            await self.proc.wait()
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"voice bot {self.args[0]} ended: {tail}")
        return raw.decode().strip()

    async def result(self) -> dict[str, Any]:
        outcome = json.loads(await self.line())
        assert self.proc is not None
        assert await self.proc.wait() == 0
        return dict(outcome)

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


async def test_one_real_client_hears_another(spectrus, tmp_path: Path) -> None:
    server = spectrus()
    server.start()
    ca = server.data_dir / "voice" / "ca.crt"
    env = {**os.environ, "SSL_CERT_FILE": str(ca)}
    source = known_signal()
    pcm = tmp_path / "source.pcm"
    pcm.write_bytes(np.repeat(source, 2).tobytes())  # discord.py plays 16-bit stereo
    heard = tmp_path / "heard.pcm"

    _guild_id, channel_id, tokens = await _voice_guild(server, "Speaker", "Listener")
    speaker_token, listener_token = tokens["Speaker"], tokens["Listener"]

    listener = BotProcess("listen", server.base, listener_token, channel_id, str(heard), env=env)
    speaker = BotProcess("speak", server.base, speaker_token, channel_id, str(pcm), env=env)
    try:
        async with asyncio.timeout(90):
            await listener.start()
            assert await listener.line() == "joined"
            await speaker.start()
            assert await speaker.line() == "joined"
            spoke = await speaker.result()
            listened = await listener.result()
    finally:
        listener.kill()
        speaker.kill()

    assert spoke["mode"] == listened["mode"] == "aead_xchacha20_poly1305_rtpsize"
    received = np.frombuffer(heard.read_bytes(), dtype=np.int16)[::2]  # left channel
    assert len(received) >= 0.9 * len(source), (len(received), len(source))
    score, lag = correlation(source, received)
    print(
        f"\nvoice: {len(received) / RATE:.2f} s decoded, correlation {score:.4f} at lag {lag / RATE * 1000:.1f} ms"
    )
    assert score > 0.9


# --- a browser (aiortc, as Chromium would) in the same room ------------------------------


class SignalTrack(MediaStreamTrack):
    """A microphone playing ``samples`` once in real time (20 ms frames), then ending."""

    kind = "audio"

    def __init__(self, samples: np.ndarray) -> None:
        super().__init__()
        self.samples = samples
        self.sent = 0
        self.finished = asyncio.Event()
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        frame_samples = RATE // 50
        if self.sent >= len(self.samples):
            self.finished.set()
            self.stop()
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:  # a microphone delivers in real time, not as fast as it can
            await asyncio.sleep(self._start + self.sent / RATE - loop.time())
        chunk = self.samples[self.sent : self.sent + frame_samples]
        chunk = np.pad(chunk, (0, frame_samples - len(chunk)))
        frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, RATE)
        self.sent += frame_samples
        return frame


class Browser:
    """A browser member: gateway over WebSocket, voice over WebRTC through ``/webrtc``."""

    def __init__(self, server: Any, token: str, ca: Path) -> None:
        self.server, self.token, self.ca = server, token, ca
        self.pc = RTCPeerConnection()
        self.heard: list[np.ndarray] = []
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gateway: GatewayClient | None = None
        self.recording: list[asyncio.Future[None]] = []

    async def join(
        self, guild_id: str, channel_id: str, microphone: MediaStreamTrack | None
    ) -> None:
        self.gateway = GatewayClient(f"ws://127.0.0.1:{self.server.port}/gateway", self.token)
        ready = await self.gateway.identify()
        user_id = ready.data["user"]["id"]
        await _set_voice(self.gateway, guild_id, channel_id)
        voice = (await self.gateway.next_dispatch("VOICE_SERVER_UPDATE")).data
        channel = self.pc.createDataChannel("voice")
        channel.on("message", lambda text: self.messages.put_nowait(json.loads(text)))
        transceiver = self.pc.addTransceiver("audio", direction="sendrecv")
        if microphone is not None:
            transceiver.sender.replaceTrack(microphone)

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.recording.append(asyncio.ensure_future(self._record(track)))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {
            "server_id": guild_id,
            "user_id": user_id,
            "session_id": self.gateway.session_id,
            "token": voice["token"],
            "type": "offer",
            "sdp": self.pc.localDescription.sdp,
        }
        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=str(self.ca))
        ) as https:
            r = await https.post(f"https://{voice['endpoint']}/webrtc", json=offer)
        assert r.status_code == 200, r.text
        await self.pc.setRemoteDescription(RTCSessionDescription(**r.json()))

    async def _record(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.heard.append(
                    frame.to_ndarray().reshape(-1)[:: len(frame.layout.channels)].copy()
                )

    async def until(self, op: int | str, **match: Any) -> dict[str, Any]:
        while True:
            message = await self.messages.get()
            if message["op"] == op and all(message["d"].get(k) == v for k, v in match.items()):
                return message

    async def leave(self, guild_id: str) -> None:
        assert self.gateway is not None
        await _set_voice(self.gateway, guild_id, None)

    async def close(self) -> None:
        await self.pc.close()
        if self.gateway is not None:
            await self.gateway.close()


async def test_a_real_client_hears_a_browser(spectrus, tmp_path: Path) -> None:
    server = spectrus()
    server.start()
    ca = server.data_dir / "voice" / "ca.crt"
    guild_id, channel_id, tokens = await _voice_guild(server, "bot")
    source = known_signal()
    heard = tmp_path / "heard.pcm"
    listener = BotProcess(
        "listen",
        server.base,
        tokens["bot"],
        channel_id,
        str(heard),
        env={**os.environ, "SSL_CERT_FILE": str(ca)},
    )
    browser = Browser(server, tokens["person"], ca)
    microphone = SignalTrack(source)
    try:
        async with asyncio.timeout(90):
            await listener.start()
            assert await listener.line() == "joined"
            await browser.join(guild_id, channel_id, microphone)
            await microphone.finished.wait()
            await browser.leave(guild_id)  # the listener stops when the speaker leaves
            listened = await listener.result()
    finally:
        listener.kill()
        await browser.close()
    received = np.frombuffer(heard.read_bytes(), dtype=np.int16)[::2]
    assert listened["mode"] == "aead_xchacha20_poly1305_rtpsize"
    assert len(received) >= 0.9 * len(source), (len(received), len(source))
    score, lag = correlation(source, received)
    print(
        f"\nbrowser -> discord.py: {len(received) / RATE:.2f} s, correlation {score:.4f} at lag {lag / RATE * 1000:.1f} ms"
    )
    assert score > 0.9


async def test_a_browser_hears_a_real_client(spectrus, tmp_path: Path) -> None:
    server = spectrus()
    server.start()
    ca = server.data_dir / "voice" / "ca.crt"
    guild_id, channel_id, tokens = await _voice_guild(server, "bot")
    source = known_signal()
    pcm = tmp_path / "source.pcm"
    pcm.write_bytes(np.repeat(source, 2).tobytes())
    speaker = BotProcess(
        "speak",
        server.base,
        tokens["bot"],
        channel_id,
        str(pcm),
        env={**os.environ, "SSL_CERT_FILE": str(ca)},
    )
    browser = Browser(server, tokens["person"], ca)
    try:
        async with asyncio.timeout(90):
            await browser.join(guild_id, channel_id, None)
            await speaker.start()
            assert await speaker.line() == "joined"
            speaking = await browser.until(5)  # the bot's SSRC, from SPEAKING
            slot = await browser.until("slot", ssrc=speaking["d"]["ssrc"])
            assert slot["d"]["slot"] == 0
            await speaker.result()
            await browser.until(13, user_id=speaking["d"]["user_id"])
    finally:
        speaker.kill()
        await browser.close()
    received = np.concatenate(browser.heard) if browser.heard else np.zeros(0, np.int16)
    assert len(received) >= 0.9 * len(source), (len(received), len(source))
    score, lag = correlation(source, received)
    print(
        f"\ndiscord.py -> browser: {len(received) / RATE:.2f} s, correlation {score:.4f} at lag {lag / RATE * 1000:.1f} ms"
    )
    assert score > 0.9
