"""One trace across processes: a message sent through ``spectrus api`` is followed through
its transaction, the outbox and the Redis bus to the dispatch on each ``spectrus
gateway``; a voice join is followed from the gateway over gRPC to the media node.

The processes export by OTLP over HTTP, as configured by the standard ``OTEL_*``
variables, to a small OTLP receiver run by the test: what arrives is what a collector
would get."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from spectrus_gateway.client import GatewayClient

pytestmark = pytest.mark.slow

MESSAGES = "/api/v10/channels/{channel_id}/messages"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any] = field(hash=False)


class OtlpReceiver:
    """Collects the spans every process exports to ``POST /v1/traces``."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.arrived = asyncio.Event()
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    async def export(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in message.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope in resource_spans.scope_spans:
                self.spans += [_span(service, s) for s in scope.spans]
        self.arrived.set()
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def wait_for(self, count: int, name: str, within: float = 20.0) -> list[Span]:
        """The spans named ``name`` once ``count`` of them arrived."""
        deadline = time.monotonic() + within
        while True:
            found = [s for s in self.spans if s.name == name]
            if len(found) >= count:
                return found
            self.arrived.clear()
            remaining = deadline - time.monotonic()
            assert remaining > 0, (name, sorted({s.name for s in self.spans}))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)

    def ancestors(self, span: Span) -> list[Span]:
        """The span's parent, its parent's parent, ... as far as they arrived."""
        found: list[Span] = []
        by_id = {s.span_id: s for s in self.spans}
        while (parent := by_id.get(span.parent_id)) is not None:
            found.append(parent)
            span = parent
        return found


def _span(service: str, s: ProtoSpan) -> Span:
    attributes: dict[str, Any] = {}
    for a in s.attributes:
        kind = a.value.WhichOneof("value")
        attributes[a.key] = getattr(a.value, kind) if kind else None
    return Span(
        service,
        s.name,
        s.kind,
        s.trace_id.hex(),
        s.span_id.hex(),
        s.parent_span_id.hex(),
        attributes,
    )


@pytest.fixture
async def otlp() -> AsyncIterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver.export)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    yield receiver
    await runner.cleanup()


async def test_a_message_is_one_trace_from_request_to_every_gateway_dispatch(
    instance: Any, otlp: OtlpReceiver
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # ms: export at once rather than every 5 s
    }
    started = instance(gateways=2, env=env)
    api, gateways = started.api, started.gateways

    async with httpx.AsyncClient(base_url=f"{api.base}/api/v10", timeout=30) as http:
        register = {"username": "traced", "password": "correct horse battery"}
        token = (await http.post("/auth/register", json=register)).json()["token"]
        auth = {"Authorization": token}
        guild = (await http.post("/guilds", headers=auth, json={"name": "Traced"})).json()
        path = f"/guilds/{guild['id']}/channels"
        channel = (await http.post(path, headers=auth, json={"name": "chat"})).json()["id"]
        voice = (await http.post(path, headers=auth, json={"name": "Talk", "type": 2})).json()

        clients = [GatewayClient(g.ws, token) for g in gateways]
        for client in clients:
            await client.identify()
        sent = await http.post(
            f"/channels/{channel}/messages", headers=auth, json={"content": "follow me"}
        )
        assert sent.status_code == 200
        for client in clients:
            await client.next_dispatch("MESSAGE_CREATE")

    # The request's server span in the api (FastAPI makes it) ...
    (request,) = await otlp.wait_for(1, f"POST {MESSAGES}")
    assert (request.service, request.kind) == ("spectrus-api", ProtoSpan.SPAN_KIND_SERVER)
    assert request.attributes["http.route"] == MESSAGES
    assert request.attributes["http.response.status_code"] == 200
    # ... its transaction, which wrote the outbox and stamped the envelope ...
    (transaction,) = [
        s for s in otlp.spans if s.name == "db transaction" and request in otlp.ancestors(s)
    ]
    # ... the publication to Redis ...
    publish = [s for s in await otlp.wait_for(1, "bus publish") if s.trace_id == request.trace_id]
    assert [(p.parent_id, p.kind) for p in publish] == [
        (transaction.span_id, ProtoSpan.SPAN_KIND_PRODUCER)
    ]
    # ... and the dispatch on each gateway process, in the same trace.
    dispatches = [
        s
        for s in await otlp.wait_for(2, "gateway dispatch MESSAGE_CREATE")
        if s.trace_id == request.trace_id
    ]
    assert len(dispatches) == 2
    assert {d.parent_id for d in dispatches} == {transaction.span_id}
    assert {d.service for d in dispatches} == {"spectrus-gateway"}
    assert {d.kind for d in dispatches} == {ProtoSpan.SPAN_KIND_CONSUMER}
    assert len({d.attributes["spectrus.gateway.node"] for d in dispatches}) == 2
    assert all(d.attributes["spectrus.gateway.sessions"] == 1 for d in dispatches)

    # A voice join: the gateway's placement, its gRPC call, and the media node's side.
    server = await clients[0].join_voice(guild["id"], voice["id"])
    assert server["endpoint"]
    (place,) = await otlp.wait_for(1, "voice place")
    assert place.service == "spectrus-gateway"
    rpc = "spectrus.media.v1.Media/Place"
    spans = await otlp.wait_for(2, rpc)
    (client_side,) = [s for s in spans if s.kind == ProtoSpan.SPAN_KIND_CLIENT]
    (server_side,) = [s for s in spans if s.kind == ProtoSpan.SPAN_KIND_SERVER]
    assert client_side.parent_id == place.span_id
    assert (server_side.service, server_side.parent_id) == ("spectrus-media", client_side.span_id)
    assert server_side.trace_id == place.trace_id
    for client in clients:
        await client.close()
