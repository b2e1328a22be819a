"""``/diag``'s parts: who may read it (the instance's first account, never a bot), the
shared board in a real Redis (stale reports leave it), the totals, and the recent-errors
buffer, which keeps what the logs would show: redacted."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from spectrus_domain import diag
from spectrus_domain.access import Actor
from spectrus_domain.actions import auth
from spectrus_domain.bus.redis import RedisTopology
from spectrus_domain.context import Context
from spectrus_domain.errors import DomainError


async def test_the_first_person_is_the_instance_admin_and_nobody_after(ctx: Context) -> None:
    first = await auth.register(ctx, username="first", password="correct horse battery")
    second = await auth.register(ctx, username="second", password="correct horse battery")
    assert await diag.is_admin(ctx, Actor(first.user_id))
    assert not await diag.is_admin(ctx, Actor(second.user_id))
    board = diag.LocalBoard([diag.Reporter("api", "n1")])
    report = await diag.read(ctx, Actor(first.user_id), board)
    assert [p["component"] for p in report["processes"]] == ["api"]
    with pytest.raises(DomainError) as refused:
        await diag.read(ctx, Actor(second.user_id), board)
    assert refused.value.spec.code == 50013
    # A bot is never an admin, whatever its flags say.
    assert not await diag.is_admin(ctx, Actor(first.user_id, bot=True))
    # SPECTRUS_ADMINS names more admins, in any case.
    named = dataclasses.replace(
        ctx, settings=dataclasses.replace(ctx.settings, admins=" x, SECOND")
    )
    assert await diag.is_admin(named, Actor(second.user_id))


async def test_the_board_in_redis_forgets_processes_that_stopped_posting(
    redis_shards: list[Any],
) -> None:
    topology = await RedisTopology.connect([s.url for s in redis_shards], cluster=False)
    clock = [1000.0]
    board = diag.RedisBoard(topology, now=lambda: clock[0])
    try:
        await board.post({"component": "gateway", "node": "a", "at": 1000.0})
        await board.post({"component": "gateway", "node": "b", "at": 990.0})
        await board.post({"component": "gateway", "node": "a", "at": 1001.0})  # replaces
        assert sorted((r["node"], r["at"]) for r in await board.reports()) == [
            ("a", 1001.0),
            ("b", 990.0),
        ]
        clock[0] = 990.0 + diag.STALE_AFTER + 1
        assert [r["node"] for r in await board.reports()] == ["a"]
        fields = await topology.call(diag.BOARD_KEY, "HKEYS", diag.BOARD_KEY)
        assert fields == [b"gateway:a"]  # the stale one was removed, not just hidden
    finally:
        await topology.close()


def test_totals_count_each_media_node_once_from_its_freshest_report() -> None:
    def gateway(node: str, at: float, rooms: int, connections: int) -> dict[str, Any]:
        media = [{"address": "m1:8444", "rooms": rooms, "sessions": 2 * rooms}]
        return {
            "component": "gateway",
            "node": node,
            "at": at,
            "gateway": {
                "connections": connections,
                "sessions": connections,
                "presence": {"online": connections},
                "media_nodes": media,
            },
            "queues": {"hub": connections},
            "recent_errors": [{"at": at, "level": "error", "logger": "x", "message": node}],
        }

    totals = diag.totals([gateway("a", 10.0, 1, 3), gateway("b", 20.0, 4, 5)])
    assert totals["processes"] == {"gateway": 2}
    assert (totals["connections"], totals["sessions"]) == (8, 8)
    assert totals["presence"] == {"online": 8}
    assert totals["voice"] == {"nodes": 1, "rooms": 4, "sessions": 8}
    assert totals["queues"] == {"hub": 5}
    assert [e["message"] for e in totals["recent_errors"]] == ["b", "a"]  # newest first


def test_recent_errors_are_redacted_and_bounded() -> None:
    buffer = diag.RecentErrors(size=3)
    logger = logging.getLogger("spectrus.test.diag")
    logger.addHandler(buffer)
    try:
        logger.info("not kept: below warning")
        for i in range(-1, 3):  # the oldest of four leaves a buffer of three
            logger.warning("warning %d", i)
    finally:
        logger.removeHandler(buffer)
    assert [r["message"] for r in buffer.records] == ["warning 0", "warning 1", "warning 2"]
    buffer.records.clear()
    logger.addHandler(buffer)
    try:
        try:
            raise ValueError("from 10.1.2.3")
        except ValueError:
            logger.exception("failed for Bot abc.def.ghi with password=hunter2")
    finally:
        logger.removeHandler(buffer)
    (record,) = buffer.records
    assert record["level"] == "error"
    for secret in ("abc.def.ghi", "hunter2", "10.1.2.3"):
        assert secret not in record["message"]
    assert "ValueError" in record["message"]
