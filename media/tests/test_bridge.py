"""The WebRTC bridge's messages to a browser: nothing said before the browser's ``voice``
data channel opens is lost (the first ``slot`` assignment usually comes before it), and a
slot learns its user when SPEAKING names it late.

The first test drives ``BrowserSession`` with a stand-in data channel, to fix the order
of events; the second is two aiortc peers (as browsers) through a real ``WebRtcBridge``
and packet router, where the listener must learn which user its slot carries."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from spectrus_domain import voice
from spectrus_media.bridge import BrowserSession, SlotTrack, WebRtcBridge
from spectrus_media.node import MediaNode
from spectrus_media.protocol import Op
from spectrus_media_native import MODES, VoiceRouter


class FakeChannel:
    """An RTCDataChannel as far as the bridge uses one: opens later, refuses early sends."""

    def __init__(self) -> None:
        self.readyState = "connecting"
        self.sent: list[dict[str, Any]] = []
        self.handlers: dict[str, Callable[[], None]] = {}

    def on(self, event: str, handler: Callable[[], None]) -> None:
        self.handlers[event] = handler

    def send(self, text: str) -> None:
        assert self.readyState == "open", "aiortc raises InvalidStateError here"
        self.sent.append(json.loads(text))

    def open(self) -> None:
        self.readyState = "open"
        self.handlers["open"]()


def speaking(ssrc: int, user_id: str) -> str:
    return json.dumps({"op": int(Op.SPEAKING), "d": {"ssrc": ssrc, "user_id": user_id}})


async def test_messages_wait_for_the_data_channel_and_slots_learn_late_users() -> None:
    browser = BrowserSession(cast(Any, None), cast(Any, None))
    browser.slots = [SlotTrack(), SlotTrack()]
    browser.send(speaking(5, "10"))
    assert browser._slot_for(5) is browser.slots[0]  # user known: said with the slot
    assert browser._slot_for(6) is browser.slots[1]  # frames before SPEAKING: no user yet
    browser.send(speaking(6, "11"))  # ... which the slot is told again once known

    channel = FakeChannel()
    browser.attach(cast(Any, channel))
    assert channel.sent == []  # still connecting: nothing sent, nothing lost
    channel.open()
    assert channel.sent == [
        {"op": int(Op.SPEAKING), "d": {"ssrc": 5, "user_id": "10"}},
        {"op": "slot", "d": {"slot": 0, "ssrc": 5, "user_id": "10"}},
        {"op": "slot", "d": {"slot": 1, "ssrc": 6, "user_id": None}},
        {"op": int(Op.SPEAKING), "d": {"ssrc": 6, "user_id": "11"}},
        {"op": "slot", "d": {"slot": 1, "ssrc": 6, "user_id": "11"}},
    ]
    browser.send(speaking(6, "11"))  # nothing new: no slot message again
    browser.send(json.dumps({"op": int(Op.CLIENT_DISCONNECT), "d": {"user_id": "10"}}))
    assert channel.sent[5:] == [
        {"op": int(Op.SPEAKING), "d": {"ssrc": 6, "user_id": "11"}},
        {"op": int(Op.CLIENT_DISCONNECT), "d": {"user_id": "10"}},
        {"op": "slot", "d": {"slot": 0, "ssrc": None, "user_id": None}},
    ]


async def test_an_open_channel_flushes_at_once() -> None:
    browser = BrowserSession(cast(Any, None), cast(Any, None))
    browser.send(speaking(7, "12"))
    channel = FakeChannel()
    channel.readyState = "open"  # aiortc announces a browser-opened channel open
    browser.attach(cast(Any, channel))
    assert channel.sent == [{"op": int(Op.SPEAKING), "d": {"ssrc": 7, "user_id": "12"}}]


@pytest.fixture
def node() -> Iterator[MediaNode]:
    router = VoiceRouter()
    yield MediaNode(router, "127.0.0.1:1", "127.0.0.1", MODES)
    router.close()


class Peer:
    """A browser as the web client makes one: a ``voice`` data channel, a microphone
    transceiver, and more receive-only ones (slots)."""

    def __init__(self, microphone: bool) -> None:
        self.pc = RTCPeerConnection()
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        channel = self.pc.createDataChannel("voice")
        channel.on("message", lambda text: self.messages.put_nowait(json.loads(text)))
        self.opened = asyncio.Event()
        channel.on("open", self.opened.set)
        self.pc.addTransceiver(AudioStreamTrack() if microphone else "audio", "sendrecv")
        self.pc.addTransceiver("audio", "recvonly")

    async def offer(self, bridge: WebRtcBridge, node: MediaNode, user: int) -> None:
        placed = node.place(voice.Place(1, 7, user, f"s{user}", False, False, False, False, True))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await bridge.answer(
            {
                "server_id": "1",
                "user_id": str(user),
                "session_id": f"s{user}",
                "token": placed.token,
                "sdp": self.pc.localDescription.sdp,
            }
        )
        await self.pc.setRemoteDescription(RTCSessionDescription(**answer))

    async def until(self, op: int | str, **match: Any) -> dict[str, Any]:
        while True:
            message = await self.messages.get()
            if message["op"] == op and all(message["d"].get(k) == v for k, v in match.items()):
                return message


async def test_a_browser_learns_which_user_its_slot_carries(node: MediaNode) -> None:
    bridge = WebRtcBridge(node, *node.router.address)
    speaker, listener = Peer(microphone=True), Peer(microphone=False)
    try:
        async with asyncio.timeout(30):
            # The speaker first: the listener's slot is given with the first frame, which
            # the bridge receives before the listener's data channel can exist.
            await speaker.offer(bridge, node, 21)
            await speaker.opened.wait()  # on air
            await listener.offer(bridge, node, 20)
            slot = await listener.until("slot", user_id="21")
            assert slot["d"]["slot"] in (0, 1) and slot["d"]["ssrc"]
    finally:
        for peer in (speaker, listener):
            with contextlib.suppress(Exception):
                await peer.pc.close()
        await bridge.close()
