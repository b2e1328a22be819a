"""The gateway's client of the media nodes' control service (``spectrus_domain.voice``):
which node serves a guild's voice, and the calls that place, update and remove users."""

from __future__ import annotations

from typing import Any, TypeVar

import grpc

from spectrus_domain import voice

T = TypeVar("T")
CALL_TIMEOUT = 5.0


class MediaNodes:
    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def place(self, request: voice.Place) -> voice.Placed:
        placed: voice.Placed = await self._call(request.guild_id, "Place", request)
        return placed

    async def flags(self, request: voice.Flags) -> bool:
        done: voice.Done = await self._call(request.guild_id, "Flags", request)
        return done.existed

    async def leave(self, guild_id: int, user_id: int) -> bool:
        done: voice.Done = await self._call(guild_id, "Leave", voice.Leave(guild_id, user_id))
        return done.existed

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    async def _call(self, guild_id: int, method: str, request: Any) -> Any:
        address = voice.pick_node(self.addresses, guild_id)
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = grpc.aio.insecure_channel(address)
        reply_type = voice.METHODS[method][1]
        call = channel.unary_unary(
            f"/{voice.SERVICE}/{method}",
            request_serializer=voice.encode,
            response_deserializer=voice.decoder(reply_type),
        )
        return await call(request, timeout=CALL_TIMEOUT)
