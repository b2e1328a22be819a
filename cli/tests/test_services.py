"""How ``spectrus api`` and ``spectrus gateway`` get their snowflake node id: as set, or
leased from PostgreSQL and released at the end; and a service whose lease is lost stops
serving instead of minting ids another process may mint too."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from starlette.applications import Starlette

from spectrus_cli.services import _node_ids, _serve
from spectrus_domain.config import Settings
from spectrus_domain.storage import Database
from spectrus_domain.storage.node_ids import NodeLeaseLostError, lease_node_id


async def test_node_ids_are_set_or_leased_and_released(db: Database, tmp_path: Path) -> None:
    async with _node_ids(Settings(data_dir=tmp_path, node_id=9), db) as (ids, lease):
        assert lease is None and ids.node == 9
    assert await db.fetchval("SELECT count(*) FROM node_leases") == 0

    leased = Settings(data_dir=tmp_path, node_id=9, node_id_lease=True)
    async with _node_ids(leased, db) as (first, lease), _node_ids(leased, db) as (second, _):
        assert lease is not None and (first.node, second.node) == (0, 1)
        assert first.next() and second.next()
    with pytest.raises(NodeLeaseLostError, match="released"):
        first.next()
    async with _node_ids(leased, db) as (again, _):
        assert again.node == 0  # freed at the end of the first service


async def test_a_service_whose_lease_is_lost_stops_serving(db: Database, tmp_path: Path) -> None:
    now = [0.0]
    lease = await lease_node_id(db, "about to lose it", clock=lambda: now[0])
    now[0] = lease.valid_until  # a TTL without a successful renewal has passed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(data_dir=tmp_path, port=port)
    with pytest.raises(NodeLeaseLostError, match="not renewed"):
        await _serve(Starlette(), settings, lease)
