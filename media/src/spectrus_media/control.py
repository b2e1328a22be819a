"""The media node's gRPC control service (``spectrus.media.v1.Media``): Place, Flags,
Leave and Stats, with the JSON bodies defined in ``spectrus_domain.voice``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from spectrus_domain import voice
from spectrus_media.node import MediaNode


def _handlers(
    node: MediaNode,
) -> dict[str, Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]]:
    async def place(req: voice.Place, _context: grpc.aio.ServicerContext[Any, Any]) -> voice.Placed:
        return node.place(req)

    async def flags(req: voice.Flags, _context: grpc.aio.ServicerContext[Any, Any]) -> voice.Done:
        return voice.Done(node.set_flags(req))

    async def leave(req: voice.Leave, _context: grpc.aio.ServicerContext[Any, Any]) -> voice.Done:
        return voice.Done(node.leave(req.guild_id, req.user_id))

    async def stats(
        _req: voice.Stats, _context: grpc.aio.ServicerContext[Any, Any]
    ) -> voice.NodeStats:
        return node.stats()

    return {"Place": place, "Flags": flags, "Leave": leave, "Stats": stats}


async def start_control(node: MediaNode, address: str) -> tuple[grpc.aio.Server, int]:
    """Serve the control service on ``address`` (``host:port``, port 0 for any free one)."""
    handlers = _handlers(node)
    methods = {
        name: grpc.unary_unary_rpc_method_handler(
            handlers[name],
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
