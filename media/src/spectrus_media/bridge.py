"""Browsers in voice rooms: WebRTC (aiortc) on one side, the Rust router on the other,
Opus passed through in both directions without decoding or re-encoding.

A browser logs in with the same placement token a native client presents in IDENTIFY
and posts its SDP offer; the answer comes back at once (ICE candidates included). To the
router the bridge is one more session: a UDP peer on loopback in the AES-GCM mode.

- Browser to room: RTP packets the browser's audio transceiver delivers are taken before
  aiortc's jitter buffer and decoder, and their Opus payload is sealed to the router.
- Room to browser: each audio transceiver the browser offered is a *slot*; a speaker in
  the room gets the first free slot, and their frames go out on it as pre-encoded packets
  (aiortc packs them without touching the codec). Opus decoders keep per-stream state, so
  one speaker per slot; a browser that wants four simultaneous speakers offers four.
- The room's voice messages (SPEAKING, CLIENT_DISCONNECT, ...) and ``slot`` messages
  (which user is on which transceiver) go to the browser's ``voice`` data channel. The
  browser opens that channel, and it opens after ICE and DTLS, so media (and with it the
  first ``slot`` assignments) usually flows before it exists: messages wait in order in
  a bounded queue until it opens. A ``slot`` is told again when SPEAKING names the user
  of an SSRC that was already on a slot without one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fractions
import logging
from typing import Any

import orjson
from aiortc import RTCDataChannel, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket
from av.packet import Packet

from spectrus_media.node import MediaNode, VoiceSession
from spectrus_media.peer import FRAME_SAMPLES, MODE, Frame, Sealer, VoicePeer
from spectrus_media.protocol import CLOSE_REASONS, Close, Op

log = logging.getLogger("spectrus.media")

OPUS_RATE = 48_000
MAX_SLOTS = 16
SLOT_QUEUE = 50  # a second of frames; an outgoing slot further behind drops the oldest
# Messages held for the data channel until it opens (a join's READY, SESSION_DESCRIPTION,
# the room's SPEAKINGs and the first slots are a dozen); past this the oldest go.
EARLY_MESSAGES = 256


class OfferError(Exception):
    """The offer cannot be answered (bad login, no audio, too many slots)."""


class SlotTrack(MediaStreamTrack):
    """An outgoing audio track fed with already-encoded Opus frames."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[Frame | None] = asyncio.Queue(SLOT_QUEUE)
        self.ssrc: int | None = None
        # Output timeline: one per track, continuing across the speakers it carries, so the
        # browser's jitter buffer never sees time run backwards.
        self._origin: int | None = None
        self._base = 0
        self._next = 0

    def assign(self, ssrc: int | None) -> None:
        self.ssrc, self._origin = ssrc, None

    def push(self, frame: Frame) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(frame)

    async def recv(self) -> Packet[Any]:
        frame = await self.queue.get()
        if frame is None:
            raise MediaStreamError
        if self._origin is None:  # a new speaker on this track
            self._origin, self._base = frame.timestamp, self._next
        packet = Packet(frame.payload)
        packet.pts = self._base + ((frame.timestamp - self._origin) & 0xFFFFFFFF)
        self._next = packet.pts + FRAME_SAMPLES
        packet.time_base = fractions.Fraction(1, OPUS_RATE)
        return packet


class BrowserSession:
    """One browser's peer connection, as a link of the node's voice session."""

    def __init__(self, node: MediaNode, pc: RTCPeerConnection) -> None:
        self.node = node
        self.session: VoiceSession | None = None  # set once the login matched
        self.pc = pc
        self.peer: VoicePeer | None = None
        self.slots: list[SlotTrack] = []
        self.channel: RTCDataChannel | None = None
        self.users: dict[int, str] = {}  # ssrc -> user id, from SPEAKING
        self._early: collections.deque[str] = collections.deque(maxlen=EARLY_MESSAGES)
        self._pump: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    # --- the node's Link ---------------------------------------------------------------

    def send(self, text: str) -> None:
        message = orjson.loads(text)
        self._tell(text)
        if message["op"] == Op.SPEAKING:
            ssrc, user = message["d"]["ssrc"], message["d"]["user_id"]
            known = self.users.get(ssrc)
            self.users[ssrc] = user
            if known != user:  # a slot already carrying this SSRC gets its user now
                for index, slot in enumerate(self.slots):
                    if slot.ssrc == ssrc:
                        self._tell_slot(index, ssrc, user)
        elif message["op"] == Op.CLIENT_DISCONNECT:
            self._free_slots_of(message["d"]["user_id"])

    def close(self, code: Close) -> None:
        self._tell(
            orjson.dumps(
                {"op": "close", "d": {"code": int(code), "reason": CLOSE_REASONS[code]}}
            ).decode()
        )
        # Kept: the loop holds tasks only weakly, and a collected one would never finish.
        self._closing = asyncio.get_running_loop().create_task(self.stop())

    # --- media ----------------------------------------------------------------------

    async def start(self, session: VoiceSession, router_host: str, router_port: int) -> None:
        self.session = session
        self.peer, _seen = await VoicePeer.connect(router_host, router_port, session.ssrc)
        self.node.select(session, MODE)
        self.peer.sealer = Sealer(session.key)
        # Native clients announce their SSRC with SPEAKING; a browser's microphone is on.
        self.node.speaking(session, 1)
        self._pump = asyncio.create_task(self._to_browser())

    def from_browser(self, packet: RtpPacket) -> None:
        if self.peer is not None and self.peer.sealer is not None and packet.payload:
            self.peer.send(packet.payload, packet.timestamp)  # gaps (DTX) stay gaps

    async def _to_browser(self) -> None:
        assert self.peer is not None
        while True:
            frame = await self.peer.frames.get()
            slot = self._slot_for(frame.ssrc)
            if slot is not None:
                slot.push(frame)

    def _slot_for(self, ssrc: int) -> SlotTrack | None:
        for slot in self.slots:
            if slot.ssrc == ssrc:
                return slot
        for index, slot in enumerate(self.slots):
            if slot.ssrc is None:
                slot.assign(ssrc)
                self._tell_slot(index, ssrc, self.users.get(ssrc))
                return slot
        return None  # every slot busy: this speaker is not heard until one frees

    def _free_slots_of(self, user_id: str) -> None:
        for index, slot in enumerate(self.slots):
            if slot.ssrc is not None and self.users.get(slot.ssrc) == user_id:
                slot.assign(None)
                self._tell_slot(index, None, None)

    def _tell_slot(self, index: int, ssrc: int | None, user_id: str | None) -> None:
        self._tell(
            orjson.dumps(
                {"op": "slot", "d": {"slot": index, "ssrc": ssrc, "user_id": user_id}}
            ).decode()
        )

    # --- the data channel ----------------------------------------------------------------

    def attach(self, channel: RTCDataChannel) -> None:
        """The browser's ``voice`` channel arrived: what waited goes out once it is open
        (aiortc announces a channel the browser opened already open)."""
        self.channel = channel
        if channel.readyState == "open":
            self._flush()
        else:
            channel.on("open", self._flush)

    def _flush(self) -> None:
        while self._early and self._open():
            assert self.channel is not None
            self.channel.send(self._early.popleft())

    def _open(self) -> bool:
        return self.channel is not None and self.channel.readyState == "open"

    def _tell(self, text: str) -> None:
        if self._early or not self._open():
            self._early.append(text)  # in order behind what already waits
            self._flush()
            return
        assert self.channel is not None
        self.channel.send(text)

    async def stop(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        if self._pump is not None:
            self._pump.cancel()
        for slot in self.slots:
            with contextlib.suppress(asyncio.QueueFull):
                slot.queue.put_nowait(None)
        if self.peer is not None:
            self.peer.close()
        if self.session is not None:
            self.node.end(self.session, self)
        await self.pc.close()


class WebRtcBridge:
    def __init__(self, node: MediaNode, router_host: str, router_port: int) -> None:
        self.node = node
        self.router = (router_host, router_port)
        self.browsers: set[BrowserSession] = set()

    async def answer(self, body: dict[str, Any]) -> dict[str, str]:
        """The answer to a browser's offer, after the same login as IDENTIFY."""
        try:
            server_id, user_id = int(body["server_id"]), int(body["user_id"])
            session_id, token, sdp = str(body["session_id"]), str(body["token"]), str(body["sdp"])
        except (KeyError, TypeError, ValueError):
            raise OfferError("needs server_id, user_id, session_id, token and sdp") from None
        if body.get("type", "offer") != "offer" or len(sdp) > 64_000:
            raise OfferError("needs an SDP offer")
        pc = RTCPeerConnection()
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        except ValueError as exc:
            await pc.close()
            raise OfferError(f"unreadable offer: {exc}") from None
        audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
        if not audio or len(audio) > MAX_SLOTS:
            await pc.close()
            raise OfferError(f"the offer must carry 1 to {MAX_SLOTS} audio transceivers")
        browser = BrowserSession(self.node, pc)
        session = self.node.identify(browser, server_id, user_id, session_id, token)
        if session is None:
            await pc.close()
            raise OfferError("the voice token does not match a placement")

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label == "voice":
                browser.attach(channel)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await browser.stop()
                self.browsers.discard(browser)

        for _ in audio:  # addTrack fills the offered transceivers and makes them send
            slot = SlotTrack()
            browser.slots.append(slot)
            pc.addTrack(slot)
        _intercept(audio[0].receiver, browser)
        await browser.start(session, *self.router)
        self.browsers.add(browser)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        return {"type": "answer", "sdp": pc.localDescription.sdp}

    async def close(self) -> None:
        for browser in list(self.browsers):
            await browser.stop()
        self.browsers.clear()


def _intercept(receiver: RTCRtpReceiver, browser: BrowserSession) -> None:
    """Take the browser's audio packets before aiortc's decoder: the room hears the
    encoded Opus as it came."""

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        browser.from_browser(packet)

    receiver._handle_rtp_packet = handle  # type: ignore[method-assign]
