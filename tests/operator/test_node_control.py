"""The operator's drain call against a real media node's gRPC control service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spectrus_domain import voice
from spectrus_media.control import start_control
from spectrus_media.node import MediaNode
from spectrus_media_native import MODES, VoiceRouter
from spectrus_operator.media import NodeControl


@pytest.fixture
def node() -> Iterator[MediaNode]:
    router = VoiceRouter()
    yield MediaNode(router, "127.0.0.1:1", "127.0.0.1", MODES)
    router.close()


async def test_drain_reports_the_guilds_left(node: MediaNode) -> None:
    node.place(voice.Place(1, 7, 10, "s10", False, False, False, False, True))
    server, port = await start_control(node, "127.0.0.1:0")
    control = NodeControl()
    try:
        assert await control.drain(f"127.0.0.1:{port}") == 1
        assert node.draining
        node.leave(1, 10)
        assert await control.drain(f"127.0.0.1:{port}") == 0
    finally:
        await control.close()
        await server.stop(None)


async def test_an_unreachable_node_is_unknown() -> None:
    control = NodeControl()
    try:
        assert await control.drain("127.0.0.1:1") is None
        assert await control.drain("") is None
    finally:
        await control.close()
