"""The media node's gRPC control service (``spectrus.media.v1.Media``): Place, Flags,
Leave, Locate, Drain and Stats, with the JSON bodies defined in ``spectrus_domain.voice``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from opentelemetry.trace import SpanKind

from spectrus_domain import tracing, voice
from spectrus_media.node import DrainingError, MediaNode

Handler = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]


def _handlers(node: MediaNode) -> dict[str, Handler]:
    async def place(req: voice.Place, context: grpc.aio.ServicerContext[Any, Any]) -> voice.Placed:
        try:
            return node.place(req)
        except DrainingError:
            # The gateway reads this status as "try the next node".
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, voice.DRAINING)
            raise  # abort raises; this only tells type checkers so

    async def flags(req: voice.Flags, _context: grpc.aio.ServicerContext[Any, Any]) -> voice.Done:
        return voice.Done(node.set_flags(req))

    async def leave(req: voice.Leave, _context: grpc.aio.ServicerContext[Any, Any]) -> voice.Done:
        return voice.Done(node.leave(req.guild_id, req.user_id))

    async def locate(req: voice.Locate, _context: grpc.aio.ServicerContext[Any, Any]) -> voice.Done:
        return voice.Done(node.hosts(req.guild_id))

    async def drain(
        req: voice.Drain, _context: grpc.aio.ServicerContext[Any, Any]
    ) -> voice.NodeStats:
        return node.drain(req.draining)

    async def stats(
        _req: voice.Stats, _context: grpc.aio.ServicerContext[Any, Any]
    ) -> voice.NodeStats:
        return node.stats()

    return {
        "Place": place,
        "Flags": flags,
        "Leave": leave,
        "Locate": locate,
        "Drain": drain,
        "Stats": stats,
    }


def _traced(method: str, handler: Handler) -> Handler:
    """The handler in a server span continuing the caller's trace (``traceparent`` in the
    call's metadata), when tracing is on."""

    async def call(req: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if not tracing.active():
            return await handler(req, context)
        with tracing.span(
            f"{voice.SERVICE}/{method}",
            kind=SpanKind.SERVER,
            parent=tracing.from_metadata(context.invocation_metadata() or ()),
            attributes={"rpc.system": "grpc", "rpc.service": voice.SERVICE, "rpc.method": method},
        ):
            return await handler(req, context)

    return call


async def start_control(node: MediaNode, address: str) -> tuple[grpc.aio.Server, int]:
    """Serve the control service on ``address`` (``host:port``, port 0 for any free one)."""
    handlers = _handlers(node)
    methods = {
        name: grpc.unary_unary_rpc_method_handler(
            _traced(name, handlers[name]),
            request_deserializer=voice.decoder(request),
            response_serializer=voice.encode,
        )
        for name, (request, _reply) in voice.METHODS.items()
    }
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(voice.SERVICE, methods)])
    port = server.add_insecure_port(address)
    await server.start()
    return server, port
