"""Which media node the gateway places voice on, with real media nodes: the node list
from a file swapped the way Kubernetes updates a ConfigMap, a guild that stays on the node
hosting its call when a node that ranks higher joins, draining nodes that take no new
guild (marked in the file, or told over gRPC), unreachable nodes passed over, and mutes
and leaves that reach the node holding the user whatever the list says meanwhile."""

from __future__ import annotations

import logging
import os
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest

from spectrus_domain import voice
from spectrus_domain.config import Settings
from spectrus_gateway.media import ListedNode, MediaNodes, NodesFile, parse_nodes
from spectrus_media.service import MediaService


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ConfigMapVolume:
    """A directory laid out as the kubelet lays out a ConfigMap volume: the file is a
    symlink through ``..data``, which is swapped atomically to a new directory."""

    def __init__(self, root: Path, key: str = "media-nodes") -> None:
        self.root, self.key, self.version = root, key, 0
        root.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> Path:
        return self.root / self.key

    def publish(self, text: str) -> None:
        self.version += 1
        payload = self.root / f"..v{self.version}"
        payload.mkdir()
        (payload / self.key).write_text(text)
        staged = self.root / "..data_tmp"
        os.symlink(payload.name, staged)
        os.replace(staged, self.root / "..data")
        if not self.path.is_symlink():
            os.symlink(f"..data/{self.key}", self.path)


def place(guild_id: int, user_id: int, channel_id: int = 7) -> voice.Place:
    return voice.Place(
        guild_id, channel_id, user_id, f"s{user_id}", False, False, False, False, True
    )


def guild_ranking_first(address: str, nodes: list[str], skip: frozenset[int] = frozenset()) -> int:
    """A guild id whose rendezvous order over ``nodes`` starts with ``address``."""
    return next(
        g for g in range(1, 10_000) if g not in skip and voice.rank_nodes(nodes, g)[0] == address
    )


@pytest.fixture
async def media_pair(settings: Settings, tmp_path: Path) -> AsyncIterator[list[MediaService]]:
    """Two real media nodes (Rust router, voice WebSocket, gRPC control)."""
    services = [
        MediaService(settings.replace(voice_port=0, media_control_port=0, data_dir=tmp_path / name))
        for name in ("a", "b")
    ]
    try:
        for service in services:
            await service.start()
        yield services
    finally:
        for service in services:
            await service.stop()


def dead_address() -> str:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_the_node_list_format(caplog: pytest.LogCaptureFixture) -> None:
    text = """
    # the operator writes this
    10.0.0.1:8444
    10.0.0.2:8444   draining   # being retired
    [fd00::3]:8444
    voice-4.media.svc:8444\tdraining
    10.0.0.1:8444
    nonsense
    10.0.0.5
    10.0.0.6:99999
    10.0.0.7:8444 drained
    10.0.0.8:8444 draining now
    [fd00::9:8444
    """
    with caplog.at_level(logging.WARNING, logger="spectrus.gateway.media"):
        nodes = parse_nodes(text, "nodes.txt")
    assert nodes == [
        ListedNode("10.0.0.1:8444"),
        ListedNode("10.0.0.2:8444", draining=True),
        ListedNode("[fd00::3]:8444"),
        ListedNode("voice-4.media.svc:8444", draining=True),
    ]
    ignored = [r.getMessage() for r in caplog.records]
    assert len(ignored) == 7 and all("nodes.txt line" in m for m in ignored)
    assert "listed above" in ignored[0]
    assert parse_nodes("") == [] and parse_nodes("# nothing yet\n\n") == []


def test_the_file_is_reread_after_a_swap_at_most_once_a_second(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    volume = ConfigMapVolume(tmp_path / "config")
    clock = Clock()
    source = NodesFile(volume.path, clock=clock)
    with caplog.at_level(logging.WARNING, logger="spectrus.gateway.media"):
        assert source.nodes() == []  # not there yet
    assert "cannot read media nodes" in caplog.text

    volume.publish("a:1\n")
    assert source.nodes() == []  # looked less than a second ago
    clock.now += 1.0
    assert source.nodes() == [ListedNode("a:1")]

    volume.publish("a:1 draining\nb:1\n")
    clock.now += 0.5
    assert source.nodes() == [ListedNode("a:1")]
    clock.now += 0.5
    assert source.nodes() == [ListedNode("a:1", draining=True), ListedNode("b:1")]

    # The same size and (perhaps) the same mtime: the swap still shows as another inode.
    volume.publish("c:1 draining\nb:1\n")
    clock.now += 1.0
    assert source.nodes() == [ListedNode("c:1", draining=True), ListedNode("b:1")]

    volume.publish("")
    clock.now += 1.0
    assert source.nodes() == []


async def test_a_guild_stays_on_its_node_when_a_higher_ranked_node_arrives(
    media_pair: list[MediaService], tmp_path: Path
) -> None:
    a, b = media_pair
    both = [a.control, b.control]
    guild = guild_ranking_first(b.control, both)  # B would be its home, were it empty
    volume = ConfigMapVolume(tmp_path / "config")
    volume.publish(f"{a.control}\n")
    clock = Clock()
    nodes = MediaNodes(NodesFile(volume.path, clock=clock))
    try:
        first = await nodes.place(place(guild, 1))
        assert first is not None and first.endpoint == a.endpoint

        volume.publish(f"{a.control}\n{b.control}\n")
        clock.now += 1.0
        second = await nodes.place(place(guild, 2))
        assert second is not None and second.endpoint == a.endpoint
        assert a.node is not None and b.node is not None
        assert a.node.stats().guilds == 1 and not b.node.hosts(guild)

        # A guild with no call anywhere goes to its home, B: the list did change.
        fresh = guild_ranking_first(b.control, both, skip=frozenset({guild}))
        third = await nodes.place(place(fresh, 3))
        assert third is not None and third.endpoint == b.endpoint and b.node.hosts(fresh)

        # Another gateway (no memory of these placements) finds the call the same way.
        other_gateway = MediaNodes(both)
        try:
            late = await other_gateway.place(place(guild, 4))
            assert late is not None and late.endpoint == a.endpoint
        finally:
            await other_gateway.close()
        assert not b.node.hosts(guild)
    finally:
        await nodes.close()


async def test_a_draining_node_takes_no_new_guild(
    media_pair: list[MediaService], tmp_path: Path, settings: Settings
) -> None:
    a, b = media_pair
    both = [a.control, b.control]
    assert a.node is not None and b.node is not None
    volume = ConfigMapVolume(tmp_path / "config")
    volume.publish(f"{a.control} draining\n{b.control}\n")
    nodes = MediaNodes(NodesFile(volume.path, check_every=0))
    try:
        marked = guild_ranking_first(a.control, both)
        placed = await nodes.place(place(marked, 1))
        assert placed is not None and placed.endpoint == b.endpoint and not a.node.hosts(marked)

        # Not marked in the file, but told to drain over gRPC: A refuses, B takes it.
        volume.publish(f"{a.control}\n{b.control}\n")
        hosted = guild_ranking_first(a.control, both, skip=frozenset({marked}))
        started = await nodes.place(place(hosted, 2))
        assert started is not None and started.endpoint == a.endpoint
        async with grpc.aio.insecure_channel(a.control) as channel:
            drain = channel.unary_unary(
                f"/{voice.SERVICE}/Drain",
                request_serializer=voice.encode,
                response_deserializer=voice.decoder(voice.NodeStats),
            )
            stats = await drain(voice.Drain(True))
        assert stats.draining and stats.guilds == 1
        refused = guild_ranking_first(a.control, both, skip=frozenset({marked, hosted}))
        moved_on = await nodes.place(place(refused, 3))
        assert moved_on is not None and moved_on.endpoint == b.endpoint
        assert not a.node.hosts(refused)
        # The call it has goes on: a new member of that guild still joins it there.
        joined = await nodes.place(place(hosted, 4))
        assert joined is not None and joined.endpoint == a.endpoint

        # Probes and people see the drain at /healthz.
        trust = ssl.create_default_context(cafile=str(a.ca_file))
        async with httpx.AsyncClient(verify=trust) as https:
            health = (await https.get(f"https://{a.endpoint}/healthz")).json()
        assert health == {"status": "ok", "draining": True, "sessions": 0, "guilds": 1}

        # Every node draining and none hosting the guild: nowhere to go, said clearly.
        volume.publish(f"{a.control} draining\n{b.control} draining\n")
        with pytest.raises(LookupError, match="draining"):
            await nodes.place(
                place(guild_ranking_first(b.control, both, skip=frozenset({refused})), 5)
            )
    finally:
        await nodes.close()


async def test_updates_and_leaves_reach_the_node_holding_the_user(
    media_pair: list[MediaService], tmp_path: Path
) -> None:
    a, b = media_pair
    both = [a.control, b.control]
    assert a.node is not None and b.node is not None
    guild = guild_ranking_first(b.control, both)
    volume = ConfigMapVolume(tmp_path / "config")
    volume.publish(f"{a.control}\n")
    nodes = MediaNodes(NodesFile(volume.path, check_every=0))
    try:
        await nodes.place(place(guild, 1))
        await nodes.place(place(guild, 2))
        assert a.node.hosts(guild)
        # A is being retired: the list now names only B, which ranks first anyway.
        volume.publish(f"{b.control}\n")
        muted = voice.Flags(guild, 1, True, False, False, False, True)
        assert await nodes.flags(muted) is True
        assert a.node._by_user[(guild, 1)].flags.mute is True
        assert await nodes.leave(guild, 1) is True
        assert (guild, 1) not in a.node._by_user and not b.node.hosts(guild)

        # A gateway that never placed them finds the holder by asking (B ranks first).
        other_gateway = MediaNodes(both)
        try:
            assert await other_gateway.leave(guild, 2) is True
        finally:
            await other_gateway.close()
        assert not a.node.hosts(guild)
        assert await nodes.leave(guild, 2) is False  # already gone
    finally:
        await nodes.close()


async def test_an_unreachable_node_is_passed_over(media_pair: list[MediaService]) -> None:
    a, _b = media_pair
    dead = dead_address()
    listed = [dead, a.control]
    guild = guild_ranking_first(dead, listed)
    nodes = MediaNodes(listed)
    try:
        placed = await nodes.place(place(guild, 1))
        assert placed is not None and placed.endpoint == a.endpoint
        assert await nodes.leave(guild, 1) is True
        # A leave for a node that is gone is not an error: it holds nobody any more.
        lone = MediaNodes([dead])
        try:
            assert await lone.leave(guild, 1) is False
            with pytest.raises(grpc.aio.AioRpcError) as down:
                await lone.place(place(guild, 1))
            assert down.value.code() is grpc.StatusCode.UNAVAILABLE
        finally:
            await lone.close()
    finally:
        await nodes.close()


async def test_an_empty_list_places_nobody(tmp_path: Path) -> None:
    volume = ConfigMapVolume(tmp_path / "config")
    volume.publish("# no media nodes yet\n")
    nodes = MediaNodes(NodesFile(volume.path))
    assert await nodes.place(place(1, 1)) is None
    assert await nodes.flags(voice.Flags(1, 1, True, False, False, False, True)) is False
    assert await nodes.leave(1, 1) is False
    await nodes.close()
