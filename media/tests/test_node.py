"""The media node's own rules, on a real packet router: placements and logins, the replay
buffer behind RESUME, user limits, and the certificate and node choice around them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from spectrus_domain import voice
from spectrus_media.node import DrainingError, MediaNode, VoiceSession
from spectrus_media.protocol import Close, Op
from spectrus_media.tls import ensure_certificate
from spectrus_media_native import MODES, VoiceRouter


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: list[Close] = []

    def send(self, text: str) -> None:
        self.sent.append(text)

    def close(self, code: Close) -> None:
        self.closed.append(code)


def place(node: MediaNode, user: int, channel: int = 7, session: str = "s") -> voice.Placed:
    request = voice.Place(1, channel, user, f"{session}{user}", False, False, False, False, True)
    return node.place(request)


@pytest.fixture
def node() -> MediaNode:
    router = VoiceRouter()
    yield MediaNode(router, "127.0.0.1:1", "127.0.0.1", MODES)
    router.close()


def test_a_token_logs_in_once_per_placement_and_only_for_its_user(node: MediaNode) -> None:
    placed = place(node, 10)
    link = Recorder()
    assert node.identify(link, 1, 11, "s10", placed.token) is None  # another user
    assert node.identify(link, 1, 10, "other", placed.token) is None  # another session
    assert node.identify(link, 2, 10, "s10", placed.token) is None  # another guild
    session = node.identify(link, 1, 10, "s10", placed.token)
    assert session is not None and session.ssrc and session.router_id
    assert '"op":2' in link.sent[0]  # READY

    # Joining again from another client replaces the first connection (4014 for it).
    again = place(node, 10, session="t")
    assert again.token != placed.token and link.closed == [Close.DISCONNECTED]
    assert node.identify(Recorder(), 1, 10, "s10", placed.token) is None


def test_moves_keep_a_live_connection_and_leaving_ends_it(node: MediaNode) -> None:
    first = place(node, 11, channel=8)
    assert place(node, 11, channel=9).moved is False  # not connected yet: a fresh handshake
    link = Recorder()
    session = node.identify(link, 1, 11, "s11", first.token)
    assert session is not None and session.channel_id == 9
    assert place(node, 11, channel=8).moved is True  # a live connection just changes rooms
    assert session.channel_id == 8
    assert node.leave(1, 11) is True and node.leave(1, 11) is False
    assert link.closed == [Close.DISCONNECTED]


def test_a_draining_node_keeps_its_guilds_and_takes_no_new_one(node: MediaNode) -> None:
    place(node, 10)  # guild 1
    assert node.hosts(1) and not node.hosts(2)
    stats = node.drain(True)
    assert stats.draining and stats.guilds == 1
    with pytest.raises(DrainingError):
        node.place(voice.Place(2, 8, 20, "s20", False, False, False, False, True))
    assert not node.hosts(2)
    # Guild 1's call goes on: another member joins, and a member moves rooms.
    place(node, 11)
    assert place(node, 10, channel=9).token
    assert node.stats().guilds == 1
    # When its last member leaves, the guild is gone from the node, and with it the room
    # a draining node would keep open for it.
    assert node.leave(1, 10) and node.leave(1, 11)
    assert not node.hosts(1) and node.stats().guilds == 0
    with pytest.raises(DrainingError):
        place(node, 12)
    node.drain(False)
    assert place(node, 12).token and node.hosts(1)


def test_replay_buffer_answers_what_it_still_holds() -> None:
    session = VoiceSession(1, 2, "s", "t", 3, voice.Flags(1, 2, False, False, False, False, True))
    for n in range(200):
        session.emit(Op.SPEAKING, {"n": n})
    assert session.replay_after(200) == []
    assert session.replay_after(195) == [t for _, t in list(session.sent)[-5:]]
    assert session.replay_after(200 - len(session.sent)) is not None
    assert session.replay_after(200 - len(session.sent) - 1) is None  # gone: resume refused


def test_certificate_is_made_once_and_reissued_for_new_names(tmp_path: Path) -> None:
    ca, crt, key = ensure_certificate(tmp_path, ["127.0.0.1", "localhost"])
    first = crt.read_bytes()
    assert ensure_certificate(tmp_path, ["127.0.0.1", "localhost"])[1].read_bytes() == first
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    ensure_certificate(tmp_path, ["voice.example", "127.0.0.1"])
    reissued = x509.load_pem_x509_certificate(crt.read_bytes())
    names = reissued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "voice.example" in names.get_values_for_type(x509.DNSName)
    # The CA stays (clients trust it, not the server certificate) and signs the new one.
    assert reissued.issuer == x509.load_pem_x509_certificate(ca.read_bytes()).subject


def test_guilds_spread_over_nodes_and_stay_put() -> None:
    nodes = ["a:1", "b:1", "c:1"]
    picks = {g: voice.pick_node(nodes, g) for g in range(3000)}
    counts = {n: sum(1 for p in picks.values() if p == n) for n in nodes}
    assert all(800 < c < 1200 for c in counts.values()), counts
    # Adding a node moves only guilds to it (rendezvous hashing), about a quarter.
    moved = [g for g in picks if voice.pick_node([*nodes, "d:1"], g) != picks[g]]
    assert all(voice.pick_node([*nodes, "d:1"], g) == "d:1" for g in moved)
    assert 500 < len(moved) < 1000
    with pytest.raises(LookupError):
        voice.pick_node([], 1)
    # The ranking's head is the pick, and leaving the head out promotes the runner-up.
    for g in range(50):
        ranked = voice.rank_nodes(nodes, g)
        assert sorted(ranked) == sorted(nodes) and ranked[0] == picks[g]
        assert voice.pick_node(ranked[1:], g) == ranked[1]


def test_control_messages_reject_unknown_or_missing_fields() -> None:
    decode = voice.decoder(voice.Leave)
    assert decode(voice.encode(voice.Leave(1, 2))) == voice.Leave(1, 2)
    with pytest.raises(ValueError, match="expected fields"):
        decode(b'{"guild_id": 1}')
    with pytest.raises(ValueError, match="expected fields"):
        decode(b'{"guild_id": 1, "user_id": 2, "admin": true}')


async def test_control_service_over_grpc(node: MediaNode) -> None:
    """The gRPC service with its JSON bodies: a placement, then the node's stats."""
    import grpc

    from spectrus_media.control import start_control

    server, port = await start_control(node, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:

            def method(name: str) -> Any:
                _request, reply = voice.METHODS[name]
                return channel.unary_unary(
                    f"/{voice.SERVICE}/{name}",
                    request_serializer=voice.encode,
                    response_deserializer=voice.decoder(reply),
                )

            request = voice.Place(1, 7, 10, "s10", False, False, False, False, True)
            placed = await method("Place")(request)
            assert placed.endpoint == "127.0.0.1:1" and not placed.moved
            node.identify(Recorder(), 1, 10, "s10", placed.token)
            stats = await method("Stats")(voice.Stats())
            assert (stats.sessions, stats.rooms, stats.guilds, stats.draining) == (1, 1, 1, False)
            assert stats.counters["received"] == 0
            assert (await method("Locate")(voice.Locate(1))).existed is True
            assert (await method("Locate")(voice.Locate(2))).existed is False

            drained = await method("Drain")(voice.Drain(True))
            assert drained.draining is True and drained.guilds == 1
            other_guild = voice.Place(2, 8, 11, "s11", False, False, False, False, True)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await method("Place")(other_guild)
            assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert refused.value.details() == voice.DRAINING
            same_guild = voice.Place(1, 9, 12, "s12", False, False, False, False, True)
            assert (await method("Place")(same_guild)).endpoint == "127.0.0.1:1"
            assert (await method("Drain")(voice.Drain(False))).draining is False
            assert (await method("Place")(other_guild)).endpoint == "127.0.0.1:1"

            assert (await method("Leave")(voice.Leave(1, 10))).existed is True
            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await channel.unary_unary(f"/{voice.SERVICE}/Leave")(b'{"guild_id": 1}')
            assert bad.value.code() is not grpc.StatusCode.OK
    finally:
        await server.stop(None)
