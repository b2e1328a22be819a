"""Voice through the gateway and a real media node: op 4 places a user and answers with
VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE; the voice WebSocket (TLS) logs in with the
token; frames cross the Rust router between two UDP peers; server mute, leaving and
user limits act on the packet path.

The voice side is driven by hand (websockets + ``spectrus_media.peer``) so each step of
the v8 protocol is asserted; ``tests/test_voice_clients.py`` does it with real libraries.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import websockets
from aiortc import RTCPeerConnection
from prometheus_client import REGISTRY
from websockets.asyncio.client import ClientConnection, connect

from spectrus_domain.access import Actor
from spectrus_domain.actions import voice as voice_actions
from spectrus_gateway.client import GatewayClient
from spectrus_media.peer import MODE, Sealer, VoicePeer

VOICE_CHANNEL = 2


class VoiceSocket:
    """The voice WebSocket from the client side, keeping every message it got."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seq = -1
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                message = orjson.loads(raw)
                self.seq = message.get("seq", self.seq)  # what a v8 client acks
                await self.messages.put(message)

    async def send(self, op: int, d: Any) -> None:
        await self.ws.send(orjson.dumps({"op": op, "d": d}).decode())

    async def expect(self, op: int) -> dict[str, Any]:
        async with asyncio.timeout(10):
            while True:
                message = await self.messages.get()
                if message["op"] == op:
                    return message

    async def closed_with(self) -> int | None:
        await asyncio.wait_for(self._reader, 10)
        return self.ws.close_code


async def join(gw: GatewayClient, guild_id: str, channel_id: str | None) -> None:
    """Op 4: join (or move to) a voice channel; None leaves."""
    voice_state = {"guild_id": guild_id, "channel_id": channel_id}
    await gw.send_json({"op": 4, "d": {**voice_state, "self_mute": False, "self_deaf": False}})


@contextlib.asynccontextmanager
async def voice_login(
    stack: Any, gw: GatewayClient, guild_id: str, channel_id: str, user_id: str
) -> AsyncIterator[tuple[VoiceSocket, VoicePeer, dict[str, Any]]]:
    """Join over the gateway, then the whole v8 handshake; yields the socket, the UDP
    peer and READY's data."""
    await join(gw, guild_id, channel_id)
    server = (await gw.next_dispatch("VOICE_SERVER_UPDATE")).data
    assert server["guild_id"] == guild_id and server["endpoint"] == stack.media.endpoint
    trust = ssl.create_default_context(cafile=str(stack.media.ca_file))
    async with connect(f"wss://{server['endpoint']}/?v=8", ssl=trust) as ws:
        sock = VoiceSocket(ws)
        session_id = gw.session_id
        await sock.send(
            0,
            {
                "server_id": guild_id,
                "user_id": user_id,
                "session_id": session_id,
                "token": server["token"],
            },
        )
        hello = await sock.expect(8)
        assert hello["d"]["heartbeat_interval"] > 0
        ready = (await sock.expect(2))["d"]
        assert MODE in ready["modes"] and "aead_xchacha20_poly1305_rtpsize" in ready["modes"]
        peer, (address, port) = await VoicePeer.connect(ready["ip"], ready["port"], ready["ssrc"])
        try:
            assert address == "127.0.0.1" and port == peer.transport.get_extra_info("sockname")[1]
            await sock.send(
                1, {"protocol": "udp", "data": {"address": address, "port": port, "mode": MODE}}
            )
            description = await sock.expect(4)
            assert (
                description["d"]["mode"] == MODE and description["d"]["dave_protocol_version"] == 0
            )
            assert description["seq"] > 0  # v8: sequenced for seq_ack
            peer.sealer = Sealer(bytes(description["d"]["secret_key"]))
            yield sock, peer, ready
        finally:
            peer.close()


@dataclass
class Room:
    """An owner's guild with a voice channel and a member who joined by invite."""

    tokens: dict[str, str]
    ids: dict[str, str]
    guild_id: str
    channel_id: str

    async def online(self, stack: Any) -> tuple[GatewayClient, GatewayClient]:
        """Gateway clients of the owner and the member."""
        return await stack.client(self.tokens["owner"]), await stack.client(self.tokens["member"])

    async def voice_channel(self, stack: Any, name: str) -> str:
        path = f"/guilds/{self.guild_id}/channels"
        body = {"name": name, "type": VOICE_CHANNEL}
        return str((await stack.call(self.tokens["owner"], "POST", path, 201, json=body))["id"])


async def _setup(stack: Any, limit: int = 0) -> Room:
    owner, member = await stack.register("owner"), await stack.register("member")
    guild = await stack.call(owner, "POST", "/guilds", 201, json={"name": "Voice"})
    channel = await stack.call(
        owner,
        "POST",
        f"/guilds/{guild['id']}/channels",
        201,
        json={"name": "Lounge", "type": VOICE_CHANNEL, "user_limit": limit},
    )
    invite = await stack.call(owner, "POST", f"/channels/{channel['id']}/invites", 200, json={})
    await stack.call(member, "POST", f"/invites/{invite['code']}", 200)
    tokens = {"owner": owner, "member": member}
    ids = {k: (await stack.call(t, "GET", "/users/@me"))["id"] for k, t in tokens.items()}
    return Room(tokens, ids, guild["id"], channel["id"])


async def _frames_until(peer: VoicePeer, sender: VoicePeer, payload: bytes) -> Any:
    """Send until one arrives: the listener's address is bound by its discovery already,
    but the first frames may race the listener's SELECT_PROTOCOL on the router."""
    async with asyncio.timeout(10):
        while True:
            sender.send(payload)
            try:
                return await asyncio.wait_for(peer.frames.get(), 0.2)
            except TimeoutError:
                continue


async def test_two_members_talk_through_the_media_node(voice_stack) -> None:
    stack = voice_stack
    room = await _setup(stack)
    tokens, guild_id, channel_id = room.tokens, room.guild_id, room.channel_id
    owner_id, member_id = room.ids["owner"], room.ids["member"]
    owner_gw, member_gw = await room.online(stack)
    async with (
        voice_login(stack, owner_gw, guild_id, channel_id, owner_id) as (
            owner_ws,
            owner_peer,
            owner_ready,
        ),
        voice_login(stack, member_gw, guild_id, channel_id, member_id) as (
            member_ws,
            member_peer,
            member_ready,
        ),
    ):
        assert owner_ready["ssrc"] != member_ready["ssrc"]
        joined = await owner_ws.expect(11)
        assert joined["d"]["user_ids"] == [member_id]
        # A joiner learns who is behind each SSRC already in the room.
        known = await member_ws.expect(5)
        assert known["d"] == {"user_id": owner_id, "ssrc": owner_ready["ssrc"], "speaking": 0}
        await owner_ws.send(5, {"speaking": 1, "delay": 0, "ssrc": owner_ready["ssrc"]})
        speaking = await member_ws.expect(5)
        assert speaking["d"] == {
            "user_id": owner_id,
            "ssrc": owner_ready["ssrc"],
            "speaking": 1,
        }

        frame = await _frames_until(member_peer, owner_peer, b"opus frame from the owner")
        assert (frame.ssrc, frame.payload) == (
            owner_ready["ssrc"],
            b"opus frame from the owner",
        )
        frame = await _frames_until(owner_peer, member_peer, b"and back")
        assert (frame.ssrc, frame.payload) == (member_ready["ssrc"], b"and back")
        # /metrics reads the router's counters when scraped: both frames were forwarded.
        assert (REGISTRY.get_sample_value("spectrus_voice_packets_forwarded_total") or 0) >= 2
        assert REGISTRY.get_sample_value("spectrus_voice_sessions") == 2

        # Server mute (REST, MUTE_MEMBERS) reaches the voice state and the packet path.
        await stack.call(
            tokens["owner"],
            "PATCH",
            f"/guilds/{guild_id}/members/{member_id}",
            json={"mute": True},
        )
        state = await owner_gw.next_dispatch("VOICE_STATE_UPDATE")
        while state.data["user_id"] != member_id or not state.data["mute"]:
            state = await owner_gw.next_dispatch("VOICE_STATE_UPDATE")
        # The event comes from the domain; the member's gateway then tells the media node.
        router = stack.media.router
        await _until_muted(router, member_peer)
        _drain(owner_peer)
        before = router.counters()["dropped_muted"]
        for _ in range(3):
            member_peer.send(b"muted words")
        await _until_counter(router, "dropped_muted", at_least=before + 3)
        await _frames_until(member_peer, owner_peer, b"the owner still speaks")
        assert all(f.payload != b"muted words" for f in _drain(owner_peer))

        # Leaving over the gateway ends the voice connection; the others are told.
        await join(member_gw, guild_id, None)
        gone = await owner_ws.expect(13)
        assert gone["d"] == {"user_id": member_id}
        assert await member_ws.closed_with() == 4014
    await owner_gw.close()
    await member_gw.close()


def _drain(peer: VoicePeer) -> list[Any]:
    out = []
    while not peer.frames.empty():
        out.append(peer.frames.get_nowait())
    return out


async def test_a_bad_token_or_a_full_channel_gets_no_voice(voice_stack) -> None:
    stack = voice_stack
    room = await _setup(stack, limit=1)
    guild_id, channel_id = room.guild_id, room.channel_id
    owner_id = room.ids["owner"]
    owner_gw, member_gw = await room.online(stack)
    trust = ssl.create_default_context(cafile=str(stack.media.ca_file))
    async with voice_login(stack, owner_gw, guild_id, channel_id, owner_id):
        # The channel holds one: the member's join is ignored, as Discord does. The join of
        # another channel right after shows the first produced nothing.
        other = await room.voice_channel(stack, "Annex")
        for target in (channel_id, other):
            await join(member_gw, guild_id, target)
        server = await member_gw.next_dispatch("VOICE_SERVER_UPDATE")
        assert server.data["token"]
        state = await owner_gw.next_dispatch("VOICE_STATE_UPDATE")
        while state.data["user_id"] == owner_id:
            state = await owner_gw.next_dispatch("VOICE_STATE_UPDATE")
        assert state.data["channel_id"] == other

        # A forged token is refused with 4004 and learns nothing.
        async with connect(f"wss://{stack.media.endpoint}/?v=8", ssl=trust) as ws:
            sock = VoiceSocket(ws)
            await sock.send(
                0,
                {
                    "server_id": guild_id,
                    "user_id": owner_id,
                    "session_id": owner_gw.session_id,
                    "token": "forged",
                },
            )
            assert await sock.closed_with() == 4004
    await owner_gw.close()
    await member_gw.close()


@pytest.mark.parametrize("deny", ["CONNECT", "VIEW_CHANNEL"])
async def test_joining_needs_connect_and_view(voice_stack, deny: str) -> None:
    stack = voice_stack
    room = await _setup(stack)
    tokens, guild_id, channel_id = room.tokens, room.guild_id, room.channel_id
    bit = {"CONNECT": 1 << 20, "VIEW_CHANNEL": 1 << 10}[deny]
    await stack.call(
        tokens["owner"],
        "PUT",
        f"/channels/{channel_id}/permissions/{guild_id}",
        204,
        json={"type": 0, "allow": "0", "deny": str(bit)},
    )
    other = await room.voice_channel(stack, "Open")
    member_gw = await stack.client(tokens["member"])
    for target in (channel_id, other):
        await join(member_gw, guild_id, target)
    state = await member_gw.next_dispatch("VOICE_STATE_UPDATE")
    assert state.data["channel_id"] == other
    await member_gw.close()


async def test_moving_speak_and_connect_follow_the_guild(voice_stack) -> None:
    """Moving with op 4 keeps the voice connection (no new VOICE_SERVER_UPDATE) and
    changes who hears whom; losing SPEAK suppresses one's packets; losing CONNECT ends it."""
    stack = voice_stack
    room = await _setup(stack)
    tokens, guild_id, channel_id = room.tokens, room.guild_id, room.channel_id
    owner_id, member_id = room.ids["owner"], room.ids["member"]
    owner_gw, member_gw = await room.online(stack)
    annex = await room.voice_channel(stack, "Annex")
    router = stack.media.router
    async with (
        voice_login(stack, owner_gw, guild_id, channel_id, owner_id) as (owner_ws, owner_peer, _),
        voice_login(stack, member_gw, guild_id, channel_id, member_id) as (
            member_ws,
            member_peer,
            _,
        ),
    ):
        await _frames_until(owner_peer, member_peer, b"same room")

        # The member moves to the annex: the owner is told they left, nobody hears them.
        await join(member_gw, guild_id, annex)
        assert (await owner_ws.expect(13))["d"] == {"user_id": member_id}
        moved = await member_gw.next_dispatch("VOICE_STATE_UPDATE")
        while moved.data["user_id"] != member_id or moved.data["channel_id"] != annex:
            moved = await member_gw.next_dispatch("VOICE_STATE_UPDATE")
        before = router.counters()
        member_peer.send(b"alone in the annex")
        member_peer.send(b"still alone")
        await _until_counter(router, "accepted", at_least=before["accepted"] + 2)
        assert router.counters()["forwarded"] == before["forwarded"]
        assert all(f.payload != b"alone in the annex" for f in _drain(owner_peer))

        # Back together, then the member loses SPEAK in the room: suppressed.
        await join(member_gw, guild_id, channel_id)
        await _frames_until(owner_peer, member_peer, b"back again")
        await stack.call(
            tokens["owner"],
            "PUT",
            f"/channels/{channel_id}/permissions/{guild_id}",
            204,
            json={"type": 0, "allow": "0", "deny": str(1 << 21)},
        )
        state = await owner_gw.next_dispatch("VOICE_STATE_UPDATE")
        while state.data["user_id"] != member_id or not state.data["suppress"]:
            state = await owner_gw.next_dispatch("VOICE_STATE_UPDATE")
        await _until_muted(router, member_peer)

        # Losing CONNECT takes the member out of voice altogether.
        await stack.call(
            tokens["owner"],
            "PUT",
            f"/channels/{channel_id}/permissions/{guild_id}",
            204,
            json={"type": 0, "allow": "0", "deny": str((1 << 20) | (1 << 21))},
        )
        assert await member_ws.closed_with() == 4014
        left = await owner_gw.next_dispatch("VOICE_STATE_UPDATE")
        while left.data["user_id"] != member_id:
            left = await owner_gw.next_dispatch("VOICE_STATE_UPDATE")
        assert left.data["channel_id"] is None
    await owner_gw.close()
    await member_gw.close()


async def _until_counter(router: Any, name: str, at_least: int) -> None:
    """The router counts once per received batch; wait (bounded) until it has."""
    async with asyncio.timeout(10):
        while router.counters()[name] < at_least:
            await asyncio.sleep(0.01)


async def test_a_dropped_voice_socket_resumes_and_gets_what_it_missed(voice_stack) -> None:
    stack = voice_stack
    room = await _setup(stack)
    guild_id, channel_id = room.guild_id, room.channel_id
    owner_id, member_id = room.ids["owner"], room.ids["member"]
    owner_gw, member_gw = await room.online(stack)
    trust = ssl.create_default_context(cafile=str(stack.media.ca_file))
    async with voice_login(stack, owner_gw, guild_id, channel_id, owner_id) as (
        owner_ws,
        owner_peer,
        _,
    ):
        seq_ack = owner_ws.seq
        await owner_ws.ws.close()  # the owner's network blips; UDP and the room stay

        async with (
            voice_login(stack, member_gw, guild_id, channel_id, member_id) as (
                _member_ws,
                member_peer,
                _,
            ),
            connect(f"wss://{stack.media.endpoint}/?v=8", ssl=trust) as ws,
        ):
            resumed = VoiceSocket(ws)
            server = {"server_id": guild_id, "session_id": owner_gw.session_id}
            token = stack.media.node._by_user[(int(guild_id), int(owner_id))].token
            await resumed.send(7, {**server, "token": token, "seq_ack": seq_ack})
            missed = await resumed.expect(11)  # CLIENTS_CONNECT, sent while away
            assert missed["d"]["user_ids"] == [member_id]
            assert missed["seq"] == seq_ack + 1
            await resumed.expect(9)  # RESUMED
            frame = await _frames_until(owner_peer, member_peer, b"welcome back")
            assert frame.payload == b"welcome back"

            # A resume with the wrong token is refused as an invalid session.
            async with connect(f"wss://{stack.media.endpoint}/?v=8", ssl=trust) as ws2:
                stale = VoiceSocket(ws2)
                await stale.send(7, {**server, "token": "wrong", "seq_ack": 0})
                assert await stale.closed_with() == 4006
    await owner_gw.close()
    await member_gw.close()


async def _until_muted(router: Any, peer: VoicePeer) -> None:
    """Speak until the router drops it as muted: the state change is announced by the
    domain first, then carried to the media node by the speaker's gateway."""
    before = router.counters()["dropped_muted"]
    async with asyncio.timeout(10):
        while router.counters()["dropped_muted"] == before:
            peer.send(b"while the mute lands")
            await asyncio.sleep(0.02)


async def test_a_moderator_moves_and_disconnects_members_over_rest(voice_stack) -> None:
    stack = voice_stack
    room = await _setup(stack)
    guild_id, channel_id = room.guild_id, room.channel_id
    owner, member = room.tokens["owner"], room.tokens["member"]
    owner_id, member_id = room.ids["owner"], room.ids["member"]
    owner_gw, member_gw = await room.online(stack)
    annex = await room.voice_channel(stack, "Annex")
    member_path = f"/guilds/{guild_id}/members/{member_id}"
    error = await stack.call(owner, "PATCH", member_path, 400, json={"channel_id": annex})
    assert error["code"] == 40032  # not in voice yet
    async with (
        voice_login(stack, owner_gw, guild_id, channel_id, owner_id) as (owner_ws, owner_peer, _),
        voice_login(stack, member_gw, guild_id, channel_id, member_id) as (
            member_ws,
            member_peer,
            _,
        ),
    ):
        await _frames_until(owner_peer, member_peer, b"together")
        owner_path = f"/guilds/{guild_id}/members/{owner_id}"
        await stack.call(member, "PATCH", owner_path, 403, json={"channel_id": annex})

        await stack.call(owner, "PATCH", member_path, json={"channel_id": annex})
        moved = await member_gw.next_dispatch("VOICE_STATE_UPDATE")
        while moved.data["user_id"] != member_id or moved.data["channel_id"] != annex:
            moved = await member_gw.next_dispatch("VOICE_STATE_UPDATE")
        assert (await owner_ws.expect(13))["d"] == {"user_id": member_id}
        before = stack.media.router.counters()
        member_peer.send(b"moved away")
        await _until_counter(stack.media.router, "accepted", at_least=before["accepted"] + 1)
        assert stack.media.router.counters()["forwarded"] == before["forwarded"]

        await stack.call(owner, "PATCH", member_path, json={"channel_id": None})
        assert await member_ws.closed_with() == 4014
        audit = await stack.call(owner, "GET", f"/guilds/{guild_id}/audit-logs")
        entries = [(e["action_type"], e["options"]) for e in audit["audit_log_entries"][:2]]
        assert entries == [(27, {"count": "1"}), (26, {"channel_id": annex, "count": "1"})]
    await owner_gw.close()
    await member_gw.close()


async def test_without_media_nodes_joins_are_recorded_but_carry_no_audio(
    no_media_stack, caplog: pytest.LogCaptureFixture
) -> None:
    """A node list with no node in it (the operator has started none yet): a join is
    still a voice state the guild sees; no VOICE_SERVER_UPDATE points anywhere."""
    stack = no_media_stack
    room = await _setup(stack)
    owner_gw, member_gw = await room.online(stack)
    await join(owner_gw, room.guild_id, room.channel_id)
    state = (await member_gw.next_dispatch("VOICE_STATE_UPDATE")).data
    assert state["user_id"] == room.ids["owner"] and state["channel_id"] == room.channel_id
    stored = await voice_actions.states(stack.ctx.db.pool, int(room.guild_id))
    assert [(s["user_id"], s["channel_id"]) for s in stored] == [
        (room.ids["owner"], room.channel_id)
    ]
    # The join's handler (record, then place) has finished and failed at nothing.
    await asyncio.gather(*stack.gateway._tasks)
    assert "gateway task failed" not in caplog.text
    # Frames reach a client in the order the gateway queues them: a VOICE_SERVER_UPDATE
    # from the join would come before the leave's state.
    await join(owner_gw, room.guild_id, None)
    seen = []
    while True:
        dispatch = await owner_gw.next_dispatch()
        seen.append(dispatch.event)
        if dispatch.event == "VOICE_STATE_UPDATE" and dispatch.data["channel_id"] is None:
            break
    assert "VOICE_SERVER_UPDATE" not in seen
    await owner_gw.close()
    await member_gw.close()


async def test_voice_states_of_users_connected_nowhere_are_cleared(stack) -> None:
    """A process that died (or an instance restarted) leaves voice states behind; the
    gateway's upkeep clears those of users with no connection, and tells the guild."""
    room = await _setup(stack)
    guild_id, channel_id = room.guild_id, room.channel_id
    member_id = int(room.ids["member"])
    owner_gw = await stack.client(room.tokens["owner"])
    await voice_actions.join(
        stack.ctx,
        Actor(member_id),
        int(guild_id),
        int(channel_id),
        "gone-session",
        self_mute=False,
        self_deaf=False,
    )
    joined = await owner_gw.next_dispatch("VOICE_STATE_UPDATE")
    assert joined.data["channel_id"] == channel_id
    await stack.gateway._clear_ghost_voice()
    cleared = await owner_gw.next_dispatch("VOICE_STATE_UPDATE")
    assert cleared.data["user_id"] == str(member_id) and cleared.data["channel_id"] is None
    assert await voice_actions.states(stack.ctx.db.pool, int(guild_id)) == []
    await owner_gw.close()


async def test_webrtc_signalling_refuses_bad_offers_clearly(voice_stack) -> None:
    stack = voice_stack
    room = await _setup(stack)
    owner_gw, _member_gw = await room.online(stack)
    await join(owner_gw, room.guild_id, room.channel_id)
    server = (await owner_gw.next_dispatch("VOICE_SERVER_UPDATE")).data
    trust = ssl.create_default_context(cafile=str(stack.media.ca_file))
    base = f"https://{server['endpoint']}"
    login = {
        "server_id": room.guild_id,
        "user_id": room.ids["owner"],
        "session_id": owner_gw.session_id,
        "token": server["token"],
    }
    browser = RTCPeerConnection()
    browser.addTransceiver("audio", direction="sendrecv")
    await browser.setLocalDescription(await browser.createOffer())
    offer = browser.localDescription.sdp
    await browser.close()
    async with httpx.AsyncClient(verify=trust) as https:
        health = (await https.get(f"{base}/healthz")).json()
        assert health == {"status": "ok", "draining": False, "sessions": 0, "guilds": 1}
        preflight = await https.options(f"{base}/webrtc")
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        cases = [
            (b"not json", "JSON"),
            (b"[]", "a JSON object is expected"),
            (orjson.dumps({"sdp": "v=0"}), "needs server_id"),
            (orjson.dumps({**login, "sdp": "garbage"}), "audio transceivers"),
            (orjson.dumps({**login, "token": "forged", "sdp": offer}), "token does not match"),
            (b"x" * (65 * 1024), "too large"),
        ]
        for body, words in cases:
            r = await https.post(f"{base}/webrtc", content=body)
            assert r.status_code in (400, 413), (body[:40], r.status_code)
            assert words.lower() in r.json()["message"].lower(), r.json()
        assert (await https.get(f"{base}/webrtc")).status_code == 405
    assert stack.media.bridge is not None and not stack.media.bridge.browsers
